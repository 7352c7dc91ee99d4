"""User labels: the mode, occupancy, vehicle or purpose a person gives a trip or a leg.

A label is a row of the catalog's ``labels`` table. It records the target's ``started_at`` and
``finished_at`` besides its ``trip_id``/``leg_id``: IDs may change when points are re-imported,
but the time span does not, and segmentation applies labels by time overlap. So a label survives
re-import and re-segmentation. After storing it, :func:`set_label` re-segments the affected
period (when the segmentation engine is installed) so the footprint changes at once.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from mobco2.errors import NotFoundError, UsageError
from mobco2.schema import MODES

MAX_OCCUPANCY = 99
MAX_PURPOSE_CHARS = 100


def _check(
    mode: str | None, occupancy: int | None, purpose: str | None, vehicle: str | None
) -> tuple[str | None, int | None, str | None, str | None]:
    from mobco2.emissions.profile import parse_vehicle

    if mode is None and occupancy is None and purpose is None and vehicle is None:
        raise UsageError("a label needs at least one of mode, occupancy, purpose or vehicle")
    if mode is not None:
        mode = str(mode).strip().lower()
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}", hint="use one of: " + ", ".join(MODES))
    if occupancy is not None:
        if isinstance(occupancy, bool) or int(occupancy) != occupancy or not 1 <= occupancy <= MAX_OCCUPANCY:
            raise UsageError(
                f"occupancy {occupancy!r} is not a number of people from 1 to {MAX_OCCUPANCY}",
                hint="count everyone in the vehicle, driver included (a carpool of 3 is 3)",
            )
        occupancy = int(occupancy)
    if purpose is not None:
        purpose = " ".join(str(purpose).split())
        if not purpose or len(purpose) > MAX_PURPOSE_CHARS:
            raise UsageError(f"a purpose is 1 to {MAX_PURPOSE_CHARS} characters")
    if vehicle is not None:
        energy, size, unknown = parse_vehicle(vehicle)
        if unknown or (energy is None and size is None):
            from mobco2.emissions.factors import ENERGIES, SIZES

            raise UsageError(
                f"unknown vehicle {vehicle!r}",
                hint="give an energy (" + ", ".join(ENERGIES) + ") and/or a size (" + ", ".join(SIZES) + ")",
            )
        vehicle = " ".join(v for v in (energy, size) if v)
    return mode, occupancy, purpose, vehicle


def _find_target(con: Any, target: str, user_id: str | None) -> dict[str, Any]:
    from mobco2.schema import with_prefix

    found: list[dict[str, Any]] = []
    for kind, table in (("trip", "trips"), ("leg", "legs")):
        # as typed, or with the id's prefix added (``3f9c2a1b7e4d`` for ``t_3f9c2a1b7e4d``)
        wanted = [target.strip(), with_prefix(target, kind)]
        rows = con.execute(
            f"""
            SELECT DISTINCT user_id, trip_id, {"NULL" if kind == "trip" else "leg_id"} AS leg_id,
                   started_at, finished_at
            FROM {table}
            WHERE {kind}_id IN (?, ?) AND (CAST(? AS VARCHAR) IS NULL OR user_id = ?)
            """,
            [*wanted, user_id, user_id],
        ).fetchall()
        found += [
            {"kind": kind, "user_id": r[0], "trip_id": r[1], "leg_id": r[2], "started_at": r[3], "finished_at": r[4]}
            for r in rows
        ]
    if not found:
        raise NotFoundError(
            f"no trip or leg {target!r}" + (f" for user {user_id!r}" if user_id else ""),
            hint="see `mobco2 trips list` for ids",
        )
    users = {f["user_id"] for f in found}
    if len(users) > 1:
        raise UsageError(f"{target!r} exists for several users ({', '.join(sorted(users))})", hint="pass --user")
    hit = found[0]
    key = "leg_id" if hit["kind"] == "leg" else "trip_id"
    hit["modes"] = sorted(
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT mode FROM legs WHERE user_id = ? AND {key} = ? AND mode IS NOT NULL",
            [hit["user_id"], hit[key]],
        ).fetchall()
    )
    return hit


def _mode_for_vehicle_label(found: dict[str, Any], target: str) -> str:
    """The mode an occupancy/vehicle label confirms when none is given: the target's only mode.

    Segmentation applies a label's occupancy and vehicle with its mode, so a label such as "this
    car leg was a carpool of 3" must carry the mode it describes.
    """
    modes = [m for m in found["modes"] if m not in ("unknown", "other")]
    if len(modes) == 1 and len(found["modes"]) == 1:
        return modes[0]
    what = ", ".join(found["modes"]) or "no mode yet"
    raise UsageError(
        f"{target!r} has {what}: say which mode the occupancy or vehicle belongs to",
        hint="add a mode (e.g. --mode car), or label a single leg",
    )


def set_label(
    store: Any,
    target: str,
    mode: str | None = None,
    occupancy: int | None = None,
    purpose: str | None = None,
    vehicle: str | None = None,
    user_id: str | None = None,
    resegment: bool = True,
) -> dict[str, Any]:
    """Label a trip or leg (by id) and re-segment its period so the footprint follows.

    Parameters
    ----------
    store : a :class:`mobco2.store.Store`.
    target : a ``trip_id`` or ``leg_id`` from the store's ``trips``/``legs``.
    mode : a canonical mode (``mobco2.schema.Mode``). With an occupancy or vehicle but no mode,
        the target's current mode is confirmed (refused when a trip has legs in several modes).
    occupancy : people in the vehicle, driver included (≥ 1): a carpool of three is 3.
    purpose : free text (``work``, ``shopping``…).
    vehicle : energy and/or size, e.g. ``"electric"``, ``"petrol small"``.
    user_id : needed only when two users share the id.
    resegment : re-run segmentation over the labelled span (when ``mobco2.segment.segment`` exists).

    Returns the stored label as a dict, with ``resegmented`` (bool).

    Example::

        set_label(store, "t-2024-05-03-0812", mode="car", occupancy=3)
    """
    mode, occupancy, purpose, vehicle = _check(mode, occupancy, purpose, vehicle)
    with store.reader() as con:
        found = _find_target(con, target, user_id)
    if mode is None and (occupancy is not None or vehicle is not None):
        mode = _mode_for_vehicle_label(found, target)
    row = {
        "label_id": uuid.uuid4().hex,
        "user_id": found["user_id"],
        "started_at": found["started_at"],
        "finished_at": found["finished_at"],
        "trip_id": found["trip_id"],
        "leg_id": found["leg_id"],
        "mode": mode,
        "raw_mode": None,
        "occupancy": occupancy,
        "vehicle": vehicle,
        "purpose": purpose,
        "origin": "user",
        "set_at": datetime.now(UTC),
        "import_id": None,
    }
    cols = list(row)
    with store.writer() as w:
        w.con.execute(
            f"INSERT INTO labels ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )
    row["target"] = found["kind"]
    row["resegmented"] = _resegment(store, row) if resegment else False
    return row


def _resegment(store: Any, label: dict[str, Any]) -> bool:
    """Re-run segmentation over the label's days, if the engine is there; True when it ran."""
    try:
        from mobco2 import segment as seg
    except ImportError:
        return False
    run = getattr(seg, "segment", None)
    if run is None:
        return False
    start: datetime = label["started_at"]
    end: datetime = label["finished_at"] or start
    wanted = {
        "user_id": label["user_id"],
        # whole UTC days around the span: segmentation works on whole stays and trips
        "since": (start - timedelta(days=1)).date(),
        "until": (end + timedelta(days=1)).date(),
    }
    params = inspect.signature(run).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in wanted.items() if accepts_any or k in params}
    run(store, **kwargs)
    return True


def list_labels(
    store: Any,
    user_id: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> pa.Table:
    """Labels in the catalog, oldest first; ``since``/``until`` bound ``started_at`` (UTC days, inclusive)."""
    where = ["(CAST(? AS VARCHAR) IS NULL OR user_id = ?)"]
    params: list[Any] = [user_id, user_id]
    if since is not None:
        where.append("started_at >= CAST(? AS TIMESTAMPTZ)")
        params.append(_as_utc(since))
    if until is not None:
        where.append("started_at < CAST(? AS TIMESTAMPTZ)")
        params.append(_as_utc(until) + (timedelta(days=1) if not isinstance(until, datetime) else timedelta(0)))
    with store.reader() as con:
        return con.sql(
            f"SELECT * FROM labels WHERE {' AND '.join(where)} ORDER BY started_at NULLS LAST, set_at",
            params=params,
        ).to_arrow_table()


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)
