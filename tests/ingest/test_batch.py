"""Many small files in one transaction: the same store as one file at a time, all or nothing per file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.ingest import batch as batching
from mobco2.ingest import import_paths
from mobco2.ingest.batch import KeyIndex
from mobco2.store import Store
from tests.builders import walk, write_gpx

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def stored(store: Store) -> list[tuple]:
    return [
        tuple(r.values())
        for r in store.sql(
            "select ts, round(lat * 1e6)::bigint a, round(lon * 1e6)::bigint o from points order by all"
        ).to_pylist()
    ]


def commits(store: Store) -> int:
    """Transactions that wrote Parquet files (each file is listed with its transaction)."""
    return store.query("select count(distinct txn) n from parquet_files").to_pylist()[0]["n"]


def test_a_folder_of_small_files_is_one_commit_and_each_file_is_in_the_journal(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        write_gpx(folder / f"t{i:03d}.gpx", walk(3, start=T0 + timedelta(hours=i)))
    store = Store(tmp_path / "store")
    reported = []
    res = import_paths(store, [folder], user_id="me", on_file=reported.append)
    assert [r.status for r in res.files] == ["imported"] * 40
    assert sorted(r.name for r in reported) == sorted(r.name for r in res.files)
    assert res.total("added") == 120
    assert commits(store) == 1
    journal = store.query("select path, rows_added, import_id from imports order by path").to_pylist()
    assert [j["rows_added"] for j in journal] == [3] * 40
    per_import = store.query("select import_id, count(*) n from points group by 1").to_pylist()
    assert {r["import_id"]: r["n"] for r in per_import} == {j["import_id"]: 3 for j in journal}
    assert store.check() == []


def test_repeats_across_files_of_one_batch_and_against_the_store_are_found(tmp_path):
    pts = walk(30, start=T0)
    store = Store(tmp_path / "store")
    import_paths(store, [write_gpx(tmp_path / "old.gpx", pts[:10])], user_id="me")
    a = write_gpx(tmp_path / "a.gpx", pts[5:20])  # 5 already stored
    b = write_gpx(tmp_path / "b.gpx", pts[15:30])  # 5 in a, held in the same batch
    twin = tmp_path / "twin.gpx"
    twin.write_bytes(b.read_bytes())
    res = import_paths(store, [a, b, twin], user_id="me")
    by_name = {os.path.basename(r.name): r for r in res.files}
    assert (by_name["a.gpx"].added, by_name["a.gpx"].duplicate) == (10, 5)
    assert (by_name["b.gpx"].added, by_name["b.gpx"].duplicate) == (10, 5)
    assert by_name["twin.gpx"].status == "already-imported"
    assert by_name["twin.gpx"].import_id == by_name["b.gpx"].import_id
    assert len(stored(store)) == 30
    assert store.check() == []


def test_a_bad_file_in_the_middle_leaves_the_others_whole(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    write_gpx(folder / "a.gpx", walk(4, start=T0))
    (folder / "b.gpx").write_text('<?xml version="1.0"?><gpx version="1.1"><trk><trkseg><trkpt lat="1"')
    write_gpx(folder / "c.gpx", walk(4, start=T0 + timedelta(days=1)))
    store = Store(tmp_path / "store")
    res = import_paths(store, [folder], user_id="me")
    assert [r.status for r in res.files] == ["imported", "failed", "imported"]
    assert res.exit_code == 65
    assert len(stored(store)) == 8
    assert store.query("select count(*) n from imports").to_pylist() == [{"n": 2}]
    assert store.check() == []


def test_a_failed_commit_stores_none_of_the_batch_and_says_so_per_file(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    import_paths(store, [write_gpx(tmp_path / "first.gpx", walk(2, start=T0 - timedelta(days=3)))], user_id="me")
    before = stored(store)
    files = [write_gpx(tmp_path / f"f{i}.gpx", walk(3, start=T0 + timedelta(hours=i))) for i in range(3)]
    from mobco2.errors import OutputError
    from mobco2.store import Writer

    def full_disk(self):  # the disk fills up as the batch commits
        raise OutputError("cannot write to the store: No space left on device")

    monkeypatch.setattr(Writer, "commit", full_disk)
    res = import_paths(store, files, user_id="me")
    assert [r.status for r in res.files] == ["failed"] * 3
    assert all("No space left" in r.message for r in res.files)
    assert res.exit_code == 73
    monkeypatch.undo()
    assert stored(store) == before
    assert store.query("select count(*) n from imports").to_pylist() == [{"n": 1}]
    assert store.check() == []


def test_a_big_file_after_small_ones_sees_them(tmp_path, monkeypatch):
    monkeypatch.setattr(batching, "SMALL_FILE_POINTS", 10)
    pts = walk(40, start=T0)
    store = Store(tmp_path / "store")
    small = write_gpx(tmp_path / "small.gpx", pts[:8])
    big = write_gpx(tmp_path / "big.gpx", pts)  # its own transaction, after the batch is flushed
    again = write_gpx(tmp_path / "again.gpx", pts[30:36])  # small, after the big one wrote its months
    res = import_paths(store, [small, big, again], user_id="me")
    assert [(r.added, r.duplicate) for r in res.files] == [(8, 0), (32, 8), (0, 6)]
    assert len(stored(store)) == 40
    assert store.check() == []


small_files = st.lists(
    st.lists(st.integers(0, 40), min_size=1, max_size=12),  # minutes after T0 of each point
    min_size=1,
    max_size=6,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=small_files)
def test_one_command_or_one_per_file_give_the_same_points(tmp_path_factory, files):
    d = tmp_path_factory.mktemp("batch")
    paths = []
    for i, minutes in enumerate(files):
        pts = [(45.0 + m * 1e-4, 5.0, T0 + timedelta(minutes=m)) for m in minutes]
        paths.append(write_gpx(d / f"f{i}.gpx", pts, name=f"f{i}"))
    together, apart = Store(d / "together"), Store(d / "apart")
    res = import_paths(together, paths, user_id="me")
    one_by_one = [import_paths(apart, [p], user_id="me").files[0] for p in paths]
    assert stored(together) == stored(apart)
    assert [(r.status, r.added, r.duplicate) for r in res.files] == [
        (r.status, r.added, r.duplicate) for r in one_by_one
    ]
    assert together.check() == []


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.integers(-3, 3), st.integers(-3, 3)), max_size=60),
    st.lists(st.tuples(st.integers(0, 20), st.integers(-3, 3), st.integers(-3, 3)), max_size=30),
    st.integers(1, 7),
)
def test_key_index_answers_like_a_set(stored_keys, asked, runs):
    index, seen = KeyIndex(), set()
    for part in np.array_split(np.array(stored_keys, dtype=np.int64).reshape(-1, 3), runs):
        index.add(part[:, 0], part[:, 1], part[:, 2])
        seen.update(map(tuple, part.tolist()))
    q = np.array(asked, dtype=np.int64).reshape(-1, 3)
    got = index.contains(q[:, 0], q[:, 1], q[:, 2])
    assert got.tolist() == [tuple(k) in seen for k in q.tolist()]
    assert index.size == len(stored_keys)


@pytest.mark.parametrize("n", [1, 3])
def test_small_gpx_read_by_expat_alone_gives_the_tokenizer_s_points(tmp_path, monkeypatch, n):
    from mobco2.ingest import gpx
    from mobco2.ingest.base import ParseContext, Source

    f = write_gpx(tmp_path / "x.gpx", walk(n, start=T0))
    assert Source.from_path(f).size < gpx.SMALL_FILE_BYTES
    small = list(gpx.parse(Source.from_path(f), ParseContext(source_name="x")))
    monkeypatch.setattr(gpx, "SMALL_FILE_BYTES", 0)
    tokenized = list(gpx.parse(Source.from_path(f), ParseContext(source_name="x")))
    assert [b.points.to_pylist() for b in small] == [b.points.to_pylist() for b in tokenized]
