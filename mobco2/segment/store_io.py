"""Segmentation against a :class:`~mobco2.store.Store`: incremental, idempotent, month by month.

**What is recomputed.** Results are stored per user and UTC month (the partition of
``stays``/``trips``/``legs`` is the month of ``started_at``). Each month has a fingerprint in the
catalog table ``segment_state``: the Parquet files (path and row count) of ``points``,
``source_segments`` and ``source_visits`` in that month and the two around it, the user's labels touching that
window, the parameters' hash and the emission method's (:func:`emissions_hash`: factor set and
its rows, scope, ``profile.*``, ``emissions.*``), since stored legs carry ``co2e_kg``.
``segment`` recomputes exactly the months whose fingerprint changed (or all of them with
``force``); a re-run with nothing new recomputes nothing.

**Month boundaries.** A month is segmented from the points of a window reaching
:data:`MARGIN` (36 h) before and after it, stretched further to the nearest point beyond each end
so that a long signal gap at the edge is seen as a gap. Of the result it keeps what *starts* in
the month: stays, trips and legs starting in the neighbour months belong to those months'
computations, which see the same data around the boundary. A trip crossing midnight at the end of
the month is thus whole in the month it starts in (its legs after midnight go to the next
month's partition of ``legs``, written by that month's computation from the same window data).
Because both computations run the same deterministic code on the same points near the boundary,
they agree on it, and IDs (a hash of user and start minute) come out identical.

**Emissions.** Just before writing, legs pass through :func:`_apply_emissions`, the single call
point of ``mobco2.emissions.apply`` (skipped when that module is not installed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import NotFoundError, UsageError
from mobco2.schema import EVIDENCE_PRIORITY
from mobco2.segment.params import SegmentParams
from mobco2.segment.pipeline import SegmentResult, segment_points

MARGIN = timedelta(hours=36)
"""How far past each end of a month its computation reads points (see the module docstring)."""

STATE_TABLE = "segment_state"


@dataclass
class SegmentSummary:
    """What one ``segment`` run did."""

    users: list[str] = field(default_factory=list)
    months_recomputed: int = 0
    months_skipped: int = 0
    stays: int = 0
    trips: int = 0
    legs: int = 0
    points_dropped: int = 0  # by cleaning: no time, bad coordinates, inaccurate, repeated times, spikes
    points_outside_trips: int = 0  # kept, but in no stay and no trip (pieces too short or too small to count)
    emissions: bool = False

    def line(self) -> str:
        return (
            f"{len(self.users)} user(s): {self.months_recomputed} month(s) segmented, "
            f"{self.months_skipped} unchanged; {self.stays} stays, {self.trips} trips, {self.legs} legs"
            + (f"; {self.points_dropped} points dropped by cleaning" if self.points_dropped else "")
            + (f"; {self.points_outside_trips} points in no stay or trip" if self.points_outside_trips else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _month_start(y: int, m: int) -> datetime:
    return datetime(y, m, 1, tzinfo=UTC)


def _next_month(y: int, m: int) -> tuple[int, int]:
    return (y + 1, 1) if m == 12 else (y, m + 1)


def _prev_month(y: int, m: int) -> tuple[int, int]:
    return (y - 1, 12) if m == 1 else (y, m - 1)


def _as_dt(value: str | date | datetime | None, end: bool = False) -> datetime | None:
    """A UTC datetime from a day or ISO text; ``end`` makes a day mean its end (inclusive)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"not a date: {value!r}", hint="use YYYY-MM-DD") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return day + timedelta(days=1) if end else day


