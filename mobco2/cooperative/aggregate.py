"""The cooperative's totals: territory × month × mode, from verified submissions only.

Steps: read every document (files, or folders searched for ``*.json``); verify each
(:mod:`mobco2.cooperative.verify`), rejections kept with their reason; count each distinct
document once (by the sha256 of its canonical bytes); keep the latest document per
(participant, period) — highest ``revision``, then later ``created``, then sha256 for a
deterministic tie; total per cell; **suppress every cell with fewer than k participants**.

With ``epsilon`` the published sums get Laplace noise (differential privacy). Each participant's
month is first clipped: for each measure, the sum over modes of their figures is scaled down to
at most the bound in :class:`Bounds` (a participant's month touches several mode cells of the
same measure, so the bound is on that L1 sum). Changing one participant-month then moves each
measure's cell vector by at most its bound in L1; the budget ε is split equally over the
published measures, so each gets Laplace noise of scale ``bound × measures / ε``. The guarantee
is ε per participant *per month*: a release covering n months spends up to n·ε for someone
present in all of them. Participant counts are exact and only used for suppression (they are
not protected by the noise); noisy sums below zero are published as zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mobco2.cooperative.registry import Registry
from mobco2.cooperative.verify import verify_bytes
from mobco2.errors import InputNotFoundError, UsageError
from mobco2.export.atomic import write_atomic

DEFAULT_K = 5
MEASURES = ("km", "trips", "co2e_kg", "saved_co2e_kg")
FORMATS = ("csv", "json", "parquet")
MAX_DOCUMENT_BYTES = 1_000_000


@dataclass(frozen=True)
class Bounds:
    """Per participant and month, summed over modes: what one person's month may contribute to
    each measure once clipped (only with ``epsilon``)."""

    km: float = 3000.0
    trips: float = 300.0
    co2e_kg: float = 1000.0
    saved_co2e_kg: float = 1000.0


@dataclass
class Aggregation:
    """Published cells, rejected documents with reasons, and what was done (k, ε, bounds, counts)."""

    cells: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)


def submission_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and every ``*.json`` under folders named (sorted, each once)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.json") if q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise InputNotFoundError(f"{p} does not exist", hint="name submission files or the folder holding them")
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]


def _read(path: Path) -> bytes | str:
    try:
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            return f"larger than {MAX_DOCUMENT_BYTES} bytes"
        return path.read_bytes()
    except OSError as e:
        return f"cannot read: {e.strerror}"


def latest_documents(
    paths: Iterable[str | Path], registry: Registry
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """Verified documents, the latest per (participant, period); rejections; counts."""
    latest: dict[tuple[str, str], tuple[tuple[int, str, str], dict[str, Any]]] = {}
    rejections: list[dict[str, Any]] = []
    seen: set[str] = set()
    counts = {"files": 0, "accepted": 0, "duplicates": 0, "superseded": 0, "rejected": 0}
    for path in submission_files(paths):
        counts["files"] += 1
        data = _read(path)
        if isinstance(data, str):
            rejections.append({"file": str(path), "rejection": "unreadable", "reason": data})
            continue
        v = verify_bytes(data, registry)
        if not v.ok:
            doc = v.document or {}
            rejections.append({"file": str(path), "rejection": v.rejection, "reason": v.reason,
                               "participant": doc.get("participant"), "period": doc.get("period")})
            continue
        if v.sha256 in seen:
            counts["duplicates"] += 1
            continue
        seen.add(v.sha256)
        counts["accepted"] += 1
        doc = v.document or {}
        key = (doc["participant"], doc["period"])
        rank = (doc["revision"], doc["created"], v.sha256)
        if key in latest:
            counts["superseded"] += 1
            if latest[key][0] >= rank:
                continue
        latest[key] = (rank, doc)
    counts["rejected"] = len(rejections)
    return {k: d for k, (_, d) in latest.items()}, rejections, counts


def _clip(modes: dict[str, dict[str, Any]], bounds: Bounds) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {m: {} for m in modes}
    for measure in MEASURES:
        total = sum(float(f[measure]) for f in modes.values())
        bound = getattr(bounds, measure)
        scale = bound / total if total > bound else 1.0
        for m, f in modes.items():
            out[m][measure] = float(f[measure]) * scale
    return out


def aggregate(
    paths: Iterable[str | Path],
    registry: Registry,
    *,
    k: int = DEFAULT_K,
    epsilon: float | None = None,
    bounds: Bounds | None = None,
    seed: int | None = None,
) -> Aggregation:
    """Territory × month × mode totals (km, trips, kgCO2e, saved kgCO2e, participants) of the
    submissions under ``paths``, cells of fewer than ``k`` participants suppressed.

    Parameters
    ----------
    paths : submission files and folders (searched for ``*.json``).
    registry : participants' keys and territories (:meth:`Registry.load`).
    k : smallest number of participants a published cell may have.
    epsilon : differential-privacy budget per participant and month (None = exact sums).
    bounds : per-participant clipping bounds used with ``epsilon`` (default :class:`Bounds`).
    seed : seed of numpy's random Generator for the noise (None = fresh entropy).

    Example::

        agg = aggregate(["inbox/"], Registry.load("registry.csv"), k=5, epsilon=1.0)
        agg.cells[0]["co2e_kg"], agg.meta["suppressed_cells"]
    """
    if k < 1:
        raise UsageError(f"--k {k} must be at least 1")
    if epsilon is not None and not epsilon > 0:
        raise UsageError(f"--epsilon {epsilon} must be positive", hint="e.g. --epsilon 1.0")
    bounds = bounds or Bounds()
    docs, rejections, counts = latest_documents(paths, registry)
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (participant, period), doc in sorted(docs.items()):
        modes = _clip(doc["modes"], bounds) if epsilon is not None else doc["modes"]
        for mode, fig in modes.items():
            c = cells.setdefault((doc["territory"], period, mode), {m: 0.0 for m in MEASURES} | {"participants": set()})
            for m in MEASURES:
                c[m] += float(fig[m])
            c["participants"].add(participant)
    published, suppressed = [], 0
    for (territory, period, mode), c in sorted(cells.items()):
        n = len(c["participants"])
        if n < k:
            suppressed += 1
            continue
        published.append({"territory": territory, "period": period, "mode": mode, "participants": n,
                          **{m: c[m] for m in MEASURES}})
    meta: dict[str, Any] = {"k": k, "cells": len(cells), "suppressed_cells": suppressed, **counts,
                            "participant_months": len(docs), "epsilon": epsilon}
    if epsilon is not None:
        meta.update(_add_noise(published, epsilon, bounds, seed))
    for row in published:
        row["trips"] = round(row["trips"])
        for m in ("km", "co2e_kg", "saved_co2e_kg"):
            row[m] = round(row[m], 3)
    return Aggregation(published, rejections, meta)


def _add_noise(rows: list[dict[str, Any]], epsilon: float, bounds: Bounds, seed: int | None) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    per_measure = epsilon / len(MEASURES)
    scales = {m: getattr(bounds, m) / per_measure for m in MEASURES}
    for m in MEASURES:
        noise = rng.laplace(0.0, scales[m], size=len(rows))
        for row, e in zip(rows, noise, strict=True):
            row[m] = max(0.0, row[m] + float(e))
    return {
        "noise": "laplace",
        "epsilon_per_participant_month": epsilon,
        "epsilon_per_measure": per_measure,
        "bounds_per_participant_month": asdict(bounds),
        "laplace_scale": scales,
        "privacy_note": (
            "each participant's month is clipped so that, per measure, its sum over modes is at most the bound; "
            "each published sum gets Laplace noise of scale bound × measures / ε; participant counts are exact "
            "and serve only the k-anonymity suppression"
        ),
    }


def write_aggregation(agg: Aggregation, fmt: str, out: Path | None, stdout: Any = None) -> None:
    """Write the cells as CSV, JSON (cells, rejections and meta) or Parquet, to ``out`` or stdout."""
    import csv
    import io
    import json
    import sys

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    columns = ["territory", "period", "mode", "participants", *MEASURES]
    if fmt == "parquet":
        if out is None:
            raise UsageError("--format parquet needs --out FILE")
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(agg.cells, schema=pa.schema(
            [("territory", pa.string()), ("period", pa.string()), ("mode", pa.string()),
             ("participants", pa.int64()), ("km", pa.float64()), ("trips", pa.int64()),
             ("co2e_kg", pa.float64()), ("saved_co2e_kg", pa.float64())]))
        table = table.replace_schema_metadata({"mobco2": json.dumps(agg.meta, default=str)})
        data = io.BytesIO()
        pq.write_table(table, data)
        payload = data.getvalue()
    elif fmt == "csv":
        text = io.StringIO()
        w = csv.DictWriter(text, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(agg.cells)
        payload = text.getvalue().encode("utf-8")
    else:
        doc = {"schema_version": 1, **agg.meta, "rows": agg.cells, "rejections": agg.rejections}
        payload = (json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n").encode("utf-8")
    if out is None:
        (stdout or sys.stdout).write(payload.decode("utf-8"))
        return
    write_atomic(out, payload)
