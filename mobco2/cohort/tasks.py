"""One participant's work, run in a worker process: import → segment → emissions, nothing committed.

A worker never touches the cohort store's catalog. It builds the participant's data in a private
store of its own under ``<store>/.cohort/work/<participant>/<attempt>/`` — on the same filesystem,
so that the coordinator can later *rename* the finished Parquet files into the cohort store —
and returns a :class:`Outcome`: the files, the catalog rows that go with them (imports journal,
labels, segmentation state) and counts. Only the coordinator commits (:mod:`mobco2.cohort.staging`).

Every attempt writes into a fresh folder and first drops a ``started`` marker there holding its
pid, so a retried task never reuses what a killed attempt left half-written, and the coordinator
can count attempts.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobco2.cohort.manifest import Participant, input_sha256
from mobco2.errors import Mobco2Error

WORK = ".cohort/work"
"""Where workers build participants' data, relative to the cohort store's root."""
STARTED = "started"


@dataclass(frozen=True)
class Task:
    """What a worker needs: the participant, where to work, and the method to apply."""

    participant: Participant
    work_dir: str  # <store>/.cohort/work/<participant>
    params: Any  # mobco2.segment.SegmentParams
    method_key: str


@dataclass
class Outcome:
    """What a worker hands back for the coordinator to commit (or to record as a failure)."""

    participant_id: str
    status: str  # done | failed
    reason: str = ""
    input_sha256: str = ""
    attempt_dir: str = ""
    files: list[tuple[str, str, int, int, int]] = field(default_factory=list)  # table, rel, year, month, rows
    imports: list[tuple] = field(default_factory=list)
    labels: list[tuple] = field(default_factory=list)
    segment_state: list[tuple] = field(default_factory=list)
    points: int = 0
    trips: int = 0
    legs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    pid: int = 0


def method_key(params: Any) -> str:
    """The versions a participant's result depends on: segmentation parameters and algorithm
    version, and the emission method (factor set and its rows, scope, profile)."""
    from mobco2.segment.store_io import emissions_hash

    return f"{params.params_hash()}:{emissions_hash()}"


def method_block(params: Any, key: str) -> dict[str, Any]:
    """The method every cohort output carries: factor set, scope, baseline, algorithm, versions."""
    from mobco2 import __version__
    from mobco2.emissions import load_factor_set, method_from_config
    from mobco2.segment.params import ALGORITHM_VERSION

    method = method_from_config()
    fs = load_factor_set(method["factors"])
    return {
        "factor_set": fs.id,
        "factor_set_version": fs.version,
        "scope": method["scope"],
        "baseline": f"{method['baseline'].mode} ({method['baseline'].vehicle}), driver alone",
        "algorithm_version": ALGORITHM_VERSION,
        "segment_params_hash": params.params_hash(),
        "method_key": key,
        "mobco2_version": __version__,
    }


def run_task(task: Task) -> Outcome:
    """Process one participant (in a worker). Bad input becomes a failed :class:`Outcome`; other
    exceptions propagate so that the scheduler can retry the task."""
    pid = task.participant.participant_id
    attempt = Path(task.work_dir) / f"{int(time.time())}-{uuid.uuid4().hex[:10]}"
    attempt.mkdir(parents=True)
    (attempt / STARTED).write_text(f"{os.getpid()}\n")
    out = Outcome(participant_id=pid, status="failed", attempt_dir=str(attempt), pid=os.getpid())
    try:
        _run(task, attempt, out)
    except Mobco2Error as e:
        out.status, out.reason = "failed", e.one_line()
    except OSError as e:
        out.status, out.reason = "failed", f"cannot read the participant's exports: {e}"
    return out


def _run(task: Task, attempt: Path, out: Outcome) -> None:
    from mobco2.ingest import import_paths
    from mobco2.segment import segment
    from mobco2.store import Store

    t0, cpu0 = time.perf_counter(), time.process_time()
    if method_key(task.params) != task.method_key:
        out.reason = "this worker's emission settings differ from the coordinator's (factor set, scope or profile)"
        return
    pid = task.participant.participant_id
    out.input_sha256 = input_sha256(task.participant)
    t1 = time.perf_counter()
    store = Store(attempt / "store", lock_timeout_s=5)
    summary = import_paths(store, list(task.participant.paths), user_id=pid)
    t2 = time.perf_counter()
    bad = [f for f in summary.files if f.status == "failed"]
    if bad:
        out.reason = f"{len(bad)} of {len(summary.files)} file(s) failed; first: {bad[0].message}"
        return
    if not any(f.status == "imported" for f in summary.files):
        out.reason = f"no location history among {len(summary.files)} file(s)"
        return
    seg = segment(store, user_id=pid, params=task.params)
    t3 = time.perf_counter()
    with store.reader() as con:
        out.files = [
            (t, rel, int(y), int(m), int(n))
            for t, rel, y, m, n in con.execute(
                "SELECT table_name, path, year, month, rows FROM parquet_files ORDER BY path"
            ).fetchall()
        ]
        out.imports = con.execute("SELECT * FROM imports ORDER BY import_id").fetchall()
        out.labels = con.execute("SELECT * FROM labels ORDER BY label_id").fetchall()
        out.segment_state = con.execute("SELECT * FROM segment_state ORDER BY year, month").fetchall()
    out.points = summary.total("added")
    out.trips, out.legs = seg.trips, seg.legs
    out.status = "done"
    t4 = time.perf_counter()
    out.seconds = {"hash": t1 - t0, "import": t2 - t1, "segment": t3 - t2, "collect": t4 - t3, "total": t4 - t0,
                   "cpu": time.process_time() - cpu0}
