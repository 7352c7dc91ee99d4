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


DEMO_MONTH = "2025-09"
"""The month the bundled sample covers (2025-08-31 to 2025-09-21)."""


def run_demo(
    keep: Path | None = None,
    narrate: Callable[[str], None] = lambda s: None,
    html: Path | None = None,
    width: int = 80,
) -> str:
    """Import the sample, segment it, and return what the pipeline did followed by the text report
    of :data:`DEMO_MONTH`; the HTML report (charts, map) is written to ``html`` (default: the
    system's temporary folder, or inside ``keep``) and its path ends the text.

    Works in a temporary store, removed afterwards, unless ``keep`` names a folder.
    """
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mobco2-demo-"))
    if html is None:
        html = (root if keep else Path(tempfile.gettempdir())) / f"mobco2-demo-{DEMO_MONTH}.html"
    try:
        store = Store(root)
        narrate(f"demo store: {root}")
        summary = import_paths(store, sample_files(), user_id=DEMO_USER)
        narrate("import: " + summary.line())
        if summary.exit_code:
            failed = [f.message for f in summary.files if f.status == "failed"]
            raise RuntimeError("demo import failed: " + "; ".join(m or "?" for m in failed))
        return _report(store, narrate, Path(html), width)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _report(store: Store, narrate: Callable[[str], None], html: Path, width: int) -> str:
    from mobco2.export import report
    from mobco2.export.atomic import write_atomic
    from mobco2.export.render import render
    from mobco2.segment import segment

    seg = segment(store, user_id=DEMO_USER)
    narrate("segment: " + seg.line())
    points = store.query(
        "SELECT source_format, count(*) AS n, min(ts) AS first, max(ts) AS last FROM points "
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    labels = store.query("SELECT count(*) AS n FROM labels").to_pylist()[0]["n"]
    lines = ["mobco2 demo — three weeks of one person around La Rochelle", ""]
    lines.append("Imported")
    for r in points:
        lines.append(f"  {r['source_format']:<10} {r['n']:>7,} points  {r['first']:%Y-%m-%d} → {r['last']:%Y-%m-%d}")
    lines.append(f"  {labels} trip labels from the tracker app")
    lines.append("")
    lines.append(f"Segmented: {seg.stays} stays, {seg.trips} trips, {seg.legs} legs")
    lines.append("")
    r = report(store, month=DEMO_MONTH, user_id=DEMO_USER)
    write_atomic(html, render(r, "html"))
    narrate(f"HTML report: {html}")
    lines.append(render(r, "text", width=width).rstrip("\n"))
    lines.append("")
    lines.append("The same report with charts and a map, opening offline in any browser:")
    lines.append(str(html))
    return "\n".join(lines)
