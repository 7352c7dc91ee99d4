"""``mobco2 export`` on the demo data: every format, re-imported or re-read by other tools."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mobco2.store import Store
from mobco2_cli.main import app
from tests.builders import demo_store

GPX = "{http://www.topografix.com/GPX/1/1}"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    return demo_store(tmp_path_factory.mktemp("export") / "store")


def run(store_path, *args):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(store_path), *args], terminal_width=120)


def _points(store: Path, sql: str = "SELECT ts, lat, lon FROM points") -> set[tuple]:
    rows = Store(store).query(sql).to_pylist()
    return {(r["ts"], round(r["lat"], 7), round(r["lon"], 7)) for r in rows}


def _leg_points(store: Path) -> set[tuple]:
    """The stored points inside some leg (what trip/leg paths hold)."""
    return _points(store, "SELECT DISTINCT p.ts, p.lat, p.lon FROM points p JOIN legs l "
                          "ON p.user_id = l.user_id AND p.ts BETWEEN l.started_at AND l.finished_at")


def _reimport(store_path: Path, exported: Path, fresh: Path) -> set[tuple]:
    res = run(fresh, "import", str(exported), "--user", "demo")
    assert res.exit_code == 0, res.output
    return _points(fresh)


@pytest.mark.parametrize("table", ["trips", "legs"])
@pytest.mark.parametrize("fmt", ["gpx", "geojson"])
def test_trip_and_leg_paths_reimport_with_the_same_points(store_path, tmp_path, table, fmt):
    out = tmp_path / f"{table}.{fmt}"
    res = run(store_path, "export", table, "--format", fmt, "--out", str(out))
    assert res.exit_code == 0, res.output
    expected = _leg_points(store_path)
    assert len(expected) > 1000
    assert _reimport(store_path, out, tmp_path / "fresh") == expected


@pytest.mark.parametrize("fmt", ["gpx", "geojson"])
def test_points_reimport_with_the_same_points(store_path, tmp_path, fmt):
    out = tmp_path / f"points.{fmt}"
    assert run(store_path, "export", "points", "--format", fmt, "--out", str(out)).exit_code == 0
    assert _reimport(store_path, out, tmp_path / "fresh") == _points(store_path)


def test_gpx_has_one_track_per_trip_and_one_segment_per_leg(store_path, tmp_path):
    out = tmp_path / "trips.gpx"
    assert run(store_path, "export", "trips", "--format", "gpx", "--out", str(out)).exit_code == 0
    root = ET.parse(out).getroot()
    trips = {r["trip_id"]: r for r in Store(store_path).query("SELECT trip_id, main_mode, n_legs FROM trips")
             .to_pylist()}
    legs = {r["leg_id"]: r["n"] for r in Store(store_path).query(
        "SELECT l.leg_id, count(p.ts) AS n FROM legs l JOIN points p "
        "ON p.user_id = l.user_id AND p.ts BETWEEN l.started_at AND l.finished_at GROUP BY 1").to_pylist()}
    tracks = root.findall(f"{GPX}trk")
    assert sorted(t.findtext(f"{GPX}name") for t in tracks) == sorted(trips)
    for trk in tracks:
        trip = trips[trk.findtext(f"{GPX}name")]
        assert trk.findtext(f"{GPX}type") == trip["main_mode"]
        segs = trk.findall(f"{GPX}trkseg")
        assert len(segs) == trip["n_legs"]
        for seg in segs:
            leg_id = seg.find(f"{GPX}extensions/{{urn:mobco2:gpx:1}}leg_id").text
            assert len(seg.findall(f"{GPX}trkpt")) == legs[leg_id]  # the full path, not 2 points


def test_geojson_gives_every_trip_its_path(store_path):
    res = run(store_path, "export", "trips", "--format", "geojson")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    feats = doc["features"]
    assert len(feats) == Store(store_path).query("SELECT count(*) AS n FROM trips").to_pylist()[0]["n"]
    for f in feats:
        g = f["geometry"]
        assert g is not None and g["type"] in ("LineString", "MultiLineString")
        lines = [g["coordinates"]] if g["type"] == "LineString" else g["coordinates"]
        assert sum(len(line) for line in lines) > 2
        assert g["type"] == ("LineString" if f["properties"]["n_legs"] == 1 else "MultiLineString")
        p = f["properties"]
        assert {"co2e_kg", "baseline_co2e_kg", "saved_co2e_kg", "mode_source", "factor_set_id", "scope"} <= set(p)


def test_geopandas_reads_geojson_and_geoparquet(store_path, tmp_path):
    import geopandas

    gj, pq = tmp_path / "legs.geojson", tmp_path / "legs.parquet"
    assert run(store_path, "export", "legs", "--format", "geojson", "--out", str(gj)).exit_code == 0
    assert run(store_path, "export", "legs", "--format", "parquet", "--out", str(pq)).exit_code == 0
    a, b = geopandas.read_file(gj), geopandas.read_parquet(pq)
    assert len(a) == len(b) > 50
    assert set(b.geom_type) <= {"LineString", "MultiLineString", None}
    assert b.crs is not None and b.crs.to_string() == "OGC:CRS84"  # WGS 84, lon/lat
    # same leg, same vertices in both files
    a, b = a.set_index("leg_id"), b.set_index("leg_id")
    for leg_id in list(b.index)[:10]:
        assert len(a.loc[leg_id].geometry.coords) == len(b.loc[leg_id].geometry.coords)
    stays = tmp_path / "stays.parquet"
    assert run(store_path, "export", "stays", "--format", "parquet", "--out", str(stays)).exit_code == 0
    assert set(geopandas.read_parquet(stays).geom_type) == {"Point"}


def test_simplify_only_on_request(store_path, tmp_path):
    def vertices(*extra: str) -> int:
        res = run(store_path, "export", "legs", "--format", "geojson", *extra)
        assert res.exit_code == 0, res.output
        n = 0
        for f in json.loads(res.output)["features"]:
            g = f["geometry"]
            if g:
                lines = [g["coordinates"]] if g["type"] == "LineString" else g["coordinates"]
                n += sum(map(len, lines))
                times = f["properties"]["coordTimes"]
                flat = [times] if g["type"] == "LineString" else times
                assert sum(map(len, flat)) == sum(map(len, lines))
        return n

    full, thin = vertices(), vertices("--simplify-m", "25")
    assert thin < full / 2
    assert run(store_path, "export", "points", "--format", "gpx", "--simplify-m", "5").exit_code == 2


def test_csv_is_rfc4180_and_loads_in_pandas_with_the_right_dtypes(store_path):
    import pandas as pd

    res = run(store_path, "export", "legs", "--format", "csv")
    assert res.exit_code == 0, res.output
    raw = res.stdout_bytes
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in line for line in lines)  # CRLF ends every record
    rows = list(csv.reader(io.StringIO(raw.decode())))
    header = rows[0]
    assert {"co2e_kg", "baseline_co2e_kg", "saved_co2e_kg", "mode_source", "factor_set_id", "scope"} <= set(header)
    col = {name: i for i, name in enumerate(header)}
    for r in rows[1:]:
        assert len(r) == len(header)
        # one number format per column: coordinates to 1e-7°, distances to 1 m, kg to 1 g
        assert len(r[col["start_lat"]].split(".")[1]) == 7
        assert "." not in r[col["distance_m"]]
        assert all(len(r[col[c]].split(".")[1]) == 3 for c in ("co2e_kg", "baseline_co2e_kg") if r[col[c]])
        assert r[col["started_at"]][-6] in "+-" and r[col["started_at"]][-3] == ":"
    df = pd.read_csv(io.BytesIO(raw))
    assert df["distance_m"].dtype.kind == "i"
    for c in ("start_lat", "start_lon", "co2e_kg", "baseline_co2e_kg", "saved_co2e_kg", "mode_conf"):
        assert df[c].dtype.kind == "f", c
    assert pd.api.types.is_string_dtype(df["mode"])
    t = pd.to_datetime(df["started_at"], format="ISO8601", utc=True)
    stored = Store(store_path).query("SELECT started_at FROM legs ORDER BY user_id, started_at, leg_id")
    assert list(t) == [pd.Timestamp(x) for x in stored.column("started_at").to_pylist()]
    saved = (df["baseline_co2e_kg"] - df["co2e_kg"]).clip(lower=0)
    assert (saved.isna() == df["saved_co2e_kg"].isna()).all()  # unknown emissions: no saving claimed
    assert ((saved - df["saved_co2e_kg"]).abs().fillna(0) <= 0.0011).all()


def test_trip_rows_sum_their_legs(store_path):
    trips = [json.loads(line) for line in run(store_path, "export", "trips", "--format", "jsonl").output.splitlines()]
    legs = [json.loads(line) for line in run(store_path, "export", "legs", "--format", "jsonl").output.splitlines()]
    for t in trips:
        mine = [leg for leg in legs if leg["trip_id"] == t["trip_id"]]
        assert len(mine) == t["n_legs"]
        assert abs(sum(leg["baseline_co2e_kg"] for leg in mine) - t["baseline_co2e_kg"]) < 0.002 * len(mine)
        longest = max(mine, key=lambda leg: leg["distance_m"])
        assert t["mode_source"] == longest["mode_source"]
        assert t["scope"] == "full" and t["factor_set_id"] == longest["factor_set_id"]


def test_empty_selection_still_writes_a_header(store_path, tmp_path):
    res = run(store_path, "export", "trips", "--format", "csv", "--since", "2030-01-01")
    assert res.exit_code == 0, res.output
    assert res.stdout_bytes.startswith(b'"user_id","trip_id"') and res.stdout_bytes.count(b"\r\n") == 1
    out = tmp_path / "none.parquet"
    assert run(store_path, "export", "legs", "--format", "parquet", "--since", "2030-01-01",
               "--out", str(out)).exit_code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(out).num_rows == 0


def test_unwritable_output_is_exit_73_and_leaves_nothing(store_path, tmp_path):
    res = run(store_path, "export", "trips", "--format", "csv", "--out", str(tmp_path / "no" / "x.csv"))
    assert res.exit_code == 73 and "cannot write" in res.output
    assert not any(tmp_path.iterdir())
