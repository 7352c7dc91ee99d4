"""Privacy zones: applied to every export (and the FMD attestation), never to the store; zone
suggestions from the stays."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mobco2.errors import ConfigError
from mobco2.export.tables import FORMATS, TABLES, export_table
from mobco2.privacy import Zone, apply, detect_places, inside, suggestion_toml, zones_from_config
from mobco2.store import Store
from mobco2_cli.main import app
from tests.builders import demo_store, write_gpx

M_PER_DEG = 111_195.0


# --- coordinates out of every export format ---

def _pairs_from_rows(rows: list[dict]) -> list[tuple[float, float]]:
    out = []
    for r in rows:
        for a, b in (("lat", "lon"), ("start_lat", "start_lon"), ("end_lat", "end_lon")):
            if r.get(a) not in (None, "") and r.get(b) not in (None, ""):
                out.append((float(r[a]), float(r[b])))
    return out


def _geojson_coords(geom) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    if geom is None:
        return []
    out: list[tuple[float, float]] = []

    def walk(c):  # type: ignore[no-untyped-def]
        if c and isinstance(c[0], (int, float)):
            out.append((c[1], c[0]))
        else:
            for x in c:
                walk(x)

    walk(geom["coordinates"])
    return out


def coordinates(path: Path, fmt: str) -> list[tuple[float, float]]:
    """Every (lat, lon) an export file shows, in whatever place the format puts it."""
    if fmt == "csv":
        return _pairs_from_rows(list(csv.DictReader(io.StringIO(path.read_text()))))
    if fmt == "jsonl":
        return _pairs_from_rows([json.loads(line) for line in path.read_text().splitlines()])
    if fmt == "geojson":
        out = []
        for f in json.loads(path.read_text())["features"]:
            out += _geojson_coords(f["geometry"]) + _pairs_from_rows([f["properties"]])
        return out
    if fmt == "gpx":
        root = ET.parse(path).getroot()
        return [(float(e.get("lat")), float(e.get("lon"))) for e in root.iter() if e.get("lat") is not None]
    import pyarrow.parquet as pq
    import shapely

    t = pq.read_table(path)
    out = _pairs_from_rows(t.drop_columns(["geometry"]).to_pylist())
    for g in shapely.from_wkb(t.column("geometry").to_numpy(zero_copy_only=False)):
        if g is not None:
            out += [(y, x) for x, y in shapely.get_coordinates(g).tolist()]
    return out


def assert_nothing_inside(coords: list[tuple[float, float]], zones: list[Zone], where: str) -> None:
    """Every shown coordinate is outside every zone, or is a blur zone's blurred point."""
    blurred = [z.blurred_point() for z in zones if z.action == "blur"]
    if not coords:
        return
    lat = np.array([c[0] for c in coords])
    lon = np.array([c[1] for c in coords])
    is_blur = np.zeros(len(lat), dtype=bool)
    for bl, bo in blurred:
        is_blur |= (np.abs(lat - bl) < 1e-9) & (np.abs(lon - bo) < 1e-9)
    bad = inside(lat, lon, zones) & ~is_blur
    assert not bad.any(), f"{where}: {int(bad.sum())} points inside a zone, e.g. {coords[int(np.argmax(bad))]}"


# --- random tracks: stays at a few places, moves between them ---

@st.composite
def tracks(draw):  # type: ignore[no-untyped-def]
    n_places = draw(st.integers(2, 4))
    places = [(46.15 + draw(st.floats(-0.03, 0.03)), -1.15 + draw(st.floats(-0.03, 0.03))) for _ in range(n_places)]
    visits = [places[i % n_places] for i in range(draw(st.integers(3, 6)))]
    t = datetime(2025, 9, 1, 6, 0, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 600)))
    pts = []
    for k, (lat, lon) in enumerate(visits):
        for _ in range(draw(st.integers(12, 30))):  # a stay: fixes every minute with a little noise
            pts.append((lat + draw(st.floats(-2e-5, 2e-5)), lon + draw(st.floats(-2e-5, 2e-5)), t))
            t += timedelta(seconds=60)
        if k + 1 < len(visits):
            nlat, nlon = visits[k + 1]
            dist = math.hypot((nlat - lat) * M_PER_DEG, (nlon - lon) * M_PER_DEG * 0.69)
            steps = max(3, int(dist / 50))  # 5 m/s, a fix every 10 s
            for s in range(1, steps):
                f = s / steps
                pts.append((lat + f * (nlat - lat), lon + f * (nlon - lon), t))
                t += timedelta(seconds=10)
    return pts


