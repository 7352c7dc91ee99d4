"""Cohorts: many participants' exports processed the same, versioned way into one store (DESIGN §1).

Public API::

    from mobco2.cohort import load_cohort, run_cohort, cohort_status, cohort_report

    summary = run_cohort(Store("cohort-store"), "exports/", workers=2)        # or scheduler="tcp://…"
    status = cohort_status(Store("cohort-store"))                             # per participant
    report = cohort_report(Store("cohort-store"))                             # tables + method block

Modules: :mod:`~mobco2.cohort.manifest` (who, where, consent), :mod:`~mobco2.cohort.tasks` (one
participant's work in a worker), :mod:`~mobco2.cohort.staging` (the coordinator's commit),
:mod:`~mobco2.cohort.state` (resumable state), :mod:`~mobco2.cohort.run` (the coordinator),
:mod:`~mobco2.cohort.report` (the researchers' tables).
"""

from mobco2.cohort.manifest import Cohort, Participant, load_cohort
from mobco2.cohort.report import CohortReport, cohort_report
from mobco2.cohort.run import RunSummary, run_cohort
from mobco2.cohort.state import CohortStatus, cohort_status

__all__ = [
    "Cohort",
    "CohortReport",
    "CohortStatus",
    "Participant",
    "RunSummary",
    "cohort_report",
    "cohort_status",
    "load_cohort",
    "run_cohort",
]
