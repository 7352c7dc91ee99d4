"""Footprint: a store's legs, their emissions recomputed on the fly, totalled by period or mode.

Emissions are recomputed from each leg's mode, distance, occupancy and vehicle every time, so
choosing another factor set, scope or profile never needs re-segmentation.

Periods are local: each leg counts toward the local day (week, month, year) on which its trip
started, in the trip's time zone (``trips.tz``, else ``legs.tz``, else UTC, counted in the
metadata). A trip crossing local midnight therefore counts entirely toward the day it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.emissions.compute import (
    STATUS_NO_FACTOR,
    STATUS_UNKNOWN,
    STATUSES,
    LegEmissions,
    column_codes,
    factorize,
    leg_emissions,
)
from mobco2.emissions.factors import DEFAULT_SET, FactorSet, check_scope, load_factor_set
from mobco2.emissions.profile import Baseline, Profile
from mobco2.errors import UsageError
from mobco2.schema import SCHEMA_VERSION

BY = ("day", "week", "month", "year", "mode")

_BUCKET = {
    "day": "strftime(local_start, '%Y-%m-%d')",
    "week": "strftime(local_start, '%G-W%V')",
    "month": "strftime(local_start, '%Y-%m')",
    "year": "strftime(local_start, '%Y')",
    "mode": "coalesce(mode, 'unknown')",
}

_LEG_COLUMNS = (
    "started_at",
    "finished_at",
    "mode",
    "distance_m",
    "occupancy",
    "vehicle",
    "speed_median_mps",
    "start_lat",
    "start_lon",
    "end_lat",
    "end_lon",
)


@dataclass
class Footprint:
    """Rows (one per period or mode), the totals, and the metadata every output echoes."""

    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows) if self.rows else pa.table({})


def parse_when(value: str | date | datetime | None, what: str) -> date | datetime | None:
    """``"2024-05-01"`` → a date (a local calendar day); an ISO datetime → a datetime."""
    if value is None or isinstance(value, date | datetime):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--{what} {text!r} is not a date", hint="use YYYY-MM-DD or an ISO 8601 time") from None


_ONE_ROW_PER_TRIP = (
    "(SELECT user_id, trip_id, min(started_at) AS started_at, any_value(tz) AS tz FROM trips GROUP BY ALL)"
)


def read_legs(
    store: Any,
    user_id: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> pa.Table:
    """Legs of the store with their trip's start and time zone (``trip_started_at``, ``tz``: the
    leg's own where its trip row is missing) and ``trip_code``, numbering distinct (user, trip).

    Columns are what emissions and totals need and nothing else: the ids cross as a 64-bit hash,
    as a million id strings would cost more than everything else. Two trips share a hash with
    probability about n²/2⁶⁵ (3·10⁻⁸ for a million trips), which would count them as one trip.

    ``since``/``until`` narrow the read with a day of slack on each side (local days can be up to
    14 h away from UTC); :func:`footprint` applies the exact local bounds.
    """
    cols = ", ".join(f"l.{c}" for c in _LEG_COLUMNS)
    where = ["(CAST(? AS VARCHAR) IS NULL OR l.user_id = ?)"]
    params: list[Any] = [user_id, user_id]
    if since is not None:  # a leg starts no earlier than its trip
        where.append("l.started_at >= CAST(? AS TIMESTAMPTZ)")
        params.append(_utc_slack(since, -1))
    if until is not None:  # a leg of a trip started before `until` may start days later
        where.append("l.started_at < CAST(? AS TIMESTAMPTZ)")
        params.append(_utc_slack(until, +8))
    select = f"""
        SELECT {cols}, coalesce(t.started_at, l.started_at) AS trip_started_at, coalesce(t.tz, l.tz) AS tz,
               hash(l.user_id, l.trip_id) AS trip_key
        FROM legs l LEFT JOIN {{trips}} t ON t.user_id = l.user_id AND t.trip_id = l.trip_id
        WHERE {" AND ".join(where)}
    """
    with store.reader() as con:
        legs = con.sql(select.format(trips="trips"), params=params).to_arrow_table()
        expected = con.sql(f"SELECT count(*) FROM legs l WHERE {' AND '.join(where)}", params=params).fetchall()[0][0]
        if legs.num_rows != expected:  # a trip row stored twice doubled its legs: join one row per trip
            legs = con.sql(select.format(trips=_ONE_ROW_PER_TRIP), params=params).to_arrow_table()
    code, _ = factorize(legs.column("trip_key").to_numpy(zero_copy_only=False))
    return legs.drop_columns(["trip_key"]).append_column("trip_code", pa.array(code.astype(np.int64)))


def _trip_key(table: pa.Table) -> pa.Array:
    key = pc.binary_join_element_wise(table.column("user_id"), table.column("trip_id"), "\x1f")
    return key.combine_chunks() if isinstance(key, pa.ChunkedArray) else key


def _utc_slack(when: date | datetime, days: int) -> datetime:
    if isinstance(when, datetime):
        base = when if when.tzinfo else when.replace(tzinfo=ZoneInfo("UTC"))
    else:
        base = datetime.combine(when, time(0), tzinfo=ZoneInfo("UTC"))
    return base + timedelta(days=days)


def footprint(
    store: Any,
    by: str = "month",
    factors: str | FactorSet = DEFAULT_SET,
    scope: str = "full",
    user_id: str | None = None,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    profile: Profile | Mapping[str, str] | None = None,
    baseline: Baseline | str | None = None,
) -> Footprint:
    """Totals of a store's legs by ``day``, ``week``, ``month``, ``year`` (local time) or ``mode``.

    Parameters
    ----------
    store : a :class:`mobco2.store.Store`.
    by : ``day`` | ``week`` (ISO, ``2024-W05``) | ``month`` | ``year`` | ``mode``.
    factors : factor set id or CSV path (``mobco2 factors list``).
    scope : ``full`` | ``usage`` | ``no-contrails``.
    user_id : one user, or None for everyone in the store.
    since, until : local calendar days, both included (``"2024-05-01"``), or ISO datetimes.
    profile, baseline : see :func:`mobco2.emissions.compute.compute`.

    Each row has ``km``, ``trips``, ``legs``, ``co2e_kg`` (legs with a factor), ``co2e_low_kg`` and
    ``co2e_high_kg`` (bounds including legs without one), ``baseline_co2e_kg``, ``saved_co2e_kg``,
    ``unknown_km`` and ``unknown_share`` (mode unknown or other), ``no_factor_km`` and
    ``no_factor_legs`` (a known mode the set has no factor for).

    Example::

        fp = footprint(Store("~/mobco2"), by="year", scope="usage")
        fp.rows[0]["co2e_kg"], fp.meta["factor_set_id"]
    """
    if by not in BY:
        raise UsageError(f"cannot total by {by!r}", hint="use one of: " + ", ".join(BY))
    check_scope(scope)
    fs = load_factor_set(factors)
    prof = Profile.coerce(profile)
    base = baseline if isinstance(baseline, Baseline) else Baseline(mode=baseline or "car")
    since_v = parse_when(since, "since")
    until_v = parse_when(until, "until")
    legs = read_legs(store, user_id, since_v, until_v)
    em = leg_emissions(legs, fs, scope, prof, base)
    local_us, no_tz = local_start_us(legs)
    rows, totals = aggregate(legs, em, local_us, by, since_v, until_v)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        **fs.meta(),
        "scope": scope,
        "by": by,
        "user_id": user_id,
        "since": since_v.isoformat() if since_v else None,
        "until": until_v.isoformat() if until_v else None,
        "profile": prof.as_dict(),
        "baseline": {"mode": base.mode, "vehicle": base.vehicle, "occupancy": 1},
        "modes_without_factor": fs.modes_without_factor(),
        "legs_without_tz": no_tz,
        "totals": totals,
    }
    return Footprint(rows=rows, totals=totals, meta=meta)


US_PER_DAY = 86_400_000_000
_MEASURES = ("co2e_kg", "co2e_low_kg", "co2e_high_kg", "baseline_co2e_kg", "saved_co2e_kg")


def local_start_us(legs: pa.Table) -> tuple[np.ndarray, int]:
    """Local wall-clock time of each leg's trip start, in µs since 1970, and how many legs had no
    usable time zone (missing or unknown name: taken as UTC). One conversion per distinct zone."""
    utc = legs.column("trip_started_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    utc_us = utc.to_numpy(zero_copy_only=False).astype(np.int64)
    local = utc_us.copy()
    codes, names = column_codes(legs, "tz")
    converted = np.zeros(len(local), dtype=bool)
    for k, name in enumerate(names):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        mask = codes == k
        stamps = pa.array(utc_us[mask], pa.timestamp("us", tz=name))
        local[mask] = pc.local_timestamp(stamps).cast(pa.int64()).to_numpy(zero_copy_only=False)
        converted |= mask
    return local, int((~converted).sum())


def _bucket(by: str, local_us: np.ndarray, legs: pa.Table) -> tuple[np.ndarray, Any]:
    """Integer bucket per leg and a function naming a bucket."""
    if by == "mode":
        mode = legs.column("mode")
        mode = (mode.combine_chunks() if isinstance(mode, pa.ChunkedArray) else mode).dictionary_encode()
        names = [*mode.dictionary.to_pylist(), "unknown"]
        codes = mode.indices.fill_null(len(names) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        return codes, lambda k: names[k]
    day = np.floor_divide(local_us, US_PER_DAY)
    if by == "day":
        return day, lambda k: (date(1970, 1, 1) + timedelta(days=int(k))).isoformat()
    if by == "week":
        monday = day - (day + 3) % 7  # 1970-01-01 was a Thursday
        return monday, lambda k: "{}-W{:02d}".format(*(date(1970, 1, 1) + timedelta(days=int(k))).isocalendar()[:2])
    months = local_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    if by == "month":
        return months, lambda k: f"{1970 + int(k) // 12:04d}-{int(k) % 12 + 1:02d}"
    return months // 12, lambda k: f"{1970 + int(k):04d}"


def _bounds_us(value: date | datetime | None, is_until: bool) -> tuple[int, bool] | None:
    """A since/until bound in µs; the flag says whether it compares UTC (aware) or local time."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return int(value.timestamp() * 1_000_000), True
        local = value
    else:  # a calendar day: until includes the whole day
        local = datetime.combine(value + timedelta(days=1 if is_until else 0), time(0))
    return int((local - datetime(1970, 1, 1)).total_seconds() * 1_000_000), False


