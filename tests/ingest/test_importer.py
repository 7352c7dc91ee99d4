"""The importer end to end on real files in a real store: idempotence, dedup, rollback, hostile input."""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.errors import InputNotFoundError
from mobco2.ingest import import_paths
from mobco2.store import Store
from tests.builders import gpx_text, walk, write_gpx


def snapshot(store: Store) -> dict[str, bytes]:
    """Every file of the store (Parquet and catalog), by relative path, with its bytes."""
    return {
        str(p.relative_to(store.root)): p.read_bytes()
        for p in sorted(store.root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store")
    s.info()
    return s


def test_import_twice_adds_nothing_the_second_time(store, tmp_path):
    f = write_gpx(tmp_path / "a.gpx", walk(50))
    first = import_paths(store, [f], user_id="me")
    assert [r.status for r in first.files] == ["imported"]
    assert first.total("added") == 50 and first.exit_code == 0
    second = import_paths(store, [f], user_id="me")
    assert [r.status for r in second.files] == ["already-imported"]
    assert second.total("added") == 0
    assert "1 already-imported" in second.line() and "0 added" in second.line()
    assert store.sql("select count(*) n from points").to_pylist() == [{"n": 50}]
    forced = import_paths(store, [f], user_id="me", force=True)
    assert forced.files[0].status == "imported"
    assert forced.total("added") == 0 and forced.total("duplicate") == 50
    assert store.check() == []


def test_overlapping_files_add_only_new_points(store, tmp_path):
    pts = walk(100)
    a = write_gpx(tmp_path / "a.gpx", pts[:60])
    b = write_gpx(tmp_path / "b.gpx", pts[40:])
    import_paths(store, [a], user_id="me")
    res = import_paths(store, [b], user_id="me")
    assert res.total("added") == 40 and res.total("duplicate") == 20
    n = store.sql("select count(*) n, count(distinct ts) t from points").to_pylist()
    assert n == [{"n": 100, "t": 100}]
    assert store.check() == []


def test_users_are_kept_apart(store, tmp_path):
    f = write_gpx(tmp_path / "a.gpx", walk(10))
    import_paths(store, [f], user_id="alice")
    res = import_paths(store, [f], user_id="bob")
    assert res.total("added") == 10
    got = store.sql("select user_id, count(*) n from points group by 1 order by 1").to_pylist()
    assert got == [{"user_id": "alice", "n": 10}, {"user_id": "bob", "n": 10}]


def test_latitude_900_rolls_back_the_file(store, tmp_path):
    import_paths(store, [write_gpx(tmp_path / "good.gpx", walk(5))], user_id="me")
    before = snapshot(store)
    pts = walk(20, start=datetime(2025, 10, 1, tzinfo=UTC))
    pts[7] = (900.0, pts[7][1], pts[7][2])
    bad = write_gpx(tmp_path / "bad.gpx", pts)
    res = import_paths(store, [bad], user_id="me")
    r = res.files[0]
    assert r.status == "failed" and res.exit_code == 65
    assert "bad.gpx" in r.message and "latitude" in r.message and "--allow-rejects" in r.message
    assert "\n" not in r.message
    assert snapshot(store) == before
    allowed = import_paths(store, [bad], user_id="me", allow_rejects=True)
    assert allowed.exit_code == 0 and allowed.total("added") == 19 and allowed.total("rejected") == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (gpx_text(walk(30))[:-200], "gpx"),  # truncated XML
        ("<?xml version='1.0'?><gpx><trk><trkseg><trkpt lat='1' lon='2'></trk></gpx>", "gpx"),  # malformed
        (
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            '<gpx version="1.1"><wpt lat="1" lon="1"><name>&lol2;</name></wpt></gpx>',
            "entit",
        ),
    ],
    ids=["truncated", "malformed", "entity-bomb"],
)
def test_corrupt_xml_gives_one_line_error_and_changes_nothing(store, tmp_path, content, needle):
    import_paths(store, [write_gpx(tmp_path / "good.gpx", walk(5))], user_id="me")
    before = snapshot(store)
    bad = tmp_path / "bad.gpx"
    bad.write_text(content)
    res = import_paths(store, [bad], user_id="me")
    r = res.files[0]
    assert r.status == "failed" and r.exit_code == 65, r
    assert "bad.gpx" in r.message and needle in r.message.lower() and "\n" not in r.message
    assert snapshot(store) == before


