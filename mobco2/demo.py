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
    from mobco2.emissions import footprint
    from mobco2.segment import segment

    seg = segment(store, user_id=DEMO_USER)
    narrate("segment: " + seg.line())
    by_mode = footprint(store, by="mode", user_id=DEMO_USER)
    by_week = footprint(store, by="week", user_id=DEMO_USER)
    points = store.query(
        "SELECT source_format, count(*) AS n, min(ts) AS first, max(ts) AS last FROM points "
        "GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    labels = store.query("SELECT count(*) AS n FROM labels").to_pylist()[0]["n"]
    meta = by_mode.meta
    lines = ["mobco2 demo — three weeks of one person around La Rochelle", ""]
    lines.append("Imported")
    for r in points:
        lines.append(f"  {r['source_format']:<10} {r['n']:>7,} points  {r['first']:%Y-%m-%d} → {r['last']:%Y-%m-%d}")
    lines.append(f"  {labels} trip labels from the tracker app")
    lines.append("")
    lines.append(f"Segmented: {seg.stays} stays, {seg.trips} trips, {seg.legs} legs")
    lines.append("")
    lines.append(f"Footprint by mode ({meta.get('factor_set_id')} v{meta.get('factor_set_version')}, "
                 f"scope {meta.get('scope')})")
    lines.append(f"  {'mode':<10} {'legs':>5} {'km':>9} {'kgCO2e':>9} {'saved vs car':>13}")
    for r in by_mode.rows:
        lines.append(
            f"  {r['mode']:<10} {r['legs']:>5} {r['km']:>9.1f} {_kg(r.get('co2e_kg')):>9} "
            f"{_kg(r.get('saved_co2e_kg')):>13}"
        )
    t = by_mode.totals
    lines.append(f"  {'total':<10} {t['legs']:>5} {t['km']:>9.1f} {_kg(t.get('co2e_kg')):>9} "
                 f"{_kg(t.get('saved_co2e_kg')):>13}")
    if t.get("unknown_km"):
        lines.append(f"  unknown mode: {t['unknown_km']:.1f} km, total between {_kg(t.get('co2e_low_kg'))} "
                     f"and {_kg(t.get('co2e_high_kg'))} kg")
    lines.append("")
    lines.append("By week (local time)")
    for r in by_week.rows:
        lines.append(f"  {r['week']:<10} {r['trips']:>4} trips {r['km']:>8.1f} km {_kg(r.get('co2e_kg')):>9} kgCO2e")
    return "\n".join(lines)


def _kg(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"
