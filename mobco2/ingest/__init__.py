"""Reading location-history files into the store (DESIGN §2)."""

from mobco2.ingest.importer import FileResult, ImportSummary, import_paths

__all__ = ["FileResult", "ImportSummary", "import_paths"]