def test_zip_with_traversal_member_is_refused_whole(store, tmp_path):
    z = tmp_path / "takeout.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("Takeout/ok.gpx", gpx_text(walk(10)))
        zf.writestr("../../evil.gpx", gpx_text(walk(10)))
    before = snapshot(store)
    with pytest.raises(Exception, match="outside the archive") as err:
        import_paths(store, [z], user_id="me")
    assert getattr(err.value, "exit_code", None) == 65
    assert snapshot(store) == before


def test_zip_bomb_is_refused(store, tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Records.json", b"{" + b" " * 50_000_000 + b"}")
    with pytest.raises(Exception, match="zip bomb") as err:
        import_paths(store, [z], user_id="me")
    assert getattr(err.value, "exit_code", None) == 65


def test_zip_members_are_imported_and_unrelated_files_skipped(store, tmp_path):
    z = tmp_path / "takeout.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Takeout/a.gpx", gpx_text(walk(10)))
        zf.writestr("Takeout/b.gpx", gpx_text(walk(10, start=datetime(2025, 9, 2, tzinfo=UTC))))
        zf.writestr("Takeout/notes.txt", "hello, not location history")
        zf.writestr("Takeout/index.html", "<html></html>")
    res = import_paths(store, [z], user_id="me")
    statuses = {r.name.split("!")[1]: r.status for r in res.files}
    assert statuses == {"Takeout/a.gpx": "imported", "Takeout/b.gpx": "imported", "Takeout/notes.txt": "skipped"}
    assert res.exit_code == 0 and res.total("added") == 20


def test_folder_is_walked_and_gzip_read(store, tmp_path):
    import gzip

    d = tmp_path / "exports"
    (d / "sub").mkdir(parents=True)
    write_gpx(d / "a.gpx", walk(5))
    (d / "sub" / "b.gpx.gz").write_bytes(gzip.compress(gpx_text(walk(5, lat0=45.0)).encode()))
    (d / ".hidden.gpx").write_text("ignored")
    res = import_paths(store, [d], user_id="me")
    assert sorted(r.status for r in res.files) == ["imported", "imported"]
    assert res.total("added") == 10


def test_missing_path_is_exit_66_before_anything(store, tmp_path):
    good = write_gpx(tmp_path / "a.gpx", walk(5))
    before = snapshot(store)
    with pytest.raises(InputNotFoundError) as err:
        import_paths(store, [good, tmp_path / "nope.gpx"], user_id="me")
    assert err.value.exit_code == 66
    assert snapshot(store) == before


