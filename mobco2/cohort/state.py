"""A cohort's resumable state in the store's catalog (migration ``0004_cohort``).

``cohort_participants`` holds each participant's last outcome: status (``done``, ``failed``,
``no-consent``), the sha256 of their inputs and the method key (segmentation parameters and
algorithm version, emission method) it was computed with, counts, attempts and the reason of a
failure. A re-run skips a ``done`` participant whose inputs and method key are unchanged.
``cohort_runs`` has a row per run and ``cohort_journal`` a line per participant per run
(``done``, ``failed``, ``no-consent``, ``unchanged``): the work each run did, which ``cohort
status`` counts. Rows are written in the coordinator's transactions, with the data they describe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STATE = "cohort_participants"
JOURNAL = "cohort_journal"
RUNS = "cohort_runs"


def record_state(
    w: Any, run_id: str, participant_id: str, status: str, *, input_sha256: str | None = None,
    method_key: str | None = None, territory: str = "", points: int | None = None, trips: int | None = None,
    legs: int | None = None, attempts: int | None = None, reason: str = "",
) -> None:
    """Set the participant's state row and add a journal line for this run."""
    now = datetime.now(UTC)
    w.con.execute(f"DELETE FROM {STATE} WHERE participant_id = ?", [participant_id])
    w.con.execute(
        f"INSERT INTO {STATE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [participant_id, status, input_sha256, method_key, territory, points, trips, legs, attempts,
         reason or None, run_id, now],
    )
    w.con.execute(f"INSERT INTO {JOURNAL} VALUES (?, ?, ?, ?, ?)", [run_id, participant_id, status, attempts, now])



def record_unchanged(w: Any, run_id: str, participant_id: str) -> None:
    w.con.execute(
        f"INSERT INTO {JOURNAL} VALUES (?, ?, 'unchanged', NULL, ?)", [run_id, participant_id, datetime.now(UTC)]
    )


def stored_state(w: Any) -> dict[str, tuple[str, str | None, str | None]]:
    """participant id → (status, input sha256, method key)."""
    rows = w.con.execute(f"SELECT participant_id, status, input_sha256, method_key FROM {STATE}").fetchall()
    return {pid: (status, sha, key) for pid, status, sha, key in rows}


@dataclass
class CohortStatus:
    """Each participant's state, and what every run did (counts of journal events)."""

    participants: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.participants:
            out[p["status"]] = out.get(p["status"], 0) + 1
        return out

    def line(self) -> str:
        c = self.counts()
        parts = [f"{n} {s}" for s, n in sorted(c.items())]
        listed = ", ".join(parts) or "none yet"
        return f"{len(self.participants)} participants: {listed}; {len(self.runs)} run(s)"


def cohort_status(store: Any) -> CohortStatus:
    """The cohort state of ``store``: one row per participant, one per run.

    Example::

        for row in cohort_status(Store("cohort-store")).participants:
            print(row["participant_id"], row["status"], row["reason"])
    """
    with store.reader() as con:
        cols = ["participant_id", "status", "points", "trips", "legs", "attempts", "territory", "reason",
                "run_id", "updated_at"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {STATE} ORDER BY participant_id").fetchall()
        runs = con.execute(
            f"""
            SELECT r.run_id, r.started_at, r.scheduler,
                   count(*) FILTER (WHERE j.event = 'done') AS done,
                   count(*) FILTER (WHERE j.event = 'failed') AS failed,
                   count(*) FILTER (WHERE j.event = 'unchanged') AS unchanged,
                   count(*) FILTER (WHERE j.event = 'no-consent') AS no_consent
            FROM {RUNS} r LEFT JOIN {JOURNAL} j USING (run_id)
            GROUP BY ALL ORDER BY r.started_at, r.run_id
            """
        ).fetchall()
    run_cols = ["run_id", "started_at", "scheduler", "done", "failed", "unchanged", "no_consent"]
    return CohortStatus([dict(zip(cols, r, strict=True)) for r in rows],
                        [dict(zip(run_cols, r, strict=True)) for r in runs])