def _users(con, user_id: str | None) -> list[str]:
    if user_id is not None:
        return [user_id]
    rows = con.execute(
        "SELECT DISTINCT user_id FROM points UNION SELECT DISTINCT user_id FROM source_segments ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _months(con, user: str, since: datetime | None, until: datetime | None) -> list[tuple[int, int]]:
    rows = con.execute(
        """
        SELECT DISTINCT year, month FROM points WHERE user_id = ? AND year > 0
        UNION SELECT DISTINCT year, month FROM source_segments WHERE user_id = ? AND year > 0
        ORDER BY 1, 2
        """,
        [user, user],
    ).fetchall()
    out = []
    for y, m in rows:
        start, end = _month_start(y, m), _month_start(*_next_month(y, m))
        if (since is None or end > since) and (until is None or start < until):
            out.append((int(y), int(m)))
    return out


def emissions_hash() -> str:
    """A short hash of everything that decides the stored ``co2e_kg``: the emission method from
    settings (factor set, scope, ``profile.*``, ``emissions.*``) and the factor set's rows, so an
    edited factor file counts too. A constant when the emissions package is not installed.
    """
    try:
        from mobco2.emissions import method_from_config
        from mobco2.emissions.factors import load_factor_set
    except ImportError:
        return "no-emissions"
    method = method_from_config()
    fs = load_factor_set(method["factors"])
    blob = json.dumps([method, fs.id, fs.version, fs.rows], default=repr, sort_keys=True)
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


def _fingerprint(con, user: str, y: int, m: int, params_hash: str) -> str:
    """Hash of the inputs that can change the month's result (module docstring).

    ``params_hash`` covers the segmentation parameters and the emission method.
    """
    near = [_prev_month(y, m), (y, m), _next_month(y, m)]
    files = con.execute(
        f"""
        SELECT table_name, path, rows FROM parquet_files
        WHERE table_name IN ('points', 'source_segments', 'source_visits') AND user_id = ?
          AND (year, month) IN ({", ".join("(?, ?)" for _ in near)})
        ORDER BY path
        """,
        [user, *[v for ym in near for v in ym]],
    ).fetchall()
    lo, hi = _month_start(y, m) - MARGIN, _month_start(*_next_month(y, m)) + MARGIN
    labels = con.execute(
        """
        SELECT * EXCLUDE (label_id) FROM labels
        WHERE user_id = ? AND (started_at IS NULL OR (started_at < ? AND coalesce(finished_at, started_at) >= ?))
        ORDER BY ALL
        """,
        [user, hi, lo],
    ).fetchall()
    blob = json.dumps([params_hash, files, labels], default=str)
    return hashlib.blake2b(blob.encode(), digest_size=12).hexdigest()


def _stored_state(con, user: str) -> dict[tuple[int, int], str]:
    rows = con.execute(
        f"SELECT year, month, fingerprint FROM {STATE_TABLE} WHERE user_id = ?", [user]
    ).fetchall()
    return {(int(y), int(m)): fp for y, m, fp in rows}


def _window(con, user: str, y: int, m: int) -> tuple[datetime, datetime]:
    """The month ± MARGIN, stretched to the nearest point beyond each end."""
    lo = _month_start(y, m) - MARGIN
    hi = _month_start(*_next_month(y, m)) + MARGIN
    # fetchall, not fetchone: DuckDB keeps a half-read result open and refuses the next query
    before = con.execute("SELECT max(ts) FROM points WHERE user_id = ? AND ts < ?", [user, lo]).fetchall()[0][0]
    after = con.execute("SELECT min(ts) FROM points WHERE user_id = ? AND ts >= ?", [user, hi]).fetchall()[0][0]
    return (before or lo), (after + timedelta(microseconds=1) if after else hi)


def _read_window(con, user: str, lo: datetime, hi: datetime) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    points = con.sql(
        "SELECT * EXCLUDE (year, month) FROM points WHERE user_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
        params=[user, lo, hi],
    ).to_arrow_table()
    segments = con.sql(
        """
        SELECT * EXCLUDE (year, month) FROM source_segments
        WHERE user_id = ? AND started_at < ? AND finished_at > ? ORDER BY started_at
        """,
        params=[user, hi, lo],
    ).to_arrow_table()
    visits = con.sql(
        """
        SELECT * EXCLUDE (year, month) FROM source_visits
        WHERE user_id = ? AND started_at < ? AND finished_at > ? ORDER BY started_at
        """,
        params=[user, hi, lo],
    ).to_arrow_table()
    labels = con.sql(
        """
        SELECT * EXCLUDE (label_id) FROM labels
        WHERE user_id = ? AND (started_at IS NULL OR (started_at < ? AND coalesce(finished_at, started_at) > ?))
        ORDER BY set_at, label_id
        """,
        params=[user, hi, lo],
    ).to_arrow_table()
    return points, segments, visits, labels


def _in_month(table: pa.Table, y: int, m: int, column: str = "started_at") -> pa.Table:
    lo = pa.scalar(_month_start(y, m), pa.timestamp("us", tz="UTC"))
    hi = pa.scalar(_month_start(*_next_month(y, m)), pa.timestamp("us", tz="UTC"))
    col = table.column(column)
    return table.filter(pc.and_(pc.greater_equal(col, lo), pc.less(col, hi)))


def _apply_emissions(legs: pa.Table, trips: pa.Table) -> tuple[pa.Table, pa.Table, bool]:
    """THE call point of ``mobco2.emissions.apply`` (legs' co2e_kg, baseline, factor_id).

    Skipped, leaving those columns null, when the emissions package is not there; trips get the
    sum of their legs' ``co2e_kg`` (null when no leg has one).
    """
    try:
        from mobco2.emissions import apply, method_from_config
    except ImportError:
        return legs, trips, False
    legs = apply(legs, **method_from_config())
    if trips.num_rows:
        df = legs.select(["trip_id", "co2e_kg"]).to_pandas()
        sums = df.groupby("trip_id")["co2e_kg"].sum(min_count=1)
        trip_ids = trips.column("trip_id").to_pylist()
        values = np.array([sums.get(t, np.nan) for t in trip_ids], dtype=float)
        i = trips.column_names.index("co2e_kg")
        trips = trips.set_column(
            i, trips.schema.field(i), pa.array(values, pa.float64(), mask=~np.isfinite(values))
        )
    return legs, trips, True


def segment_month(con, user: str, y: int, m: int, params: SegmentParams, explain: bool = False) -> SegmentResult:
    """Segment one user's month from its window; the result keeps what starts in the month."""
    lo, hi = _window(con, user, y, m)
    points, segments, visits, labels = _read_window(con, user, lo, hi)
    res = segment_points(points, segments, labels, params, source_visits=visits, user_id=user, explain=explain)
    if not explain:
        legs, trips, _ = _apply_emissions(res.legs, res.trips)
        res.legs, res.trips = legs, trips
    res.stays = _in_month(res.stays, y, m)
    res.trips = _in_month(res.trips, y, m)
    res.legs = _in_month(res.legs, y, m)
    res.points_dropped, res.points_outside = _month_counts(points, res, y, m)
    return res


def _month_counts(points: pa.Table, res: SegmentResult, y: int, m: int) -> tuple[int, int]:
    """The month's points that cleaning dropped, and those it kept that fell in no stay or trip.

    Counted over the month alone: the window it is segmented in overlaps the next month's."""
    lo = int(_month_start(y, m).timestamp() * 1_000_000)
    hi = int(_month_start(*_next_month(y, m)).timestamp() * 1_000_000)

    def within(us: np.ndarray | None) -> int:
        return 0 if us is None else int(((us >= lo) & (us < hi)).sum())

    ts = points.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False) if points.num_rows else None
    return max(within(ts) - within(res.kept_us), 0), within(res.outside_us)