def test_unrecognised_named_file_is_exit_65(store, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("just some text\nnothing here\n")
    res = import_paths(store, [f], user_id="me")
    assert res.files[0].status == "failed" and res.exit_code == 65
    assert "notes.txt" in res.files[0].message and "recognise" in res.files[0].message


def test_dry_run_counts_but_stores_nothing(store, tmp_path):
    f = write_gpx(tmp_path / "a.gpx", walk(12))
    before = snapshot(store)
    res = import_paths(store, [f], user_id="me", dry_run=True)
    assert res.files[0].status == "dry-run" and res.total("added") == 12
    assert snapshot(store) == before


def test_low_memory_mode_gives_the_same_rows(store, tmp_path):
    f = write_gpx(tmp_path / "a.gpx", walk(300))
    res = import_paths(store, [f], user_id="me", low_memory=True)
    assert res.total("added") == 300
    assert store.check() == []


def test_corrupt_gzip_is_bad_input_not_a_crash(store, tmp_path):
    import gzip

    data = gzip.compress(gpx_text(walk(200)).encode())
    f = tmp_path / "cut.gpx.gz"
    f.write_bytes(data[: len(data) // 2])
    before = snapshot(store)
    res = import_paths(store, [f], user_id="me")
    assert res.files[0].status == "failed" and res.exit_code == 65
    assert "cut.gpx.gz" in res.files[0].message and "compressed" in res.files[0].message
    assert snapshot(store) == before


# ------------------------------------------------------------------------------------ Records.json at speed


def records_json(path, rows):  # type: ignore[no-untyped-def]
    """A Records.json of (seconds after 2020-01-01, lat, lon, accuracy) rows, in the given order."""
    import json

    base = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    locations = [
        {"latitudeE7": round(lat * 1e7), "longitudeE7": round(lon * 1e7), "accuracy": acc,
         "timestamp": datetime.fromtimestamp(base + s, UTC).isoformat().replace("+00:00", "Z")}
        for s, lat, lon, acc in rows
    ]  # fmt: skip
    path.write_text(json.dumps({"locations": locations}, indent=2))
    return path


@pytest.mark.parametrize("low_memory", [False, True])
@pytest.mark.parametrize("in_order", [True, False])
def test_repeats_within_a_file_keep_the_first_in_file_order(store, tmp_path, low_memory, in_order):
    rows = [(60 * i, 43.6 + i * 1e-4, 1.44, 10) for i in range(40)]
    rows += [(60 * 5, 43.6 + 5e-4, 1.44, 99), (60 * 5, 43.6 + 5e-4 + 4e-7, 1.44, 98)]  # same key at 1e-6°
    rows += [(60 * 7, 43.6 + 7e-4, 1.45, 97)]  # same time, another place: not a repeat
    if not in_order:
        rows = rows[::-1]
    f = records_json(tmp_path / "Records.json", rows)
    res = import_paths(store, [f], user_id="me", low_memory=low_memory)
    assert (res.total("added"), res.total("duplicate")) == (41, 2)
    got = store.sql("select accuracy_m a from points where ts = '2020-01-01 00:05:00+00'").to_pylist()
    assert got == [{"a": 10.0 if in_order else 98.0}]  # the first of the three in the file
    assert store.check() == []


def test_natural_keys_round_like_duckdb(store):
    import duckdb
    import numpy as np
    import pyarrow as pa

    from mobco2.ingest.staging import natural_keys

    lat = np.array([0.0000005, -0.0000005, 43.6000025, -43.6000015, 1.2345675, 89.9999995, 0.49999999999999994e-6])
    ts = pa.array([0, None, 5, 6, 7, 8, 9], pa.timestamp("us", tz="UTC"))
    table = pa.table({"ts": ts, "lat": lat, "lon": -lat})
    k_ts, k_lat, k_lon = natural_keys(table)
    sql = "select coalesce(epoch_us(ts), -1), round(lat * 1e6)::BIGINT, round(lon * 1e6)::BIGINT from t"
    con = duckdb.connect()
    con.register("t", table)
    expected = list(zip(*con.execute(sql).fetchall(), strict=True))
    assert [k_ts.tolist(), k_lat.tolist(), k_lon.tolist()] == [list(c) for c in expected]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 1)), max_size=40), st.booleans())
def test_first_occurrences_agree_with_a_set(keys, in_order):
    import numpy as np

    from mobco2.ingest.staging import first_occurrences

    if in_order:
        keys = sorted(keys, key=lambda k: k[0])
    seen, want = set(), []
    for k in keys:
        want.append(k not in seen)
        seen.add(k)
    cols = [np.array([k[i] for k in keys], dtype=np.int64) for i in range(3)]
    mask = first_occurrences(*cols)
    assert (mask.tolist() if mask is not None else [True] * len(keys)) == want


