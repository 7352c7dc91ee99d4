"""Real processes: SIGKILL mid-import leaves all or none of the file; concurrent writers never corrupt."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from mobco2.store import Store
from tests.builders import walk, write_gpx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mobco2(args, env_extra=None, **kw):  # type: ignore[no-untyped-def]
    env = {**os.environ, **(env_extra or {})}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "mobco2", *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw,
    )


@pytest.fixture(scope="module")
def big_gpx(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    # ~60 days of 10-second fixes: big enough that an import takes a noticeable moment.
    return write_gpx(d / "big.gpx", walk(150_000, step_s=30))


@pytest.mark.parametrize("delay_s", [0.15, 0.4, 0.8, 1.3, 2.0])
def test_sigkill_mid_import_leaves_all_or_none(tmp_path, big_gpx, delay_s):
    root = tmp_path / "store"
    small = write_gpx(tmp_path / "small.gpx", walk(20, start=datetime(2024, 1, 1, tzinfo=UTC)))
    assert mobco2(["--store", str(root), "-q", "import", str(small), "--user", "me"]).wait(60) == 0
    proc = mobco2(["--store", str(root), "-q", "import", str(big_gpx), "--user", "me"])
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    store = Store(root, lock_timeout_s=10)
    assert store.check() == []
    n = store.sql("select count(*) as n from points").to_pylist()[0]["n"]
    imports = store.sql("select count(*) as n from imports").to_pylist()[0]["n"]
    assert (n, imports) in {(20, 1), (150_020, 2)}, (n, imports)
    # The store still works: importing the big file again completes it (or finds it done).
    again = mobco2(["--store", str(root), "-q", "import", str(big_gpx), "--user", "me"])
    assert again.wait(120) == 0, again.stderr.read().decode()
    assert store.sql("select count(*) as n from points").to_pylist()[0]["n"] == 150_020
    assert store.check() == []


def test_concurrent_writers_wait_then_succeed(tmp_path, big_gpx):
    root = tmp_path / "store"
    other = write_gpx(tmp_path / "other.gpx", walk(50, start=datetime(2023, 3, 1, tzinfo=UTC)))
    a = mobco2(["--store", str(root), "-q", "import", str(big_gpx), "--user", "me"])
    time.sleep(0.3)
    b = mobco2(["--store", str(root), "-q", "import", str(other), "--user", "me"],
               env_extra={"MOBCO2_STORE_LOCK_TIMEOUT_S": "120"})
    assert a.wait(120) == 0, a.stderr.read().decode()
    assert b.wait(120) == 0, b.stderr.read().decode()
    store = Store(root)
    assert store.sql("select count(*) as n from points").to_pylist()[0]["n"] == 150_050
    assert store.check() == []


def test_second_writer_gives_up_with_exit_75(tmp_path):
    root = tmp_path / "store"
    other = write_gpx(tmp_path / "other.gpx", walk(50, start=datetime(2023, 3, 1, tzinfo=UTC)))
    store = Store(root)
    with store.writer():  # this test process is the first writer, mid-transaction
        b = mobco2(["--store", str(root), "import", str(other), "--user", "me"],
                   env_extra={"MOBCO2_STORE_LOCK_TIMEOUT_S": "0.5"})
        code = b.wait(60)
    err = b.stderr.read().decode()
    assert code == 75, err
    assert err.count("\n") == 1 and err.startswith("Error:") and "busy" in err and "waited 0.5 s" in err
    assert store.check() == []
    assert store.sql("select count(*) as n from points").to_pylist()[0]["n"] == 0
    # Once the first writer is done, the same command succeeds.
    assert mobco2(["--store", str(root), "-q", "import", str(other), "--user", "me"]).wait(60) == 0
    assert store.sql("select count(*) as n from points").to_pylist()[0]["n"] == 50


HOLDER = r"""
import multiprocessing, sys, time
from mobco2.store import Store

def helper(ready):
    ready.send(True)  # like a forked decoder or check, busy long after its parent is gone
    time.sleep(60)

store = Store(sys.argv[1])
with store.writer():
    receive, send = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=helper, args=(send,))
    child.start()
    receive.recv()
    print(child.pid, flush=True)
    time.sleep(60)  # killed here, holding the lock, its helper still running
"""


def test_a_killed_writer_forked_helpers_do_not_keep_the_store_locked(tmp_path):
    root = tmp_path / "store"
    Store(root).info()
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env
    )
    helper_pid = int(proc.stdout.readline())
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        os.kill(helper_pid, 0)  # the helper outlives the writer...
        with Store(root, lock_timeout_s=2).writer():  # ...without holding its lock
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper_pid, signal.SIGKILL)