def segment(
    store: Any,
    user_id: str | None = None,
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    force: bool = False,
    params: SegmentParams | None = None,
    progress: Callable[[str], None] | None = None,
) -> SegmentSummary:
    """Segment the store's points into stays, trips and legs, recomputing only what changed.

    Parameters
    ----------
    store : mobco2.Store
    user_id : one user, or None for every user with points or source segments.
    since, until : UTC days (inclusive) or datetimes bounding the months considered.
    force : recompute every month in range even when its inputs did not change.
    params : thresholds; default from config (``segment.*`` settings).
    progress : called with a short message per month recomputed.

    Example::

        summary = segment(Store("~/mobco2"), user_id="me", since="2024-01-01")
    """
    if params is None:
        from mobco2 import config

        params = SegmentParams.from_config(config.load())
    p_hash = params.params_hash()
    fp_hash = f"{p_hash}:{emissions_hash()}"  # new factors or profile: stored co2e_kg is stale
    lo, hi = _as_dt(since), _as_dt(until, end=True)
    summary = SegmentSummary()
    with store.writer() as w:
        con = w.con
        for user in _users(con, user_id):
            summary.users.append(user)
            stored = _stored_state(con, user)
            todo: list[tuple[tuple[int, int], str]] = []
            for ym in _months(con, user, lo, hi):
                fp = _fingerprint(con, user, *ym, fp_hash)
                if not force and stored.get(ym) == fp:
                    summary.months_skipped += 1
                else:
                    todo.append((ym, fp))
            if not todo:
                continue
            results = {}
            for ym, _ in todo:
                if progress:
                    progress(f"segmenting {user} {ym[0]}-{ym[1]:02d}")
                res = segment_month(con, user, *ym, params)
                results[ym] = res
                summary.stays += res.stays.num_rows
                summary.trips += res.trips.num_rows
                summary.legs += res.legs.num_rows
                summary.points_dropped += res.points_dropped
                summary.points_outside_trips += res.points_outside
            months = [ym for ym, _ in todo]
            for name in ("stays", "trips", "legs"):
                tables = [getattr(results[ym], name) for ym in months]
                w.replace(name, pa.concat_tables(tables), user_id=user, months=months)
            now = datetime.now(UTC)
            for (y, m), fp in todo:
                con.execute(f"DELETE FROM {STATE_TABLE} WHERE user_id = ? AND year = ? AND month = ?", [user, y, m])
                con.execute(
                    f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?)", [user, y, m, fp, p_hash, now]
                )
            summary.months_recomputed += len(todo)
    try:
        import mobco2.emissions  # noqa: F401

        summary.emissions = True
    except ImportError:
        summary.emissions = False
    return summary


