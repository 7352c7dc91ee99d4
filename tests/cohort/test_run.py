"""A generated cohort of 20 on the local pool and on a real Dask LocalCluster: same results, failures
reported, resumable after the coordinator is killed, workers killed mid-task retried once."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mobco2 import Store
from mobco2.cohort import cohort_status, load_cohort, run_cohort
from mobco2.cohort.report import write_cohort_report
from mobco2.cohort.run import DIED
from mobco2.cohort.tasks import WORK
from tests.cohort.gen import make_cohort

CORRUPT, NO_CONSENT = 3, 7
POINTS = 2000


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return make_cohort(tmp_path_factory.mktemp("cohort"), n=20, points=POINTS, corrupt=(CORRUPT,),
                       no_consent=(NO_CONSENT,))


@pytest.fixture(scope="module")
def cluster():
    import dask
    from dask.distributed import LocalCluster

    # a worker that dies during a task: rescheduled once, then the task is failed (KilledWorker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def local_store(cohort, tmp_path_factory) -> tuple[Store, object]:
    store = Store(tmp_path_factory.mktemp("local") / "store")
    return store, run_cohort(store, cohort, workers=2)


def sorted_bytes(store: Store, table: str, where: str = "true") -> bytes:
    """The table's rows sorted, as Parquet bytes (import ids are random by design: left out)."""
    exclude = " EXCLUDE (import_id)" if table == "points" else ""
    data = store.query(f"SELECT *{exclude} FROM {table} WHERE {where} ORDER BY ALL")
    buf = io.BytesIO()
    pq.write_table(data, buf)
    return buf.getvalue()


def done_events(store: Store) -> dict[str, int]:
    rows = store.query("SELECT participant_id, count(*) AS n FROM cohort_journal WHERE event = 'done' GROUP BY 1")
    return dict(zip(rows.column("participant_id").to_pylist(), rows.column("n").to_pylist(), strict=True))


def test_local_pool_processes_everyone_and_reports_the_corrupt_participant(local_store):
    store, summary = local_store
    assert summary.processed == 18 and summary.no_consent == 1 and summary.exit_code == 65
    assert [p for p, _ in summary.failed] == [f"p{CORRUPT:02d}"]
    assert "broken.gpx" in summary.failed[0][1] and "malformed GPX" in summary.failed[0][1]
    counts = store.query("SELECT user_id, count(*) AS n FROM points GROUP BY 1 ORDER BY 1").to_pylist()
    expected = {f"p{i:02d}" for i in range(20)} - {f"p{CORRUPT:02d}", f"p{NO_CONSENT:02d}"}
    assert {r["user_id"] for r in counts} == expected
    assert all(r["n"] == POINTS for r in counts)
    assert store.check() == []
    assert not (store.root / WORK).exists() or not any((store.root / WORK).iterdir())
    status = {r["participant_id"]: r for r in cohort_status(store).participants}
    assert status[f"p{CORRUPT:02d}"]["status"] == "failed" and "broken.gpx" in status[f"p{CORRUPT:02d}"]["reason"]
    assert status[f"p{NO_CONSENT:02d}"]["status"] == "no-consent"
    assert status["p00"]["points"] == POINTS and status["p00"]["trips"] >= 1


def test_dask_cluster_gives_the_same_bytes_as_the_local_pool(local_store, cohort, cluster, tmp_path):
    local, _ = local_store
    store = Store(tmp_path / "store")
    summary = run_cohort(store, cohort, scheduler=cluster.scheduler_address)
    assert summary.processed == 18 and [p for p, _ in summary.failed] == [f"p{CORRUPT:02d}"]
    assert summary.dashboard and summary.dashboard.startswith("http")
    for table in ("points", "stays", "trips", "legs"):
        assert sorted_bytes(store, table) == sorted_bytes(local, table), table
    assert store.query("SELECT count(*) AS n FROM legs").column("n")[0].as_py() > 0
    for s, name in ((local, "a"), (store, "b")):
        write_cohort_report(s, "parquet", tmp_path / name, keep_ids=True)
    for table in ("participant_month_mode", "distributions", "data_quality"):
        a, b = (tmp_path / "a" / f"{table}.parquet").read_bytes(), (tmp_path / "b" / f"{table}.parquet").read_bytes()
        assert a == b, table