def aggregate(
    legs: pa.Table,
    em: LegEmissions,
    local_us: np.ndarray,
    by: str,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Totals per bucket with numpy: one factorisation, then weighted bincounts.

    ``legs`` needs ``distance_m``, ``mode``, ``trip_started_at`` and either ``trip_key`` (from
    :func:`read_legs`) or ``user_id`` and ``trip_id``; ``em`` holds its legs' emissions and
    ``local_us`` their local trip starts (:func:`local_start_us`).
    """
    n = legs.num_rows
    keep = np.ones(n, dtype=bool)
    if since is not None or until is not None:
        utc_us = legs.column("trip_started_at").cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        utc_us = utc_us.to_numpy(zero_copy_only=False)
        for value, is_until in ((since, False), (until, True)):
            bound = _bounds_us(value, is_until)
            if bound is not None:
                at, aware = bound
                t = utc_us if aware else local_us
                keep &= (t < at) if is_until else (t >= at)
    idx = np.flatnonzero(keep) if not keep.all() else None
    if idx is not None:
        legs, local_us = legs.take(idx), local_us[idx]
    key, name = _bucket(by, local_us, legs)
    codes, uniques = _dense(key)
    k = len(uniques)

    def sel(values: np.ndarray) -> np.ndarray:
        values = values if idx is None else values[idx]
        return np.nan_to_num(values, nan=0.0) if values.dtype.kind == "f" else values

    status = sel(em.status)
    unknown = status == STATUSES.index(STATUS_UNKNOWN)
    no_factor = status == STATUSES.index(STATUS_NO_FACTOR)
    km = np.nan_to_num(legs.column("distance_m").to_numpy(zero_copy_only=False).astype(np.float64), nan=0.0) / 1000
    sums = {"km": km}
    measures = (em.co2e_kg, em.low_kg, em.high_kg, em.baseline_kg, em.saved_kg)
    sums.update({m: sel(v) for m, v in zip(_MEASURES, measures, strict=True)})
    sums["unknown_km"] = np.where(unknown, km, 0.0)
    sums["no_factor_km"] = np.where(no_factor, km, 0.0)
    counts = {"legs": None, "no_factor_legs": no_factor.astype(np.float64)}
    # Trips: distinct (user, trip) per bucket; a trip with legs in two modes counts in both.
    if "trip_code" in legs.column_names:  # from read_legs
        trip_codes = legs.column("trip_code").to_numpy(zero_copy_only=False)
    else:
        trip_codes = pc.dictionary_encode(_trip_key(legs)).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_trips = int(trip_codes.max()) + 1 if len(trip_codes) else 1
    if by == "mode":
        pairs = np.unique(codes.astype(np.int64) * n_trips + trip_codes)
        trips = np.bincount(pairs // n_trips, minlength=k)
    else:  # every leg of a trip is in the bucket of the trip's start: one bucket per trip
        bucket_of_trip = np.full(n_trips, -1, dtype=np.int64)
        bucket_of_trip[trip_codes] = codes
        trips = np.bincount(bucket_of_trip[bucket_of_trip >= 0], minlength=k)

    per_bucket = {m: np.bincount(codes, weights=w, minlength=k) for m, w in {**sums, **counts}.items()}
    order = ("km", "trips", "legs", *_MEASURES, "unknown_km", "no_factor_km", "no_factor_legs")
    rows = []
    for b in range(k):
        row: dict[str, Any] = {by: name(uniques[b])}
        for m in order:
            row[m] = (
                int(trips[b]) if m == "trips" else (int(per_bucket[m][b]) if m in counts else float(per_bucket[m][b]))
            )
        rows.append(_with_share(row))
    if by == "mode":
        rows.sort(key=lambda r: (-r["co2e_kg"], r["mode"]))
    totals: dict[str, Any] = {m: float(sums[m].sum()) for m in sums}
    totals.update({"legs": len(codes), "no_factor_legs": int(no_factor.sum())})
    totals["trips"] = int(trips.sum()) if by != "mode" else len(np.unique(trip_codes))
    totals = _with_share({m: totals[m] for m in order})
    return rows, totals


def _dense(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sorted distinct keys) like a sorted factorisation; a bincount when the keys span a
    small range (days, weeks, months, years, modes), which is several times faster."""
    if not len(key):
        return np.zeros(0, dtype=np.intp), key
    lo, hi = int(key.min()), int(key.max())
    if hi - lo > 4 * len(key) + 1_000_000:
        uniques, codes = np.unique(key, return_inverse=True)
        return codes, uniques
    present = np.bincount(key - lo, minlength=hi - lo + 1) > 0
    remap = np.cumsum(present) - 1
    return remap[key - lo], np.flatnonzero(present) + lo


def _with_share(row: dict[str, Any]) -> dict[str, Any]:
    km = row.get("km") or 0.0
    out = {}
    for k, v in row.items():
        out[k] = v
        if k == "unknown_km":
            out["unknown_share"] = (v / km) if km else None
    return out
