"""The whole pipeline on the bundled sample data (``mobco2 demo``, ``make demo``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mobco2.ingest import import_paths
from mobco2.store import Store

DEMO_USER = "demo"


def sample_files() -> list[Path]:
    """The bundled sample inputs (GPX and a TraceMob dump), from the installed package."""
    folder = resources.files("mobco2.sample_data")
    files = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith((".gpx", ".json.gz")):
            files.append(Path(str(entry)))
    if not files:
        raise FileNotFoundError(f"no sample data in {folder}: reinstall mobco2")
    return sorted(files)


def run_demo(keep: Path | None = None, narrate: Callable[[str], None] = lambda s: None) -> str:
    """Import the sample, segment it, count its emissions; return the report text.

    Works in a temporary store, removed afterwards, unless ``keep`` names a folder.
    """
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mobco2-demo-"))
    try:
        store = Store(root)
        narrate(f"demo store: {root}")
        summary = import_paths(store, sample_files(), user_id=DEMO_USER)
        narrate("import: " + summary.line())
        if summary.exit_code:
            failed = [f.message for f in summary.files if f.status == "failed"]
            raise RuntimeError("demo import failed: " + "; ".join(m or "?" for m in failed))
        return _report(store, narrate)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _report(store: Store, narrate: Callable[[str], None]) -> str:
    lines = []
    info = store.info()
    points = store.query(
        "SELECT source_format, count(*) AS n, min(ts) AS first, max(ts) AS last FROM points "
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    lines.append("mobco2 demo — one person around La Rochelle")
    lines.append("")
    lines.append("Imported points by source:")
    for r in points:
        lines.append(f"  {r['source_format']:<10} {r['n']:>7} points  {r['first']:%Y-%m-%d} → {r['last']:%Y-%m-%d}")
    lines.append(f"  labels from the tracker: {info['labels']}")
    return "\n".join(lines)