def _wait_for(predicate, timeout_s: float = 120.0, step_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return False


def test_killing_the_coordinator_half_way_then_rerunning_finishes_without_redoing(cohort, local_store, tmp_path):
    root = tmp_path / "store"
    rows = cohort.read_text().splitlines(keepends=True)
    part = cohort.with_name("manifest-first-9.csv")  # p00..p08: p03 corrupt, p07 without consent
    part.write_text("".join(rows[:10]))
    cmd = [sys.executable, "-m", "mobco2", "-q", "cohort", "run", str(part), "--store", str(root), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    committed = lambda: len(list((root / "legs").glob("user_id=*"))) if (root / "legs").is_dir() else 0  # noqa: E731
    try:
        assert _wait_for(lambda: committed() >= 3 or proc.poll() is not None)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    store = Store(root)
    summary = run_cohort(store, part, workers=2)
    runs = cohort_status(store).runs
    assert len(runs) == 2
    first, second = runs
    assert first["done"] >= 2  # committed before the kill (a third may have been cut mid-commit)
    assert second["unchanged"] == first["done"]  # ...and not redone
    assert first["done"] + second["done"] == 7 == first["done"] + summary.processed
    assert set(done_events(store).values()) == {1}  # each participant done exactly once
    assert store.check() == []
    local, _ = local_store
    for table in ("points", "legs"):
        where = "user_id IN (SELECT DISTINCT user_id FROM points WHERE user_id < 'p09')"
        assert sorted_bytes(store, table) == sorted_bytes(local, table, where), table


def _killer(root: Path, pid: str, times: int, killed: list[int]) -> threading.Thread:
    """Kill the worker process running ``pid``'s task as soon as it starts, ``times`` times."""

    def run() -> None:
        seen: set[Path] = set()
        while len(killed) < times:
            for marker in (root / WORK / pid).glob("*/started"):
                if marker in seen:
                    continue
                text = marker.read_text().strip()
                if not text:
                    continue
                seen.add(marker)
                os.kill(int(text), signal.SIGKILL)
                killed.append(int(text))
            time.sleep(0.005)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory) -> Path:
    """Four participants; p01 is big enough to be killed while it works."""
    return make_cohort(tmp_path_factory.mktemp("small"), n=4, points=2000, big={1: 30_000})


@pytest.mark.parametrize("where", ["local", "dask"])
def test_a_worker_killed_during_a_task_is_retried_once(small_cohort, cluster, tmp_path, where):
    store = Store(tmp_path / "store")
    killed: list[int] = []
    thread = _killer(store.root, "p01", 1, killed)
    kw = {"workers": 2} if where == "local" else {"scheduler": cluster.scheduler_address}
    summary = run_cohort(store, small_cohort, **kw)
    thread.join(timeout=1)
    assert len(killed) == 1
    assert summary.processed == 4 and not summary.failed
    status = {r["participant_id"]: r for r in cohort_status(store).participants}
    assert status["p01"]["attempts"] == 2 and status["p01"]["points"] == 30_000
    n = store.query("SELECT count(*) AS n FROM points WHERE user_id = 'p01'").column("n")[0].as_py()
    assert n == 30_000  # neither lost nor counted twice
    assert done_events(store) == {f"p{i:02d}": 1 for i in range(4)}
    assert store.check() == []


def test_a_worker_killed_twice_fails_the_participant_and_no_other(small_cohort, tmp_path):
    store = Store(tmp_path / "store")
    killed: list[int] = []
    thread = _killer(store.root, "p01", 2, killed)
    summary = run_cohort(store, small_cohort, workers=2)
    thread.join(timeout=1)
    assert len(killed) == 2
    assert summary.failed == [("p01", DIED)] and summary.processed == 3
    assert store.query("SELECT count(*) AS n FROM points WHERE user_id = 'p01'").column("n")[0].as_py() == 0


def test_a_rerun_redoes_only_what_changed(local_store, cohort):
    """Last: it changes one export of the shared cohort (and puts it back)."""
    store, _ = local_store
    again = run_cohort(store, cohort, workers=2)
    assert (again.processed, again.unchanged, again.no_consent) == (0, 18, 1)
    assert [p for p, _ in again.failed] == [f"p{CORRUPT:02d}"]  # failed ones are tried again
    track = Path(load_cohort(cohort).participants[1].paths[0]) / "track-1.gpx"
    keep = track.read_text()
    try:
        lines = keep.splitlines(keepends=True)
        track.write_text("".join(lines[:3] + lines[3 + 200:]))
        third = run_cohort(store, cohort, workers=2)
        assert (third.processed, third.unchanged) == (1, 17)
        n = store.query("SELECT count(*) AS n FROM points WHERE user_id = 'p01'").column("n")[0].as_py()
        assert n == POINTS - 200  # the participant's data replaced, not added to
        assert store.check() == []
    finally:
        track.write_text(keep)
