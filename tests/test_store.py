"""The store: partitioned writes, manifest-based visibility, rollback, recovery, locking."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from mobco2 import schema
from mobco2.errors import StoreLockedError, UsageError
from mobco2.store import Store


def points(n: int, *, user: str = "me", start: datetime = datetime(2024, 5, 30, tzinfo=UTC), step_s: int = 3600):
    ts = [start.timestamp() + i * step_s for i in range(n)]
    return pa.table(
        {
            "user_id": [user] * n,
            "ts": pa.array([int(t * 1e6) for t in ts], pa.int64()).cast(schema.TS),
            "lat": [46.15 + i * 1e-4 for i in range(n)],
            "lon": [-1.15 - i * 1e-4 for i in range(n)],
            "source_format": ["test"] * n,
            "import_id": ["imp-1"] * n,
        }
    )


def journal(w, n: int, import_id: str = "imp-1") -> None:
    """The journal row an importer writes beside its points (check() verifies the two agree)."""
    w.con.execute(
        "insert into imports values (?, 'test', 'sha', 'test', 'me', ?, ?, 0, 0, 0, 0, 0, 0, null, now())",
        [import_id, n, n],
    )


def parquet_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def test_append_partitions_by_user_and_utc_month(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer() as w:
        assert w.append("points", points(72)) == 72  # 2024-05-30 .. 2024-06-01
        journal(w, 72)
    files = parquet_files(store.root)
    assert any("user_id=me/year=2024/month=5/" in f for f in files)
    assert any("user_id=me/year=2024/month=6/" in f for f in files)
    got = store.query("select year, month, count(*) n from points group by all order by all").to_pylist()
    assert got == [{"year": 2024, "month": 5, "n": 48}, {"year": 2024, "month": 6, "n": 24}]
    assert store.check() == []


def test_arrow_append_sorts_unordered_rows_of_several_users_into_their_partitions(tmp_path):
    store = Store(tmp_path / "s")
    a = points(30, user="anna", start=datetime(2023, 12, 31, 12, tzinfo=UTC))  # Dec 2023 and Jan 2024
    b = points(5, user="bob", start=datetime(1999, 7, 1, tzinfo=UTC))
    mixed = pa.concat_tables([a, b])
    order = pa.array(list(range(34, -1, -2)) + list(range(33, -1, -2)))  # reversed, interleaved users
    mixed = mixed.take(order)
    untimed = pa.table({**{c: b.column(c)[:2] for c in b.column_names if c != "ts"}, "ts": pa.nulls(2, schema.TS)})
    with store.writer() as w:
        assert w.append("points", pa.concat_tables([mixed, untimed.select(mixed.column_names)])) == 37
    files = parquet_files(store.root)
    assert {f.rsplit("/", 1)[0] for f in files} == {
        "points/user_id=anna/year=2023/month=12",
        "points/user_id=anna/year=2024/month=1",
        "points/user_id=bob/year=1999/month=7",
        "points/user_id=bob/year=0/month=0",
    }
    got = store.query(
        "select user_id, year, month, count(*) n, min(ts) lo from points group by all order by all"
    ).to_pylist()
    assert [(r["user_id"], r["year"], r["month"], r["n"]) for r in got] == [
        ("anna", 2023, 12, 12),
        ("anna", 2024, 1, 18),
        ("bob", 0, 0, 2),
        ("bob", 1999, 7, 5),
    ]
    back = store.query("select user_id, ts, lat, lon from points where ts is not null order by user_id, ts")
    expected = (
        pa.concat_tables([a, b])
        .select(["user_id", "ts", "lat", "lon"])
        .sort_by([("user_id", "ascending"), ("ts", "ascending")])
    )
    assert back.to_pylist() == expected.to_pylist()


def test_exception_in_writer_leaves_store_unchanged(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer() as w:
        w.append("points", points(10))
    before = parquet_files(store.root)
    with pytest.raises(RuntimeError), store.writer() as w:
        w.append("points", points(10, start=datetime(2025, 1, 1, tzinfo=UTC)))
        w.con.execute("insert into settings values ('k', 'v')")
        raise RuntimeError("boom")
    assert parquet_files(store.root) == before
    assert store.query("select count(*) n from points").to_pylist() == [{"n": 10}]
    assert store.query("select count(*) n from settings").to_pylist() == [{"n": 0}]
    assert not (store.root / ".staging").exists() or not any((store.root / ".staging").iterdir())


def test_unlisted_file_is_invisible_and_removed_by_next_writer(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer() as w:
        w.append("points", points(5))
        journal(w, 5)
    # Simulate a run killed after renaming a file into place but before the catalog commit.
    src = next(store.root.rglob("*.parquet"))
    orphan = src.parent / "killed-run.parquet"
    orphan.write_bytes(src.read_bytes())
    assert store.query("select count(*) n from points").to_pylist() == [{"n": 5}]
    with store.writer():
        pass
    assert not orphan.exists()
    orphan.write_bytes(src.read_bytes())
    assert store.check() == []  # check clears leftovers before it verifies
    assert not orphan.exists()


def test_replace_swaps_partitions_atomically(tmp_path):
    store = Store(tmp_path / "s")
    stays = pa.table(
        {
            "user_id": ["me"] * 2,
            "stay_id": ["a", "b"],
            "started_at": pa.array([datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)], schema.TS),
            "finished_at": pa.array(
                [datetime(2024, 5, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, 1, tzinfo=UTC)], schema.TS
            ),
            "lat": [46.1, 46.2],
            "lon": [-1.1, -1.2],
            "n_points": pa.array([3, 4], pa.int32()),
        }
    )
    with store.writer() as w:
        w.append("stays", stays)
    with store.writer() as w:
        w.replace(
            "stays", stays.slice(0, 1).set_column(1, "stay_id", pa.array(["a2"])), user_id="me", months=[(2024, 5)]
        )
    ids = store.query("select stay_id from stays order by 1").column("stay_id").to_pylist()
    assert ids == ["a2", "b"]
    assert len(parquet_files(store.root)) == 2
    with pytest.raises(ValueError, match="outside the partitions"), store.writer() as w:
        w.replace("stays", stays, user_id="me", months=[(2024, 5)])
    assert store.query("select stay_id from stays order by 1").column("stay_id").to_pylist() == ["a2", "b"]


def test_invalid_user_id_is_refused(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(UsageError, match="invalid user id"), store.writer() as w:
        w.append("points", points(1, user="../etc"))


def test_sql_is_read_only(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer() as w:
        w.append("points", points(3))
    assert store.sql("select count(*) as n from points").to_pylist() == [{"n": 3}]
    for bad in ("delete from labels", "select 1; select 2", "copy (select 1) to 'x.csv'"):
        with pytest.raises(UsageError):
            store.sql(bad)
    with pytest.raises(UsageError, match="SQL error"):
        store.sql("select * from no_such_table")


def test_migrations_are_recorded(tmp_path):
    store = Store(tmp_path / "s")
    names = store.query("select name from schema_migrations order by 1").column("name").to_pylist()
    assert names[0] == "0001_catalog"


def _hold_writer(path, ready, release):
    store = Store(path, lock_timeout_s=5)
    with store.writer():
        ready.set()
        release.wait(20)


def test_second_writer_waits_then_times_out(tmp_path):
    path = tmp_path / "s"
    Store(path).info()
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_writer, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        store = Store(path, lock_timeout_s=0.5)
        t0 = time.monotonic()
        with pytest.raises(StoreLockedError, match="busy") as err, store.writer():
            pass
        assert time.monotonic() - t0 >= 0.45
        assert err.value.exit_code == 75
        # A reader also waits for the writer to finish rather than seeing a half-written state.
        with pytest.raises(StoreLockedError), store.reader():
            pass
    finally:
        release.set()
        holder.join(30)
    with Store(path, lock_timeout_s=5).writer():
        pass


def test_check_reports_a_missing_file_and_a_journal_mismatch(tmp_path):
    store = Store(tmp_path / "s")
    with store.writer() as w:
        w.append("points", points(72))
        journal(w, 72)
    victim = sorted(store.root.rglob("*.parquet"))[0]
    victim.unlink()
    assert any("missing file" in p for p in store.check())
    store2 = Store(tmp_path / "s2")
    with store2.writer() as w:
        w.append("points", points(3))
        journal(w, 5)
    assert store2.check() == ["import imp-1: journal says 5 points, store holds 3"]


def test_a_command_opens_the_catalog_once(tmp_path, monkeypatch):
    import mobco2.store as store_module

    Store(tmp_path / "s").info()  # created and migrated
    opened = []
    real = store_module.duckdb.connect
    monkeypatch.setattr(store_module.duckdb, "connect", lambda *a, **k: opened.append(a) or real(*a, **k))
    fresh = Store(tmp_path / "s")
    fresh.info()
    assert len(opened) == 1
    with Store(tmp_path / "s").writer() as w:
        w.append("points", points(3))
        journal(w, 3)
    assert len(opened) == 2
    assert Store(tmp_path / "s").check() == []