def test_a_big_file_hashed_during_the_parse_is_still_recognised(store, tmp_path, monkeypatch):
    import hashlib

    from mobco2.ingest import importer

    monkeypatch.setattr(importer, "BACKGROUND_HASH_BYTES", 0)  # every file on disk counts as big
    f = records_json(tmp_path / "Records.json", [(60 * i, 43.6 + i * 1e-4, 1.44, 10) for i in range(300)])
    first = import_paths(store, [f], user_id="me")
    assert first.files[0].status == "imported" and first.total("added") == 300
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert store.sql("select sha256, import_id from imports").to_pylist() == [
        {"sha256": digest, "import_id": first.files[0].import_id}
    ]
    assert first.files[0].import_id.startswith(digest[:12])
    before = snapshot(store)
    again = import_paths(store, [f], user_id="me")
    assert again.files[0].status == "already-imported" and again.files[0].import_id == first.files[0].import_id
    assert snapshot(store) == before
    forced = import_paths(store, [f], user_id="me", force=True)
    assert (forced.total("added"), forced.total("duplicate")) == (0, 300)


def test_invalid_points_name_the_first_and_count_all(store):
    import pyarrow as pa

    from mobco2.ingest.base import ParseContext
    from mobco2.ingest.staging import validate_points

    ts = [datetime(2020, 1, 1, tzinfo=UTC)] * 5 + [datetime(1980, 1, 1, tzinfo=UTC), None]
    table = pa.table({
        "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "lat": [45.0, 45.0, 0.0, 45.0, 91.0, 45.0, 45.0], "lon": [1.0, 1.0, 0.0, 181.0, 1.0, 1.0, 1.0],
        "accuracy_m": pa.array([5.0, -3.0, 5.0, 5.0, 5.0, 5.0, None], pa.float32()),
        "speed_mps": pa.array([1.0, 500.0, 1.0, 1.0, 1.0, 1.0, float("nan")], pa.float32()),
        "record": [f"r{i}" for i in range(7)],
    })  # fmt: skip
    for first in range(2, 6):
        ctx = ParseContext("x")
        kept = validate_points(table.slice(first), ctx)
        reason = {2: "coordinates (0, 0)", 3: "longitude out of", 4: "latitude out of", 5: "date before 1990"}[first]
        assert ctx.first_rejection[0] == f"r{first}" and ctx.first_rejection[1].startswith(reason)
        assert ctx.rejected == 6 - first and kept.column("record").to_pylist() == ["r6"]
    ctx = ParseContext("x")
    kept = validate_points(table.slice(0, 2), ctx)
    assert ctx.rejected == 0
    assert kept.column("accuracy_m").to_pylist() == [5.0, None]  # out of range: nulled, the point kept
    assert kept.column("speed_mps").to_pylist() == [1.0, None]


def test_an_import_allocates_from_jemalloc_and_gives_the_default_pool_back(store, tmp_path, monkeypatch):
    import pyarrow as pa

    from mobco2.ingest import importer

    before = pa.default_memory_pool().backend_name
    seen: list[str] = []
    real = importer.stage_batch

    def spy(*args, **kwargs):
        seen.append(pa.default_memory_pool().backend_name)
        return real(*args, **kwargs)

    monkeypatch.setattr(importer, "stage_batch", spy)
    f = write_gpx(tmp_path / "a.gpx", walk(20))
    assert import_paths(store, [f], user_id="me").total("added") == 20
    try:
        pa.jemalloc_memory_pool()
        expected = "jemalloc"
    except NotImplementedError:  # a pyarrow build without it keeps its default
        expected = before
    assert seen and set(seen) == {expected}
    assert pa.default_memory_pool().backend_name == before


def test_imports_in_threads_switch_the_pool_once_and_the_last_one_restores_it():
    import threading

    import pyarrow as pa

    from mobco2.ingest.importer import arrow_pool

    before = pa.default_memory_pool().backend_name
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, str] = {}

    def first():
        with arrow_pool():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with arrow_pool():
            second_in.set()
            first_out.wait(10)  # the first import has ended, this one still runs
            seen["while the second runs"] = pa.default_memory_pool().backend_name

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    try:
        pa.jemalloc_memory_pool()
        during = "jemalloc"
    except NotImplementedError:
        during = before
    assert seen == {"while the second runs": during}
    assert pa.default_memory_pool().backend_name == before
