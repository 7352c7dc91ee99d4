"""Small in-code builders for test inputs (real files written to tmp_path, read by real parsers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path


def gpx_text(points: list[tuple[float, float, datetime | None]], *, name: str = "track") -> str:
    """A GPX 1.1 track with one segment holding ``points`` as (lat, lon, time)."""
    rows = []
    for lat, lon, t in points:
        fmt = "%Y-%m-%dT%H:%M:%S.%f" if t and t.microsecond else "%Y-%m-%dT%H:%M:%S"
        when = f"<time>{t.astimezone(UTC).strftime(fmt)}Z</time>" if t else ""
        rows.append(f'      <trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>5.0</ele>{when}</trkpt>')
    body = "\n".join(rows)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="mobco2-tests" xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"  <trk><name>{name}</name>\n    <trkseg>\n{body}\n    </trkseg>\n  </trk>\n</gpx>\n"
    )


def walk(n: int, *, start: datetime = datetime(2025, 9, 1, 7, 0, tzinfo=UTC), step_s: int = 10,
         lat0: float = 46.1500, lon0: float = -1.1500) -> list[tuple[float, float, datetime]]:
    """``n`` fixes heading north-east at walking pace, ``step_s`` seconds apart."""
    return [(lat0 + i * 1e-4, lon0 + i * 1e-4, start + timedelta(seconds=i * step_s)) for i in range(n)]


def write_gpx(path: Path, points, **kw) -> Path:  # type: ignore[no-untyped-def]
    path.write_text(gpx_text(points, **kw), encoding="utf-8")
    return path


def demo_store(root: Path) -> Path:
    """A store at ``root`` holding the bundled demo data, imported and segmented through the CLI."""
    from typer.testing import CliRunner

    from mobco2.demo import sample_files
    from mobco2_cli.main import app

    runner = CliRunner()
    for args in (["import", *map(str, sample_files()), "--user", "demo"], ["segment"]):
        res = runner.invoke(app, ["--store", str(root), *args])
        if res.exit_code != 0:
            raise RuntimeError(res.output)
    return root