def explain(store: Any, trip_id: str, params: SegmentParams | None = None) -> dict[str, Any]:
    """Why each leg of ``trip_id`` got its mode: evidence, features, the rule and its thresholds.

    Recomputes the trip's month (nothing is written) with the current parameters.
    Raises :class:`~mobco2.errors.NotFoundError` for an unknown trip id.
    """
    from mobco2.schema import with_prefix

    if params is None:
        from mobco2 import config

        params = SegmentParams.from_config(config.load())
    with store.reader() as con:
        row = con.execute(
            "SELECT user_id, started_at, finished_at, distance_m, main_mode, year, month, trip_id FROM trips "
            "WHERE trip_id IN (?, ?) ORDER BY trip_id = ? DESC",  # as typed, or with the t_ prefix added
            [trip_id.strip(), with_prefix(trip_id, "trip"), trip_id.strip()],
        ).fetchall()
        row = row[0] if row else None
        if row is None:
            raise NotFoundError(f"no trip {trip_id!r} in the store", hint="list trips with `mobco2 trips list`")
        user, started, finished, distance, main_mode, y, m, trip_id = row
        res = segment_month(con, user, int(y), int(m), params, explain=True)
    legs = (res.explanations or {}).get(trip_id)
    if legs is None:
        raise NotFoundError(
            f"trip {trip_id!r} no longer comes out of segmentation with the current data or settings",
            hint="run `mobco2 segment` to refresh the stored trips",
        )
    return {
        "trip_id": trip_id,
        "user_id": user,
        "started_at": started,
        "finished_at": finished,
        "distance_m": distance,
        "main_mode": main_mode,
        "priority": list(EVIDENCE_PRIORITY),
        **(res.trip_ends or {}).get(trip_id, {}),
        "legs": legs,
    }
