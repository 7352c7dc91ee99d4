"""What a report reads from the store: its window of legs with their emissions, and coverage.

One read of the store takes the legs whose trip started in the report's window (the period and
the twelve months before it, for the trend and the comparisons), local times computed by DuckDB
in each trip's zone. Their emissions are computed once (:func:`leg_emissions`, as ``footprint``
does), then every figure is a small SQL query over that table in an in-memory DuckDB running on
one thread, so sums add up in the same order on every run: the same store gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from mobco2.export.periods import Period, add_months, days_between
from mobco2.export.report_types import (
    Bar,
    Coverage,
    LowConfidence,
    LowConfidenceLeg,
    ModeRow,
    TripRow,
    Unknown,
    gaps_of,
    local_hhmm,
)

LABEL_COMMAND = "mobco2 trips label LEG_ID --mode MODE"

_LEG_COLUMNS = ("user_id", "trip_id", "leg_id", "started_at", "finished_at", "mode", "mode_source", "mode_conf",
                "distance_m", "occupancy", "vehicle", "speed_median_mps", "start_lat", "start_lon", "end_lat",
                "end_lon")


def _utc(day: date, slack_days: int = 0) -> datetime:
    return datetime.combine(day + timedelta(days=slack_days), time(0), tzinfo=UTC)


def _valid_zones(con: duckdb.DuckDBPyConnection, names: list[str | None]) -> list[str]:
    known = {r[0] for r in con.sql("SELECT name FROM pg_timezone_names()").fetchall()}
    return sorted(n for n in names if n and n in known)


def _zone_sql(column: str) -> str:
    """A zone expression: ``column`` when DuckDB knows it (parameter: the list of valid names), else UTC."""
    return f"CASE WHEN list_contains(?::VARCHAR[], {column}) THEN {column} ELSE 'UTC' END"


def _user_sql(alias: str, user_id: str | None) -> tuple[str, list[Any]]:
    return (f" AND {alias}.user_id = ?", [user_id]) if user_id else ("", [])


@dataclass
class ReportData:
    """The period's legs (an in-memory DuckDB table ``legs``), monthly sums over the whole window,
    and the period's coverage."""

    store: Any
    mem: duckdb.DuckDBPyConnection
    user_id: str | None
    zone_name: str
    coverage: Coverage
    period: Period
    monthly: dict[str, dict[str, Any]]
    """Per local month of the window: km, co2e_kg, legs, trips and co2e_by_mode_kg."""
    _cache: dict[str, Any] = field(default_factory=dict)

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        rel = self.mem.sql(sql, params=params or None)
        cols = rel.columns
        return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]

    @staticmethod
    def _in(period: Period) -> tuple[str, list[Any]]:
        return "local_day >= ? AND local_day < ?", [period.start, period.end]

    def totals(self, period: Period) -> dict[str, Any]:
        """Every total of the report's own period; km, co2e_kg, legs and trips of another."""
        if period != self.period:
            months = [self.monthly.get(k, {}) for k in _month_keys(period)]
            return {m: sum(x.get(m, 0) for x in months) for m in ("km", "co2e_kg", "legs", "trips")}
        if "totals" not in self._cache:
            self._cache["totals"] = self._totals(period)
        return dict(self._cache["totals"])

    def _totals(self, period: Period) -> dict[str, Any]:
        where, params = self._in(period)
        row = self._rows(f"""
            SELECT coalesce(sum(distance_m), 0) / 1000 AS km, count(*) AS legs,
                   count(DISTINCT (user_id, trip_id)) AS trips,
                   coalesce(sum(co2e_kg), 0) AS co2e_kg, coalesce(sum(low_kg), 0) AS co2e_low_kg,
                   coalesce(sum(high_kg), 0) AS co2e_high_kg, coalesce(sum(baseline_kg), 0) AS baseline_co2e_kg,
                   coalesce(sum(saved_kg), 0) AS saved_co2e_kg,
                   coalesce(sum(distance_m) FILTER (WHERE status = 2), 0) / 1000 AS unknown_km,
                   count(*) FILTER (WHERE status = 2) AS unknown_legs,
                   coalesce(sum(distance_m) FILTER (WHERE status = 1), 0) / 1000 AS no_factor_km,
                   count(*) FILTER (WHERE status = 1) AS no_factor_legs
            FROM legs WHERE {where}""", params)[0]
        return row

    def unknown(self, period: Period) -> Unknown:
        t = self.totals(period)
        share = t["unknown_km"] / t["km"] if t["km"] else None
        return Unknown(t["unknown_km"], t["unknown_legs"], share, t["co2e_low_kg"], t["co2e_high_kg"],
                       t["no_factor_km"], t["no_factor_legs"])

    def modes(self, period: Period) -> list[ModeRow]:
        where, params = self._in(period)
        t = self.totals(period)
        rows = self._rows(f"""
            SELECT mode, sum(distance_m) / 1000 AS km, count(DISTINCT (user_id, trip_id)) AS trips,
                   count(*) AS legs, coalesce(sum(co2e_kg), 0) AS co2e_kg, coalesce(sum(low_kg), 0) AS lo,
                   coalesce(sum(high_kg), 0) AS hi, coalesce(sum(saved_kg), 0) AS saved
            FROM legs WHERE {where} GROUP BY mode ORDER BY co2e_kg DESC, km DESC, mode""", params)
        return [
            ModeRow(r["mode"], r["km"], r["trips"], r["legs"], r["co2e_kg"], r["lo"], r["hi"], r["saved"],
                    r["km"] / t["km"] if t["km"] else None,
                    r["co2e_kg"] / t["co2e_kg"] if t["co2e_kg"] else None)
            for r in rows
        ]

    def _bars(self, key_sql: str, keys: list[str], period: Period) -> list[Bar]:
        where, params = self._in(period)
        rows = self._rows(f"""
            SELECT {key_sql} AS key, mode, sum(distance_m) / 1000 AS km, coalesce(sum(co2e_kg), 0) AS co2e_kg
            FROM legs WHERE {where} GROUP BY ALL ORDER BY key, mode""", params)
        trips = {r["key"]: r["trips"] for r in self._rows(f"""
            SELECT {key_sql} AS key, count(DISTINCT (user_id, trip_id)) AS trips
            FROM legs WHERE {where} GROUP BY ALL""", params)}
        bars = {k: Bar(k, 0.0, trips.get(k, 0), 0.0, {}) for k in keys}
        for r in rows:
            b = bars[r["key"]]
            b.km += r["km"]
            b.co2e_kg += r["co2e_kg"]
            if r["co2e_kg"] > 0:
                b.co2e_by_mode_kg[r["mode"]] = r["co2e_kg"]
        return [bars[k] for k in keys]

    def bars(self, period: Period) -> list[Bar]:
        """Daily bars of a month, monthly bars of a year."""
        if period.kind == "year":
            return self.month_bars(period)
        keys = [d.isoformat() for d in days_between(period.start, period.end)]
        return self._bars("strftime(local_day, '%Y-%m-%d')", keys, period)

    def month_bars(self, period: Period) -> list[Bar]:
        out = []
        for k in _month_keys(period):
            m = self.monthly.get(k, {})
            out.append(Bar(k, m.get("km", 0.0), m.get("trips", 0), m.get("co2e_kg", 0.0),
                           dict(m.get("co2e_by_mode_kg", {}))))
        return out

    def trips(self, period: Period, n: int) -> tuple[list[TripRow], list[TripRow]]:
        where, params = self._in(period)
        sql = f"""
            SELECT trip_id, min(local_day) AS day, min(trip_local_start) AS s, max(trip_local_finish) AS f,
                   sum(distance_m) / 1000 AS km, coalesce(any_value(main_mode), arg_max(mode, distance_m)) AS mode,
                   coalesce(sum(co2e_kg), 0) AS co2e_kg, count(*) AS legs
            FROM legs WHERE {where} GROUP BY user_id, trip_id
            ORDER BY {{order}}, trip_id LIMIT {int(n)}"""

        def rows(order: str) -> list[TripRow]:
            return [TripRow(r["trip_id"], r["day"].isoformat(), local_hhmm(r["s"]), local_hhmm(r["f"]), r["km"],
                            r["mode"], r["co2e_kg"], r["legs"])
                    for r in self._rows(sql.format(order=order), params)]

        return rows("co2e_kg DESC, km DESC"), rows("km DESC, co2e_kg DESC")

    def low_confidence(self, period: Period, threshold: float, n: int) -> LowConfidence:
        where, params = self._in(period)
        cond = "(mode = 'unknown' OR (mode_source = 'inferred' AND coalesce(mode_conf, 0) < ?))"
        t = self._rows(f"SELECT count(*) AS n, coalesce(sum(distance_m), 0) / 1000 AS km FROM legs "
                       f"WHERE {where} AND {cond}", [*params, threshold])[0]
        listed = [
            LowConfidenceLeg(r["leg_id"], r["trip_id"], r["local_day"].isoformat(), local_hhmm(r["leg_local_start"]),
                             r["mode"], None if r["mode_conf"] is None else float(r["mode_conf"]),
                             r["distance_m"] / 1000, f"mobco2 trips label {r['leg_id']} --mode MODE")
            for r in self._rows(f"""
                SELECT leg_id, trip_id, local_day, leg_local_start, mode, round(mode_conf, 3) AS mode_conf, distance_m
                FROM legs WHERE {where} AND {cond} ORDER BY distance_m DESC, leg_id LIMIT {int(n)}""",
                [*params, threshold])
        ]
        return LowConfidence(threshold, t["n"], t["km"], listed, LABEL_COMMAND)

    def geometry(self, period: Period, zones: Any) -> Any:
        from mobco2.export.report_geo import read_geometry

        legs = self.mem.sql(
            "SELECT user_id, leg_id, mode, started_at, finished_at, start_lat, start_lon, end_lat, end_lon "
            "FROM legs WHERE local_day >= ? AND local_day < ? ORDER BY user_id, started_at, leg_id",
            params=[period.start, period.end],
        ).to_arrow_table()
        return read_geometry(self.store, legs, period, self.user_id, zones)


