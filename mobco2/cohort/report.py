"""The researchers' tables: participant × month × mode, cohort distributions, data quality.

Only participants whose last outcome is ``done`` with the last run's method are counted (those
computed with an older method are listed as ``stale`` in the method block). Months are UTC
calendar months (the store's partitions). Tables:

* ``participant_month_mode``: ``km``, ``trips`` (trips with a leg in that mode), ``co2e_kg`` and
  ``saved_co2e_kg`` (against the baseline, per leg where positive) of each participant's month
  and mode;
* ``distributions``: over participant-months — median and quartiles of km and kgCO2e per mode
  (months without that mode count as 0), of the total monthly kgCO2e per participant and of
  the share of low-carbon km (:data:`LOW_CARBON_MODES`); plus the cohort's overall share;
* ``data_quality``: per participant, days with data, days without data between the first and
  last, signal gaps over an hour, and the share of distance whose mode is unknown.

Participant ids are pseudonymised with HMAC-SHA256 under the cohort's secret (``<store>/
cohort.secret``, created on first use, mode 0600) unless ``keep_ids``: the same participant gets
the same pseudonym in every report of the store, and nobody without the secret can link it back.
Every output carries the method block (factor set, scope, algorithm version, mobco2 version).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from mobco2.cohort.state import RUNS, STATE
from mobco2.errors import NotFoundError, OutputError, UsageError
from mobco2.export.atomic import write_atomic

SECRET = "cohort.secret"
LOW_CARBON_MODES = ("walk", "run", "bike", "ebike", "escooter", "bus", "coach", "tram", "metro", "train",
                    "rer", "intercity", "hsr")
"""Modes counted as low-carbon: on foot, cycling, public transport (ADEME's factors are lowest)."""
GAP_S = 3600
FORMATS = ("json", "csv", "parquet")
TABLES = ("participant_month_mode", "distributions", "data_quality")


@dataclass
class CohortReport:
    """The three tables and the method block that goes with each."""

    method: dict[str, Any]
    tables: dict[str, pa.Table]


def cohort_secret(root: Path) -> bytes:
    """The cohort's HMAC key, created (0600) on first use; refused when others can read it."""
    path = root / SECRET
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            raise UsageError(f"{path} can be read by other users", hint=f"chmod 600 {path}") from None
        return path.read_bytes().strip()
    except OSError as e:
        raise OutputError(f"cannot create the cohort secret {path}: {e.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_bytes().strip()


def pseudonym(secret: bytes, participant_id: str) -> str:
    return "p_" + hmac.new(secret, participant_id.encode(), hashlib.sha256).hexdigest()[:16]


def cohort_report(store: Any, *, keep_ids: bool = False) -> CohortReport:
    """Compute the cohort tables from ``store`` (read-only, apart from creating the secret).

    Example::

        report = cohort_report(Store("cohort-store"))
        report.tables["participant_month_mode"].to_pandas()
    """
    with store.reader() as con:
        con.execute("SET threads = 1")  # one summation order: identical bytes from identical data
        run = con.execute(
            f"SELECT method_key, method FROM {RUNS} ORDER BY started_at DESC, run_id DESC LIMIT 1"
        ).fetchall()
        if not run:
            raise NotFoundError(
                f"no cohort has been run into {store.root}", hint="run `mobco2 cohort run COHORT` first"
            )
        key, method_text = run[0]
        method = json.loads(method_text)
        done = con.execute(
            f"SELECT participant_id, coalesce(territory, ''), method_key = ? FROM {STATE} "
            "WHERE status = 'done' ORDER BY 1",
            [key],
        ).fetchall()
        current = [(pid, terr) for pid, terr, same in done if same]
        method.update(
            participants=len(current), stale_participants=len(done) - len(current), months="UTC",
            low_carbon_modes=list(LOW_CARBON_MODES), pseudonymised=not keep_ids,
        )
        con.register("__cohort", pa.table({"user_id": [p for p, _ in current], "territory": [t for _, t in current]}))
        try:
            tables = {name: _query(con, sql) for name, sql in _SQL.items()}
        finally:
            con.unregister("__cohort")
    if not keep_ids:
        secret = cohort_secret(store.root)
        tables = {name: _pseudonymise(t, secret) for name, t in tables.items()}
    return CohortReport(method, tables)


def _query(con: Any, sql: str) -> pa.Table:
    lows = ", ".join(f"'{m}'" for m in LOW_CARBON_MODES)
    return con.sql(sql.replace("{LOW}", lows).replace("{GAP_US}", str(GAP_S * 1_000_000))).to_arrow_table()


def _pseudonymise(table: pa.Table, secret: bytes) -> pa.Table:
    if "participant" not in table.column_names:
        return table
    ids = [pseudonym(secret, p) for p in table.column("participant").to_pylist()]
    i = table.column_names.index("participant")
    table = table.set_column(i, "participant", pa.array(ids, pa.string()))
    return table.sort_by([("participant", "ascending")] + [(c, "ascending") for c in ("year", "month", "mode")
                                                           if c in table.column_names])


_PMM = """
    SELECT l.user_id AS participant, c.territory, l.year, l.month, l.mode,
           sum(l.distance_m) / 1000.0 AS km, count(DISTINCT l.trip_id) AS trips,
           sum(l.co2e_kg) AS co2e_kg,
           sum(greatest(l.baseline_co2e_kg - coalesce(l.co2e_kg, 0), 0)) AS saved_co2e_kg
    FROM legs l JOIN __cohort c USING (user_id)
    GROUP BY ALL ORDER BY participant, l.year, l.month, l.mode
"""

_SQL = {
    "participant_month_mode": _PMM,
    "distributions": f"""
        WITH pmm AS ({_PMM}),
        pm AS (SELECT DISTINCT participant, year, month FROM pmm),
        modes AS (SELECT DISTINCT mode FROM pmm),
        grid AS (
            SELECT pm.participant, pm.year, pm.month, modes.mode,
                   coalesce(pmm.km, 0) AS km, coalesce(pmm.co2e_kg, 0) AS co2e_kg
            FROM pm CROSS JOIN modes
            LEFT JOIN pmm USING (participant, year, month, mode)
        ),
        totals AS (
            SELECT participant, year, month, sum(co2e_kg) AS co2e_kg,
                   sum(km) FILTER (WHERE mode IN ({{LOW}})) / nullif(sum(km), 0) AS low_share
            FROM grid GROUP BY ALL
        ),
        measures AS (
            SELECT 'km_per_participant_month' AS measure, mode, km AS v FROM grid
            UNION ALL SELECT 'co2e_kg_per_participant_month', mode, co2e_kg FROM grid
            UNION ALL SELECT 'co2e_kg_per_participant_month', 'all', co2e_kg FROM totals
            UNION ALL SELECT 'low_carbon_km_share_per_participant_month', 'all', low_share FROM totals
        )
        SELECT measure, mode, count(v) AS participant_months,
               quantile_cont(v, 0.25) AS q1, median(v) AS median, quantile_cont(v, 0.75) AS q3, avg(v) AS mean
        FROM measures GROUP BY ALL
        UNION ALL
        SELECT 'low_carbon_km_share_cohort', 'all', count(DISTINCT (participant, year, month)),
               NULL, sum(km) FILTER (WHERE mode IN ({{LOW}})) / nullif(sum(km), 0), NULL, NULL
        FROM grid
        ORDER BY measure, mode
    """,
    "data_quality": """
        WITH p AS (
            SELECT user_id, ts, epoch_us(ts) - lag(epoch_us(ts)) OVER (PARTITION BY user_id ORDER BY ts) AS step_us
            FROM points JOIN __cohort USING (user_id) WHERE ts IS NOT NULL
        ),
        days AS (
            SELECT user_id, count(*) AS points, count(DISTINCT ts::DATE) AS days_with_data,
                   min(ts)::DATE AS first_day, max(ts)::DATE AS last_day,
                   count(*) FILTER (WHERE step_us > {GAP_US}) AS gaps_over_1h
            FROM p GROUP BY user_id
        ),
        dist AS (
            SELECT user_id, sum(distance_m) / 1000.0 AS km,
                   sum(distance_m) FILTER (WHERE mode = 'unknown') / nullif(sum(distance_m), 0) AS unknown_km_share
            FROM legs JOIN __cohort USING (user_id) GROUP BY user_id
        )
        SELECT c.user_id AS participant, c.territory, coalesce(d.points, 0) AS points,
               coalesce(d.days_with_data, 0) AS days_with_data, d.first_day, d.last_day,
               coalesce(datediff('day', d.first_day, d.last_day) + 1 - d.days_with_data, 0) AS days_without_data,
               coalesce(d.gaps_over_1h, 0) AS gaps_over_1h, coalesce(x.km, 0) AS km,
               coalesce(x.unknown_km_share, 0) AS unknown_km_share
        FROM __cohort c LEFT JOIN days d USING (user_id) LEFT JOIN dist x USING (user_id)
        ORDER BY participant
    """,
}


def write_cohort_report(
    store: Any, fmt: str = "json", out: str | Path | None = None, *, keep_ids: bool = False,
    stream: IO[str] | None = None,
) -> list[Path]:
    """Compute the report and write it: JSON (one document, to ``out`` or ``stream``/stdout), or
    CSV or Parquet (one file per table in the folder ``out``). Returns the files written.

    Each CSV file starts with a ``# method: {…}`` line (``pandas.read_csv(f, comment="#")``);
    each Parquet file carries the method block as JSON in its ``mobco2.method`` metadata.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    if fmt != "json" and out is None:
        raise UsageError(f"--format {fmt} writes one file per table", hint="give a folder with --out")
    report = cohort_report(store, keep_ids=keep_ids)
    from mobco2.schema import SCHEMA_VERSION

    method = {"schema_version": SCHEMA_VERSION, **report.method}
    try:
        if fmt == "json":
            doc = {"schema_version": SCHEMA_VERSION, "method": report.method,
                   **{name: [_plain(r) for r in t.to_pylist()] for name, t in report.tables.items()}}
            text = json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
            if out is None:
                (stream or sys.stdout).write(text)
                return []
            path = Path(out)
            write_atomic(path, text.encode())
            return [path]
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, table in report.tables.items():
            path = folder / f"{name}.{fmt}"
            if fmt == "parquet":
                _write_parquet(path, table, method)
            else:
                write_atomic(path, _csv_bytes(table, method))
            written.append(path)
        return written
    except OSError as e:
        raise OutputError(f"cannot write the report to {out}: {e.strerror or e}") from None


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    import math
    from datetime import date

    out = {}
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, date):
            v = v.isoformat()
        out[k] = v
    return out


def _csv_bytes(table: pa.Table, method: dict[str, Any]) -> bytes:
    import io

    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    buf.write(("# method: " + json.dumps(method, sort_keys=True) + "\n").encode())
    pacsv.write_csv(table, buf)
    return buf.getvalue()


def _write_parquet(path: Path, table: pa.Table, method: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    meta = dict(table.schema.metadata or {})
    meta[b"mobco2.method"] = json.dumps(method, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
    os.replace(tmp, path)
