"""The coordinator's side of a participant: commit a worker's files and rows into the cohort store.

A participant's data is replaced as a whole, in the coordinator's write transaction: every file
the store held for that user id leaves the manifest, the worker's files are renamed into their
partitions (``Writer.adopt``: same relative paths, so segmentation fingerprints stay valid), and
the worker's imports journal, labels and segmentation state replace the old rows. The catalog
commits last (:mod:`mobco2.store`), so a coordinator killed at any point leaves either the
participant's old state or its new one, never a mix; renamed files of an uncommitted transaction
are deleted by the next writer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mobco2.cohort.tasks import WORK, Outcome
from mobco2.store import Writer

_USER_TABLES = {"imports": "user_id", "labels": "user_id", "segment_state": "user_id"}


def drop_participant(w: Writer, participant_id: str) -> None:
    """Remove everything the store holds for ``participant_id`` (at commit)."""
    w.drop_user(participant_id)
    for table, col in _USER_TABLES.items():
        w.con.execute(f"DELETE FROM {table} WHERE {col} = ?", [participant_id])


def adopt_outcome(w: Writer, outcome: Outcome) -> None:
    """Stage a finished participant's files and catalog rows in ``w`` (replacing what was there)."""
    pid = outcome.participant_id
    drop_participant(w, pid)
    store_dir = Path(outcome.attempt_dir) / "store"
    for table, rel, year, month, rows in outcome.files:
        w.adopt(table, store_dir / rel, rel, user_id=pid, year=year, month=month, rows=rows)
    for table, rows in (("imports", outcome.imports), ("labels", outcome.labels),
                        ("segment_state", outcome.segment_state)):
        if rows:
            marks = ", ".join("?" for _ in rows[0])
            w.con.executemany(f"INSERT INTO {table} VALUES ({marks})", [list(r) for r in rows])


def work_dir(root: Path, participant_id: str) -> Path:
    return root / WORK / participant_id


def clear_work(root: Path, participant_id: str | None = None) -> None:
    """Delete workers' leftovers: one participant's folder, or all of them."""
    target = root / WORK if participant_id is None else work_dir(root, participant_id)
    shutil.rmtree(target, ignore_errors=True)


def attempts_made(root: Path, participant_id: str) -> int:
    """How many attempts started for the participant in this run (their ``started`` markers)."""
    folder = work_dir(root, participant_id)
    return sum(1 for _ in folder.glob("*/started")) if folder.is_dir() else 0


def attempt_pids(root: Path, participant_id: str) -> list[int]:
    """The worker pids of the attempts started for the participant (from their markers)."""
    folder = work_dir(root, participant_id)
    pids = []
    for marker in folder.glob("*/started") if folder.is_dir() else ():
        text = marker.read_text().strip()
        if text.isdigit():
            pids.append(int(text))
    return pids