def read(store: Any, window: Period, user_id: str | None, fs: Any, method: dict[str, Any], tz_name: str,
         period: Period) -> ReportData:
    """Read the window's legs, compute their emissions, and measure the period's coverage."""
    from mobco2.emissions.compute import leg_emissions

    user_where, user_params = _user_sql("l", user_id)
    lo, hi = _utc(window.start, -1), _utc(window.end, 8)
    with store.reader() as con:
        zones = _valid_zones(con, [r[0] for r in con.sql(
            f"SELECT DISTINCT tz FROM legs l WHERE l.started_at >= ? AND l.started_at < ?{user_where} "
            f"UNION SELECT DISTINCT tz FROM trips l WHERE l.started_at >= ? AND l.started_at < ?{user_where}",
            params=[lo, hi, *user_params, _utc(window.start, -9), hi, *user_params]).fetchall()])
        cols = ", ".join(f"l.{c}" for c in _LEG_COLUMNS)
        z = _zone_sql("coalesce(t.tz, l.tz)")
        sql = f"""
            WITH t AS (
                SELECT user_id, trip_id, min(started_at) AS started_at, max(finished_at) AS finished_at,
                       any_value(tz) AS tz, any_value(main_mode) AS main_mode
                FROM trips l WHERE l.started_at >= ? AND l.started_at < ?{user_where} GROUP BY ALL
            ), j AS (
                SELECT {cols}, coalesce(t.started_at, l.started_at) AS trip_started_at,
                       coalesce(t.finished_at, l.finished_at) AS trip_finished_at, t.main_mode,
                       {z} AS zone
                FROM legs l LEFT JOIN t ON t.user_id = l.user_id AND t.trip_id = l.trip_id
                WHERE l.started_at >= ? AND l.started_at < ?{user_where}
            ), k AS (
                SELECT *, timezone(zone, trip_started_at) AS trip_local_start,
                       timezone(zone, trip_finished_at) AS trip_local_finish,
                       timezone(zone, started_at) AS leg_local_start
                FROM j
            )
            SELECT *, CAST(trip_local_start AS DATE) AS local_day FROM k
            WHERE trip_local_start >= ? AND trip_local_start < ?
            ORDER BY user_id, trip_started_at, trip_id, started_at, leg_id
        """
        params = [_utc(window.start, -9), hi, *user_params, zones, lo, hi, *user_params,
                  window.start, window.end]
        legs = con.sql(sql, params=params).to_arrow_table()
        zone_name = tz_name or _main_zone(legs, period) or "UTC"
        if zone_name not in zones and not _valid_zones(con, [zone_name]):
            zone_name = "UTC"
        coverage = _coverage(con, period, user_id, zone_name)
    em = leg_emissions(legs, fs, method["scope"], method["profile"], method["baseline"])
    days = legs.column("local_day").cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    in_period = (days >= (period.start - _EPOCH).days) & (days < (period.end - _EPOCH).days)
    idx = np.flatnonzero(in_period)
    computed = {"co2e_kg": em.co2e_kg[idx], "low_kg": em.low_kg[idx], "high_kg": em.high_kg[idx],
                "baseline_kg": em.baseline_kg[idx], "saved_kg": em.saved_kg[idx], "status": em.status[idx]}
    # only the period's legs go to DuckDB; the trend and the comparisons need monthly sums only
    mem = _in_memory(legs.take(pa.array(idx)), computed)
    return ReportData(store, mem, user_id, zone_name, coverage, period, _monthly(legs, days, em.co2e_kg))


