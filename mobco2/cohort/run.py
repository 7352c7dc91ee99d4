"""The coordinator: decide who needs work, farm it out, commit each result as it arrives.

Distribution is someone else's job: locally a :class:`concurrent.futures.ProcessPoolExecutor`,
or the tasks go to an existing Dask cluster through ``dask.distributed.Client(address)`` (the
store must sit on a filesystem every worker sees). Workers build each participant's data
privately (:mod:`mobco2.cohort.tasks`); this process alone holds the store's write lock and
commits (:mod:`mobco2.cohort.staging`), one transaction per participant, so a run killed
half-way keeps every participant committed before the kill.

Who is skipped: a participant without consent (their data is removed), and one already done
whose inputs (sha256) and method (segmentation parameters and algorithm version, emission
method) are unchanged. Everyone else is processed, failures included.

A worker that dies during a task is retried once, then the participant is marked failed: Dask's
scheduler does it (``retries=1`` for a task that raises; its ``allowed-failures`` for a worker
that dies — set to 1 on clusters mobco2 starts); locally a broken pool is replaced and the
participants that had started in it are resubmitted once.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mobco2.cohort import staging, state
from mobco2.cohort.manifest import Cohort, Participant, input_sha256, load_cohort
from mobco2.cohort.tasks import Outcome, Task, method_block, method_key, run_task
from mobco2.errors import EXIT_DATAERR, EXIT_OK, NetworkError, UsageError
from mobco2.store import Store

NOT_SHARED = (
    "the worker's files are not visible to the coordinator: the store must be on a filesystem every worker sees"
)
DIED = "the worker process died twice while processing this participant (killed, or out of memory)"


class CohortProgress(Protocol):
    """What a run reports; the CLI draws one bar over participants, on a TTY only."""

    def start(self, total: int) -> None: ...
    def advance(self, participant_id: str, status: str) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class RunSummary:
    """What one ``cohort run`` did."""

    run_id: str
    participants: int = 0
    processed: int = 0  # committed by this run (done)
    unchanged: int = 0
    no_consent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    points: int = 0
    trips: int = 0
    dashboard: str | None = None
    seconds: float = 0.0
    task_seconds: dict[str, float] = field(default_factory=dict)  # summed over participants (workers' clocks)
    commit_seconds: float = 0.0  # the coordinator's commits

    @property
    def exit_code(self) -> int:
        return EXIT_DATAERR if self.failed else EXIT_OK

    def line(self) -> str:
        return (
            f"{self.participants} participants: {self.processed} processed, {self.unchanged} unchanged, "
            f"{len(self.failed)} failed, {self.no_consent} without consent; "
            f"{self.points} points, {self.trips} trips in {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["failed"] = [{"participant_id": p, "reason": r} for p, r in self.failed]
        return d


def run_cohort(
    store: Store,
    cohort: Cohort | str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    params: Any = None,
    progress: CohortProgress | None = None,
) -> RunSummary:
    """Import, segment and count emissions for every participant of ``cohort`` into ``store``.

    Parameters
    ----------
    store : the cohort store (one store; user id = participant id).
    cohort : a :class:`Cohort`, or the path of a cohort folder or manifest CSV.
    workers : local worker processes (default: the number of cores); ignored with ``scheduler``.
    scheduler : a Dask scheduler address (``tcp://host:8786``) to run the tasks on instead.
    params : segmentation thresholds (default: from settings).

    Example::

        summary = run_cohort(Store("cohort-store"), "exports/manifest.csv", workers=2)
        print(summary.line())
    """
    import time

    from mobco2.segment import SegmentParams

    t0 = time.perf_counter()
    if not isinstance(cohort, Cohort):
        cohort = load_cohort(cohort)
    if params is None:
        params = SegmentParams.from_config()
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    mkey = method_key(params)
    root = store.root
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    summary = RunSummary(run_id=run_id, participants=len(cohort.participants))
    with store.writer() as w:
        w.con.execute(
            f"INSERT INTO {state.RUNS} VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, datetime.now(UTC), cohort.source, mkey, json.dumps(method_block(params, mkey), sort_keys=True),
             scheduler or f"local:{workers or 'auto'}"],
        )
        staging.clear_work(root)  # what workers of a killed run left
        todo = _plan(w, cohort, mkey, run_id, summary)
        w.commit()
        if progress:
            progress.start(len(cohort.participants))
            for _ in range(summary.unchanged + summary.no_consent):
                progress.advance("", "unchanged")
        tasks = [Task(p, str(staging.work_dir(root, p.participant_id)), params, mkey) for p in todo]
        by_id = {p.participant_id: p for p in todo}

        def commit(outcome: Outcome) -> None:
            c0 = time.perf_counter()
            p = by_id[outcome.participant_id]
            attempts = max(staging.attempts_made(root, p.participant_id), 1)
            if outcome.status == "done" and not Path(outcome.attempt_dir, "store").is_dir():
                outcome.status, outcome.reason = "failed", f"{NOT_SHARED} ({outcome.attempt_dir})"
            if outcome.status == "done":
                try:
                    staging.adopt_outcome(w, outcome)
                    state.record_state(
                        w, run_id, p.participant_id, "done", input_sha256=outcome.input_sha256, method_key=mkey,
                        territory=p.territory, points=outcome.points, trips=outcome.trips, legs=outcome.legs,
                        attempts=attempts,
                    )
                    w.commit()
                except OSError as e:  # files renamed before the failure are unlisted: the next writer removes them
                    w.discard()
                    outcome.status, outcome.reason = "failed", f"cannot move the worker's files into the store: {e}"
                else:
                    summary.processed += 1
                    summary.points += outcome.points
                    summary.trips += outcome.trips
                    for k, v in outcome.seconds.items():
                        summary.task_seconds[k] = summary.task_seconds.get(k, 0.0) + v
            if outcome.status != "done":
                state.record_state(w, run_id, p.participant_id, "failed", input_sha256=outcome.input_sha256 or None,
                                   method_key=mkey, territory=p.territory, attempts=attempts, reason=outcome.reason)
                summary.failed.append((p.participant_id, outcome.reason))
                w.commit()
            staging.clear_work(root, p.participant_id)
            summary.commit_seconds += time.perf_counter() - c0
            if progress:
                progress.advance(p.participant_id, outcome.status)

        if tasks:
            if scheduler:
                for outcome in _on_dask(tasks, scheduler, summary, progress):
                    commit(outcome)
            else:
                for outcome in _on_local_pool(tasks, workers, root):
                    commit(outcome)
    summary.failed.sort()
    summary.seconds = time.perf_counter() - t0
    return summary


def _plan(w: Any, cohort: Cohort, mkey: str, run_id: str, summary: RunSummary) -> list[Participant]:
    """Record who is skipped (no consent, unchanged) and return who needs work."""
    known = state.stored_state(w)
    held = {r[0] for r in w.con.execute("SELECT DISTINCT user_id FROM parquet_files").fetchall()}
    candidates: list[Participant] = []
    for p in cohort.participants:
        pid = p.participant_id
        if not p.consent:
            if pid in held or pid in known:
                staging.drop_participant(w, pid)
            state.record_state(w, run_id, pid, "no-consent", territory=p.territory)
            summary.no_consent += 1
        elif pid in known and known[pid][0] == "done" and known[pid][2] == mkey:
            candidates.append(p)
    # done participants with the same method: are their inputs unchanged? (hashing frees the GIL)
    with ThreadPoolExecutor(4) as pool:
        digests = dict(zip([p.participant_id for p in candidates],
                           pool.map(_digest_or_none, candidates), strict=True))
    todo: list[Participant] = []
    for p in cohort.participants:
        if not p.consent:
            continue
        pid = p.participant_id
        if digests.get(pid) is not None and digests[pid] == known[pid][1]:
            state.record_unchanged(w, run_id, pid)
            summary.unchanged += 1
        else:
            todo.append(p)
    return todo


def _digest_or_none(p: Participant) -> str | None:
    try:
        return input_sha256(p)
    except OSError:
        return None


def _on_local_pool(tasks: list[Task], workers: int | None, root: Path) -> Iterator[Outcome]:
    """Run tasks in local processes; a pool broken by a dying worker is replaced, and the
    participant whose worker died is resubmitted once (then failed). Others that were in flight
    are resubmitted without counting against them."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = {t.participant.participant_id: t for t in tasks}
    strikes: Counter[str] = Counter()
    silent_breaks = 0
    ctx = _worker_context()
    while pending:
        n = max(1, min(workers or multiprocessing.cpu_count(), len(pending)))
        before = {pid: set(staging.attempt_pids(root, pid)) for pid in pending}
        broken: list[str] = []
        pool = ProcessPoolExecutor(n, mp_context=ctx)
        processes = getattr(pool, "_processes", None)  # to tell afterwards which worker died, and how
        try:
            futures = {pool.submit(run_task, t): pid for pid, t in pending.items()}
            for fut in as_completed(futures):
                pid = futures[fut]
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    broken.append(pid)
                    continue
                except Exception as e:  # a bug in the task: retried once like a dead worker
                    strikes[pid] += 1
                    if strikes[pid] >= 2:
                        yield _failed(pending.pop(pid), f"unexpected failure: {type(e).__name__}: {e}")
                    continue
                del pending[pid]
                yield outcome
        finally:  # interrupted (Ctrl-C, the coordinator failing): what has not started never will
            pool.shutdown(wait=True, cancel_futures=True)
        guilty = _culprits(root, broken, before, dict(processes or {}))
        if broken and not guilty:  # workers die before any task starts: the pool cannot work at all
            silent_breaks += 1
            if silent_breaks >= 2:
                for pid in broken:
                    yield _failed(pending.pop(pid), "the worker processes die on start (see the log above)")
        for pid in guilty:
            strikes[pid] += 1
            if strikes[pid] >= 2:
                yield _failed(pending.pop(pid), DIED)


_PRELOAD = ["mobco2.cohort.tasks", "mobco2.ingest", "mobco2.segment", "mobco2.emissions", "pandas", "duckdb"]


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers come from a fork server that has imported the pipeline once: starting a pool costs
    a fork, not an interpreter start and ~1 s of imports per worker. Not a plain fork: the
    coordinator holds DuckDB and Arrow threads, which a fork would copy mid-state."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _culprits(root: Path, broken: list[str], before: dict[str, set[int]], processes: dict) -> list[str]:
    """Of the participants caught in a broken pool, those whose own worker died.

    The pool terminates its other workers (SIGTERM) once one has died; the one that died first
    exited otherwise (killed, out of memory). When that cannot be told, everyone that had
    started is blamed.
    """
    started = {pid: set(staging.attempt_pids(root, pid)) - before[pid] for pid in broken}
    started = {pid: pids for pid, pids in started.items() if pids}
    exits = {p.pid: p.exitcode for p in processes.values()}
    died = {w for w, code in exits.items() if code is not None and code not in (0, -signal.SIGTERM)}
    guilty = [pid for pid, pids in started.items() if pids & died]
    return guilty or list(started)


def _failed(task: Task, reason: str) -> Outcome:
    return Outcome(participant_id=task.participant.participant_id, status="failed", reason=reason)


def _on_dask(
    tasks: list[Task], address: str, summary: RunSummary, progress: CohortProgress | None
) -> Iterator[Outcome]:
    """Submit every task to the Dask scheduler at ``address`` and yield outcomes as they finish."""
    try:
        from dask.distributed import Client, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError:
        raise UsageError("--scheduler needs dask[distributed]", hint="pip install 'dask[distributed]'") from None
    try:
        client = Client(address, timeout="30s")
    except Exception as e:  # OSError, TimeoutError, or distributed's own for a bad address
        raise NetworkError(f"cannot reach the Dask scheduler at {address}: {e}",
                           hint="start one with `dask scheduler`, or check the address") from None
    try:
        summary.dashboard = client.dashboard_link
        if progress and summary.dashboard:
            progress.note(f"Dask dashboard: {summary.dashboard}")
        futures = {
            client.submit(run_task, t, key=f"cohort-{summary.run_id}-{t.participant.participant_id}",
                          retries=1, pure=False): t
            for t in tasks
        }
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                yield fut.result()
            except KilledWorker:
                yield _failed(task, DIED)
            except Exception as e:
                yield _failed(task, f"unexpected failure: {type(e).__name__}: {e}")
            finally:
                fut.release()
    finally:
        client.close()