@st.composite
def zones_near(draw, pts):  # type: ignore[no-untyped-def]
    out = []
    for _ in range(draw(st.integers(1, 3))):
        lat, lon, _ = pts[draw(st.integers(0, len(pts) - 1))]
        out.append(Zone(lat + draw(st.floats(-0.005, 0.005)), lon + draw(st.floats(-0.005, 0.005)),
                        draw(st.floats(30.0, 1500.0)), draw(st.sampled_from(["drop", "blur"]))))
    return out


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_point_inside_a_zone_never_appears_in_any_export(data):
    pts = data.draw(tracks())
    zones = data.draw(zones_near(pts))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "store"
        runner = CliRunner()
        res = runner.invoke(app, ["--store", str(root), "import", str(write_gpx(tmp / "t.gpx", pts)), "--user", "u"])
        assert res.exit_code == 0, res.output
        assert runner.invoke(app, ["--store", str(root), "segment"]).exit_code == 0
        store = Store(root)
        stored = store.query("SELECT lat, lon FROM points")
        before = store.query("SELECT count(*) AS n, sum(lat) AS s FROM points").to_pylist()
        for table in TABLES:
            for fmt in FORMATS:
                out = tmp / f"{table}.{fmt}"
                export_table(store, table, fmt, out, zones=zones)
                assert_nothing_inside(coordinates(out, fmt), zones, f"{table}.{fmt}")
        # all points outside drop zones are still exported: zones hide, they do not lose data
        keep, _, _ = apply(stored.column("lat").to_numpy(), stored.column("lon").to_numpy(), zones)
        event(f"legs: {'some' if store.query('SELECT count(*) AS n FROM legs').to_pylist()[0]['n'] else 'none'}")
        event(f"points dropped: {'some' if not keep.all() else 'none'}")
        assert sum(1 for _ in csv.DictReader(io.StringIO((tmp / "points.csv").read_text()))) == int(keep.sum())
        # and the store itself is untouched
        assert store.query("SELECT count(*) AS n, sum(lat) AS s FROM points").to_pylist() == before
        from mobco2.export.fmd import attestation

        for fmt in ("md", "html"):
            text = attestation(store, year=2025, fmt=fmt, zones=zones, date="2026-01-05", user_id="u",
                               home=(pts[0][0], pts[0][1]), work=(pts[-1][0], pts[-1][1]))
            pairs = [(float(a), float(b)) for a, b in re.findall(r"(-?\d+\.\d+), (-?\d+\.\d+)", text)]
            assert_nothing_inside(pairs, zones, f"fmd.{fmt}")


# --- zones from config, applied by the CLI ---

def test_configured_zones_apply_to_the_cli_export(tmp_path, monkeypatch):
    root = demo_store(tmp_path / "store")
    home = next(p for p in detect_places(Store(root)) if p.kind == "home")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[[privacy.zones]]\nlat = {home.lat}\nlon = {home.lon}\nradius_m = 400\naction = 'drop'\n")
    monkeypatch.setenv("MOBCO2_CONFIG", str(cfg))
    zones = zones_from_config(__import__("mobco2.config", fromlist=["load"]).load())
    for table, fmt in (("points", "csv"), ("legs", "geojson"), ("trips", "gpx")):
        out = tmp_path / f"{table}.{fmt}"
        res = CliRunner().invoke(app, ["--store", str(root), "export", table, "--format", fmt, "--out", str(out)])
        assert res.exit_code == 0, res.output
        shown = coordinates(out, fmt)
        assert shown and not inside([c[0] for c in shown], [c[1] for c in shown], zones).any()
    n_home = Store(root).query(
        "SELECT count(*) AS n FROM points").to_pylist()[0]["n"]
    assert n_home > sum(1 for _ in csv.DictReader(io.StringIO((tmp_path / "points.csv").read_text())))


def test_a_path_is_cut_where_it_enters_a_drop_zone(tmp_path):
    root = demo_store(tmp_path / "store")
    store = Store(root)
    leg = store.query("SELECT leg_id, start_lat, start_lon FROM legs ORDER BY distance_m DESC LIMIT 1").to_pylist()[0]
    pts = store.query(f"SELECT p.lat, p.lon FROM points p JOIN legs l ON p.ts BETWEEN l.started_at AND l.finished_at "
                      f"WHERE l.leg_id = '{leg['leg_id']}' ORDER BY p.ts").to_pylist()
    mid = pts[len(pts) // 2]
    zone = Zone(mid["lat"], mid["lon"], 150.0, "drop")
    out = tmp_path / "legs.geojson"
    export_table(store, "legs", "geojson", out, zones=[zone])
    feat = next(f for f in json.loads(out.read_text())["features"] if f["properties"]["leg_id"] == leg["leg_id"])
    assert feat["geometry"]["type"] == "MultiLineString"  # one line before the zone, one after
    assert sum(map(len, feat["geometry"]["coordinates"])) < len(pts)
    assert feat["properties"]["start_lat"] == pytest.approx(leg["start_lat"], abs=1e-7)


# --- suggest ---

def test_suggest_finds_the_demo_home_and_work_and_prints_pasteable_toml(tmp_path):
    import tomllib

    root = demo_store(tmp_path / "store")
    res = CliRunner().invoke(app, ["--store", str(root), "privacy", "suggest", "--radius-m", "250"])
    assert res.exit_code == 0, res.output
    doc = tomllib.loads(res.output)
    zones = zones_from_config(doc["privacy"]["zones"])
    assert [z.name for z in zones] == ["home", "work"] and all(z.radius_m == 250 for z in zones)
    # home is where the nights are: the stay covering 03:00 local on most days is inside it
    nights = Store(root).query(
        "SELECT lat, lon FROM stays WHERE hour(timezone(tz, started_at)) < 3 AND hour(timezone(tz, finished_at)) > 3"
    )
    lat, lon = nights.column("lat").to_numpy(), nights.column("lon").to_numpy()
    assert inside(lat, lon, zones[:1]).mean() > 0.7
    assert doc["places"]["home"] == [zones[0].lat, zones[0].lon]
    far = math.hypot(zones[0].lat - zones[1].lat, zones[0].lon - zones[1].lon) * M_PER_DEG
    assert far > 1000


def test_suggest_on_an_empty_store_says_so(tmp_path):
    res = CliRunner().invoke(app, ["--store", str(tmp_path / "s"), "privacy", "suggest"])
    assert res.exit_code == 0 and "no home or work" in res.output
    assert suggestion_toml([]).startswith("#")


def test_bad_zone_config_is_one_line_usage_error():
    with pytest.raises(ConfigError, match="radius_m"):
        zones_from_config([{"lat": 46.0, "lon": -1.0, "radius_m": -5}])
    with pytest.raises(ConfigError, match="action"):
        zones_from_config([{"lat": 46.0, "lon": -1.0, "action": "hide"}])