_EPOCH = date(1970, 1, 1)


def _month_keys(period: Period) -> list[str]:
    keys, m = [], period.start
    while m < period.end:
        keys.append(f"{m.year:04d}-{m.month:02d}")
        m = add_months(m, 1)
    return keys


def _monthly(legs: pa.Table, days: np.ndarray, co2e_kg: np.ndarray) -> dict[str, dict[str, Any]]:
    """km, kgCO2e (legs with a factor), legs, distinct trips and kgCO2e by mode per local month."""
    from mobco2.emissions.compute import column_codes

    if not len(days):
        return {}
    month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    lo = int(month.min())
    code = month - lo
    n = int(code.max()) + 1
    km = np.nan_to_num(legs.column("distance_m").to_numpy(zero_copy_only=False).astype(np.float64)) / 1000
    kg = np.nan_to_num(np.asarray(co2e_kg, dtype=np.float64))
    user, _ = column_codes(legs, "user_id")
    trip, trip_names = column_codes(legs, "trip_id")
    key = (user + 1) * (len(trip_names) + 2) + trip + 1
    pairs = np.unique(code * (int(key.max()) + 1) + key)
    trips = np.bincount(pairs // (int(key.max()) + 1), minlength=n)
    mode, modes = column_codes(legs, "mode")
    by_mode = np.bincount(code * (len(modes) + 1) + mode + 1, weights=kg, minlength=n * (len(modes) + 1))
    sums = {"km": np.bincount(code, weights=km, minlength=n), "co2e_kg": np.bincount(code, weights=kg, minlength=n),
            "legs": np.bincount(code, minlength=n)}
    out = {}
    for c in range(n):
        if not sums["legs"][c]:
            continue
        k = lo + c
        row = by_mode[c * (len(modes) + 1):(c + 1) * (len(modes) + 1)]
        out[f"{1970 + k // 12:04d}-{k % 12 + 1:02d}"] = {
            "km": float(sums["km"][c]), "co2e_kg": float(sums["co2e_kg"][c]), "legs": int(sums["legs"][c]),
            "trips": int(trips[c]),
            "co2e_by_mode_kg": {(modes[j - 1] if j else "unknown"): float(v) for j, v in enumerate(row) if v > 0},
        }
    return out


_MEM_TYPES = {"user_id": "VARCHAR", "trip_id": "VARCHAR", "leg_id": "VARCHAR", "mode": "VARCHAR",
              "mode_source": "VARCHAR", "mode_conf": "DOUBLE", "distance_m": "DOUBLE", "main_mode": "VARCHAR",
              "started_at": "TIMESTAMPTZ", "finished_at": "TIMESTAMPTZ", "local_day": "DATE",
              "trip_local_start": "TIMESTAMP", "trip_local_finish": "TIMESTAMP", "leg_local_start": "TIMESTAMP",
              "start_lat": "DOUBLE", "start_lon": "DOUBLE", "end_lat": "DOUBLE", "end_lon": "DOUBLE",
              "co2e_kg": "DOUBLE", "low_kg": "DOUBLE", "high_kg": "DOUBLE", "baseline_kg": "DOUBLE",
              "saved_kg": "DOUBLE", "status": "TINYINT"}


def _in_memory(legs: pa.Table, computed: dict[str, np.ndarray]) -> duckdb.DuckDBPyConnection:
    """The legs and their emissions as table ``legs`` of a one-thread in-memory DuckDB.

    Columns cross as list parameters rather than a registered Arrow table: DuckDB imports pandas
    (0.25 s) the first time it scans a Python object, more than this whole report costs."""
    mem = duckdb.connect()
    mem.execute("SET threads = 1")
    mem.execute("SET TimeZone = 'UTC'")
    values: list[Any] = []
    for name in _MEM_TYPES:
        if name in computed:
            v = np.asarray(computed[name])
            values.append(np.where(np.isnan(v), None, v).tolist() if v.dtype.kind == "f" else v.tolist())
        else:
            values.append(legs.column(name).to_pylist())
    select = ", ".join(f"unnest(?::{t}[]) AS {n}" for n, t in _MEM_TYPES.items())
    mem.execute(f"CREATE TABLE legs AS SELECT {select}", values)
    return mem


def _main_zone(legs: pa.Table, period: Period) -> str | None:
    """The zone most of the period's trips were made in (the first name on a tie)."""
    if not legs.num_rows:
        return None
    counts: dict[str, int] = {}
    for zone, day in zip(legs.column("zone").to_pylist(), legs.column("local_day").to_pylist(), strict=True):
        if period.start <= day < period.end:
            counts[zone] = counts.get(zone, 0) + 1
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None


def _coverage(con: duckdb.DuckDBPyConnection, period: Period, user_id: str | None, zone_name: str) -> Coverage:
    """Days of the period with at least one recorded point, in ``zone_name``, up to the store's last day."""
    user_where, user_params = _user_sql("p", user_id)
    # the zone conversion runs on a few values, not on every point: the last time, and the distinct
    # quarter-hours (every zone's offset is a whole number of them)
    last = con.sql(f"SELECT timezone(?, max(p.ts))::DATE FROM points p WHERE p.ts IS NOT NULL{user_where}",
                   params=[zone_name, *user_params]).fetchall()[0][0]
    days = {r[0] for r in con.sql(
        f"SELECT DISTINCT timezone(?, q)::DATE FROM (SELECT DISTINCT time_bucket(INTERVAL 15 MINUTES, p.ts) AS q "
        f"FROM points p WHERE p.ts >= ? AND p.ts < ?{user_where})",
        params=[zone_name, _utc(period.start, -1), _utc(period.end, 1), *user_params]).fetchall()}
    days = {d for d in days if period.start <= d < period.end}
    end = period.start if last is None else min(period.end, max(period.start, last + timedelta(days=1)))
    n = (end - period.start).days
    return Coverage(
        time_zone=zone_name,
        days=n,
        days_with_data=len(days),
        days_without_data=n - len(days),
        first_day_with_data=min(days).isoformat() if days else None,
        last_day_with_data=max(days).isoformat() if days else None,
        largest_gaps=gaps_of(days, period.start, end),
    )


def months_with_data(store: Any, user_id: str | None = None) -> list[str]:
    """Local months holding a trip or a stay (``"YYYY-MM"``), earliest first."""
    user_where, user_params = _user_sql("x", user_id)
    with store.reader() as con:
        names = [r[0] for r in con.sql(
            f"SELECT DISTINCT tz FROM trips x WHERE true{user_where} "
            f"UNION SELECT DISTINCT tz FROM stays x WHERE true{user_where}",
            params=[*user_params, *user_params]).fetchall()]
        zones = _valid_zones(con, names)
        z = _zone_sql("x.tz")
        rows = con.sql(
            f"SELECT DISTINCT strftime(timezone({z}, x.started_at), '%Y-%m') AS m FROM trips x WHERE true{user_where} "
            f"UNION SELECT DISTINCT strftime(timezone({z}, x.started_at), '%Y-%m') FROM stays x WHERE true{user_where} "
            "ORDER BY 1",
            params=[zones, *user_params, zones, *user_params]).fetchall()
    return [r[0] for r in rows]
