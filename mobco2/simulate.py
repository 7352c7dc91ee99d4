"""Simulate a person's movements as GPS fixes, with the ground truth of stays, trips and legs.

The demo data set (``sample_data/generate.py``) is built with it; tests and benchmarks can use it
to get realistic traces whose answer is known. Everything is deterministic given a seed.

Model, in two steps:

1. :func:`simulate_trajectory` turns a *timeline* — :class:`Stay` and :class:`Trip` alternating —
   into true motion. A trip is a sequence of :class:`Leg`, each one mode along a polyline of
   waypoints, optionally preceded by a transfer wait (on a platform, at a bus stop). Along each leg
   the speed follows the mode's :class:`ModeProfile`: cruising speed, slowdowns at sharp turns,
   random stops (traffic lights, bus stops: short waits that are *not* stays), scheduled stops
   (station dwells), and bounded acceleration and deceleration. :func:`leg_motion` computes it; it
   lives with the profiles in :mod:`mobco2.simulate_motion`, whose docstring gives the model, and is
   re-exported here with them.
2. :meth:`Trajectory.sample` records that motion the way a tracking app does (:class:`Logger`):
   a fix every few seconds while travelling, sparse fixes (or none) at stays, Gaussian position
   error with a slowly varying bias, occasional 50–200 m jumps, fused low-accuracy fixes, random
   dropouts and signal gaps (tunnels, underground).

Units: metres, seconds, m/s, degrees (WGS 84); times are UTC (``timestamp[us, tz=UTC]`` in tables,
epoch seconds inside).

Example::

    from datetime import datetime, timedelta, UTC
    from mobco2.simulate import Place, Stay, Trip, Leg, Logger, simulate_trajectory

    home, work = Place("home", 46.1830, -1.1560), Place("work", 46.1423, -1.1532)
    t0 = datetime(2025, 9, 1, 6, 0, tzinfo=UTC)
    traj = simulate_trajectory(
        [Stay(home, until=t0 + timedelta(hours=2)),
         Trip([Leg("bike", [(home.lat, home.lon), (46.16, -1.155), (work.lat, work.lon)])]),
         Stay(work, until=t0 + timedelta(hours=11))],
        start=t0, seed=1)
    fixes = traj.sample(Logger(moving_interval_s=10, stay_interval_s=60), seed=2)
    traj.legs.column("distance_m")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.simulate_motion import (
    EARTH_RADIUS_M,
    PROFILES,
    LegMotion,
    ModeProfile,
    haversine_m,
    leg_motion,
    path_length_m,
)

__all__ = [
    "EARTH_RADIUS_M",
    "PROFILES",
    "Leg",
    "LegMotion",
    "Logger",
    "ModeProfile",
    "Place",
    "Stay",
    "Trajectory",
    "Trip",
    "haversine_m",
    "leg_motion",
    "path_length_m",
    "simulate",
    "simulate_trajectory",
]

TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Place:
    """Where stays happen: centre (degrees), elevation (m), and how far the person wanders (m)."""

    name: str
    lat: float
    lon: float
    ele_m: float = 10.0
    radius_m: float = 15.0


@dataclass(frozen=True)
class Stay:
    """Being at ``place`` until ``until`` (an aware datetime), or for ``duration_s`` seconds."""

    place: Place
    until: datetime | None = None
    duration_s: float | None = None


@dataclass(frozen=True)
class Leg:
    """One mode along a polyline of ``(lat, lon)`` waypoints (degrees).

    ``speeds_mps``: cruising speed per path segment (``len(path) - 1`` values), else the profile's.
    ``stops``: scheduled stops as ``(waypoint index, dwell s)``: stations, a change inside the metro.
    ``gaps_m``: along-track ranges ``(from m, to m)`` with no GPS signal; ``underground``: none at all.
    ``wait_before_s``: transfer wait at the leg's start (bus stop, platform), part of the trip.
    ``occupancy`` (people aboard a car, driver included) and ``note`` are carried to the ground truth.
    """

    mode: str
    path: Sequence[tuple[float, float]]
    profile: ModeProfile | None = None
    speeds_mps: Sequence[float] | None = None
    stops: Sequence[tuple[int, float]] = ()
    gaps_m: Sequence[tuple[float, float]] = ()
    underground: bool = False
    wait_before_s: float = 0.0
    occupancy: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Trip:
    """Legs travelled one after another between two stays; ``purpose`` and ``label`` are free text."""

    legs: Sequence[Leg]
    purpose: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Logger:
    """How a tracking app records fixes.

    ``moving_interval_s``: time between fixes while travelling (s), jittered by ``interval_jitter_s``.
    ``stay_interval_s``: time between fixes at a stay; after ``idle_after_s`` at the same stay the
    app slows to ``idle_interval_s``. ``stay_interval_s=None``: no fixes at stays except the first
    ``stay_tail_s`` seconds (at the moving rate), as e-mission does while it decides the trip ended.
    ``trip_start_geofence_m``: fixes begin only once the first leg is this far along (e-mission waits
    for a 100 m geofence exit).
    ``noise_m``: per-axis standard deviation of the position error outdoors (m); ``stay_noise_m``
    indoors. Reported ``accuracy_m`` is the 68 % radius (1.51 σ), as Android reports it.
    ``jump_prob``: chance per fix of a ``jump_m`` (range, m) outlier; ``fused_prob``: chance of a
    network/fused fix (accuracy 15–40 m, speed 0); ``dropout_prob``: chance a fix is missing.
    """

    moving_interval_s: float = 10.0
    stay_interval_s: float | None = 60.0
    idle_after_s: float | None = None
    idle_interval_s: float = 300.0
    stay_tail_s: float = 0.0
    interval_jitter_s: float = 1.0
    trip_start_geofence_m: float = 0.0
    noise_m: float = 5.0
    stay_noise_m: float = 12.0
    jump_prob: float = 0.003
    jump_m: tuple[float, float] = (50.0, 200.0)
    fused_prob: float = 0.0
    dropout_prob: float = 0.0


@dataclass
class _Phase:
    kind: str  # "stay" | "transfer" | "leg"
    index: int  # into stays, transfers or legs
    t0: float
    t1: float
    lat: float = 0.0  # stays and transfers: where
    lon: float = 0.0
    ele_m: float = 10.0
    radius_m: float = 5.0
    motion: LegMotion | None = None


@dataclass
class Trajectory:
    """True motion over a period plus its ground truth tables.

    ``stays``: stay_index, place, started_at, finished_at, lat, lon, ele_m.
    ``trips``: trip_index, started_at, finished_at, origin, destination, n_legs, distance_m,
    main_mode (mode of the longest leg), purpose, label.
    ``legs``: leg_index, trip_index, leg_in_trip, mode, started_at, finished_at, distance_m,
    start/end lat/lon, n_stops (stops with a wait inside the leg), occupancy, note.
    ``transfers``: trip_index, before_leg_index, started_at, finished_at, lat, lon (waits between legs).
    """

    start: float
    end: float
    phases: list[_Phase]
    stays: pa.Table
    trips: pa.Table
    legs: pa.Table
    transfers: pa.Table
    _starts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._starts = np.array([p.t0 for p in self.phases])

    def state_at(self, ts: np.ndarray) -> dict[str, np.ndarray]:
        """The truth at epoch seconds ``ts``: ``kind`` (stay/transfer/leg), ``index``, ``speed_mps``, ``mode``.

        ``mode`` is the leg's mode, or ``""`` outside legs.
        """
        ts = np.asarray(ts, dtype=float)
        which = np.clip(np.searchsorted(self._starts, ts, side="right") - 1, 0, len(self.phases) - 1)
        kind = np.array([p.kind for p in self.phases])[which]
        index = np.array([p.index for p in self.phases])[which]
        speed = np.zeros(len(ts))
        modes = np.array([*self.legs.column("mode").to_pylist(), ""], dtype=object)
        mode = np.where(kind == "leg", modes[np.where(kind == "leg", index, -1)], "")
        for k in np.unique(which[kind == "leg"]):
            p = self.phases[k]
            sel = which == k
            speed[sel] = np.interp(ts[sel] - p.t0, p.motion.t, p.motion.v)
        return {"kind": kind, "index": index, "speed_mps": speed, "mode": mode.astype(str)}

    def sample(
        self, logger: Logger | None = None, start: datetime | None = None, end: datetime | None = None, seed: int = 0
    ) -> pa.Table:
        """Fixes as a tracking app would record them between ``start`` and ``end`` (default: all).

        Columns: ts (UTC), lat, lon (degrees), accuracy_m, altitude_m, speed_mps, heading_deg
        (null when still), then the truth: true_lat, true_lon, phase (stay/transfer/leg),
        stay_index, leg_index (-1 when not in one), is_jump, is_fused.
        """
        return _sample(self, logger or Logger(), _epoch(start, self.start), _epoch(end, self.end), seed)


def _epoch(value: datetime | None, default: float) -> float:
    if value is None:
        return default
    if value.tzinfo is None:
        raise ValueError(f"time {value.isoformat()} has no time zone; pass an aware datetime")
    return value.timestamp()


def _rng(seed: int, *keys: int) -> np.random.Generator:
    # one independent stream per event, so editing one day of a timeline leaves the others unchanged
    return np.random.default_rng([seed, *keys])


def simulate_trajectory(
    timeline: Sequence[Stay | Trip], start: datetime, seed: int = 0, continuity_m: float = 50.0
) -> Trajectory:
    """True motion and ground truth for a timeline that begins with a stay at ``start``.

    Stays and trips alternate, beginning and ending with a stay. A stay ends at its ``until`` (or after
    ``duration_s``); a trip starts when the stay before it ends and takes as long as its legs do.
    Each leg must start within ``continuity_m`` of where the person is. Raises ``ValueError`` when the
    timeline is malformed or a trip arrives after the following stay's ``until``.
    """
    if not timeline or not isinstance(timeline[0], Stay) or not isinstance(timeline[-1], Stay):
        raise ValueError("a timeline must begin and end with a Stay")
    t = _epoch(start, 0.0)
    phases: list[_Phase] = []
    stays: list[dict] = []
    trips: list[dict] = []
    legs: list[dict] = []
    transfers: list[dict] = []
    here: tuple[float, float] | None = None
    for k, event in enumerate(timeline):
        prev = timeline[k - 1] if k else None
        if isinstance(event, Stay):
            if isinstance(prev, Stay):
                raise ValueError(f"timeline item {k}: two stays in a row ({prev.place.name}, {event.place.name})")
            p = event.place
            if here is not None and haversine_m(here[0], here[1], p.lat, p.lon) > continuity_m + p.radius_m:
                raise ValueError(f"timeline item {k}: the trip before ends away from {p.name}")
            end = t + event.duration_s if event.duration_s is not None else _epoch(event.until, np.nan)
            if not end > t:
                raise ValueError(f"timeline item {k}: stay at {p.name} ends before it starts (trip arrives late)")
            phases.append(_Phase("stay", len(stays), t, end, p.lat, p.lon, p.ele_m, p.radius_m))
            stays.append({"place": p.name, "started_at": t, "finished_at": end, "lat": p.lat, "lon": p.lon,
                          "ele_m": p.ele_m})  # fmt: skip
            here, t = (p.lat, p.lon), end
            continue
        if not isinstance(event, Trip) or not event.legs:
            raise ValueError(f"timeline item {k}: expected a Stay or a Trip with legs")
        nxt = timeline[k + 1]
        if not isinstance(nxt, Stay):
            raise ValueError(f"timeline item {k}: a trip must be followed by a stay")
        trip_index, trip_t0, trip_legs = len(trips), t, []
        ele = prev.place.ele_m
        for j, leg in enumerate(event.legs):
            lat0, lon0 = leg.path[0][0], leg.path[0][1]
            if haversine_m(here[0], here[1], lat0, lon0) > continuity_m + (prev.place.radius_m if j == 0 else 0):
                raise ValueError(f"timeline item {k}, leg {j} ({leg.mode}): starts away from where the person is")
            if leg.wait_before_s > 0:
                phases.append(_Phase("transfer", len(transfers), t, t + leg.wait_before_s, lat0, lon0, ele, 5.0))
                transfers.append({"trip_index": trip_index, "before_leg_index": len(legs), "started_at": t,
                                  "finished_at": t + leg.wait_before_s, "lat": lat0, "lon": lon0})  # fmt: skip
                t += leg.wait_before_s
            last = j == len(event.legs) - 1
            motion = leg_motion(leg, _rng(seed, k, j), ele, nxt.place.ele_m if last else ele)
            phases.append(_Phase("leg", len(legs), t, t + float(motion.t[-1]), motion=motion))
            legs.append({
                "trip_index": trip_index, "leg_in_trip": j, "mode": leg.mode, "started_at": t,
                "finished_at": t + float(motion.t[-1]), "distance_m": float(motion.cum_m[-1]),
                "start_lat": float(motion.lat[0]), "start_lon": float(motion.lon[0]),
                "end_lat": float(motion.lat[-1]), "end_lon": float(motion.lon[-1]),
                "n_stops": motion.n_stops, "occupancy": leg.occupancy, "note": leg.note,
            })  # fmt: skip
            trip_legs.append(legs[-1])
            t = legs[-1]["finished_at"]
            ele = float(motion.ele[-1])
            here = (float(motion.lat[-1]), float(motion.lon[-1]))
        main = max(trip_legs, key=lambda leg: leg["distance_m"])
        trips.append({
            "started_at": trip_t0, "finished_at": t, "origin": prev.place.name, "destination": nxt.place.name,
            "n_legs": len(trip_legs), "distance_m": float(sum(leg["distance_m"] for leg in trip_legs)),
            "main_mode": main["mode"], "purpose": event.purpose, "label": event.label,
        })  # fmt: skip
    return Trajectory(
        start=_epoch(start, 0.0), end=t, phases=phases,
        stays=_table(stays, "stay_index"), trips=_table(trips, "trip_index"),
        legs=_table(legs, "leg_index"), transfers=_table(transfers, "transfer_index"),
    )  # fmt: skip


def _table(rows: list[dict], index_name: str) -> pa.Table:
    if not rows:
        return pa.table({index_name: pa.array([], pa.int32())})
    cols: dict[str, pa.Array] = {index_name: pa.array(np.arange(len(rows), dtype=np.int32))}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key in ("started_at", "finished_at"):
            cols[key] = pa.array(np.rint(np.array(values) * 1e6).astype("int64"), pa.int64()).cast(TS)
        elif key in ("trip_index", "before_leg_index", "leg_in_trip", "n_legs", "n_stops", "occupancy"):
            cols[key] = pa.array(values, pa.int32())
        elif key in ("place", "origin", "destination", "mode", "main_mode", "purpose", "label", "note"):
            cols[key] = pa.array(values, pa.string())
        else:
            cols[key] = pa.array(values, pa.float64())
    return pa.table(cols)


def simulate(
    timeline: Sequence[Stay | Trip], start: datetime, logger: Logger | None = None, seed: int = 0
) -> tuple[pa.Table, Trajectory]:
    """Fixes and ground truth in one call: ``simulate_trajectory`` then ``Trajectory.sample``."""
    traj = simulate_trajectory(timeline, start, seed)
    return traj.sample(logger, seed=seed), traj


def _phase_times(p: _Phase, lg: Logger, next_t: float, lo: float, hi: float, rng: np.random.Generator):
    """Sampling times inside one phase (within [lo, hi)), and when the next fix is due."""
    t0, t1 = max(p.t0, lo), min(p.t1, hi)
    if t1 <= t0:
        return np.array([]), next_t
    if p.kind == "stay":
        if lg.stay_interval_s is None:
            plan = [(p.t0 + lg.stay_tail_s, lg.moving_interval_s)]
        elif lg.idle_after_s is None:
            plan = [(p.t1, lg.stay_interval_s)]
        else:
            plan = [(p.t0 + lg.idle_after_s, lg.stay_interval_s), (p.t1, lg.idle_interval_s)]
    else:
        plan = [(p.t1, lg.moving_interval_s)]
        # moving again: an app idling at a slow stay rate wakes up within one moving interval
        next_t = min(next_t, p.t0 + float(rng.uniform(0.0, lg.moving_interval_s)))
    out = []
    cur = max(next_t, t0)
    for until, step in plan:
        until = min(until, t1)
        if cur >= until:
            continue
        m = int(np.ceil((until - cur) / max(step - lg.interval_jitter_s, 0.5))) + 1
        steps = step + rng.uniform(-lg.interval_jitter_s, lg.interval_jitter_s, m)
        times = cur + np.concatenate([[0.0], np.cumsum(steps[:-1])])
        inside = times < until
        out.append(times[inside])
        cur = float(times[inside][-1] + steps[int(inside.sum()) - 1]) if inside.any() else cur
    if p.kind == "stay" and lg.stay_interval_s is None:
        cur = max(cur, p.t1)  # tracking sleeps until the next trip starts
    times = np.concatenate(out) if out else np.array([])
    return times, cur


def _sample(traj: Trajectory, lg: Logger, lo: float, hi: float, seed: int) -> pa.Table:
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("t", "lat", "lon", "ele", "v", "hdg", "sigma", "kind",
                                                          "stay", "leg")}  # fmt: skip
    next_t = lo
    kinds = {"stay": 0, "transfer": 1, "leg": 2}
    trip_first_leg = set(traj.legs.filter(pc.equal(traj.legs["leg_in_trip"], 0))["leg_index"].to_pylist()) \
        if traj.legs.num_rows else set()  # fmt: skip
    for k, p in enumerate(traj.phases):
        if p.t1 <= lo or p.t0 >= hi:
            continue
        rng = _rng(seed, 1, k)
        times, next_t = _phase_times(p, lg, next_t, lo, hi, rng)
        n = times.size
        if p.kind == "leg":
            m = p.motion
            rel = times - p.t0
            s = np.interp(rel, m.t, m.s)
            keep = np.ones(n, bool)
            if m.underground:
                keep[:] = False
            for g0, g1 in m.gaps_m:
                keep &= ~((s >= g0) & (s <= g1))
            if p.index in trip_first_leg and lg.trip_start_geofence_m > 0:
                keep &= s >= lg.trip_start_geofence_m
            times, s, rel = times[keep], s[keep], rel[keep]
            n = times.size
            lat, lon = np.interp(s, m.cum_m, m.lat), np.interp(s, m.cum_m, m.lon)
            ele = np.interp(s, m.cum_m, m.ele)
            v = np.interp(rel, m.t, m.v)
            seg = np.clip(np.searchsorted(m.cum_m, s, side="right") - 1, 0, m.bearing.size - 1)
            hdg = np.where(v > 0.3, m.bearing[seg], np.nan)
            sigma = np.full(n, lg.noise_m * m.noise_factor)
        else:
            # the person wanders inside the place: a new spot every ten minutes, walked to smoothly
            knots = np.arange(p.t0, p.t1 + 600.0, 600.0)
            r = p.radius_m * np.sqrt(rng.random(knots.size))
            ang = rng.uniform(0, 2 * np.pi, knots.size)
            north, east = np.interp(times, knots, r * np.cos(ang)), np.interp(times, knots, r * np.sin(ang))
            lat, lon = _offset(np.full(n, p.lat), np.full(n, p.lon), north, east)
            ele, v, hdg = np.full(n, p.ele_m), np.zeros(n), np.full(n, np.nan)
            sigma = np.full(n, lg.stay_noise_m if p.kind == "stay" else lg.noise_m * 1.5)
        cols["t"].append(times)
        cols["lat"].append(lat)
        cols["lon"].append(lon)
        cols["ele"].append(ele)
        cols["v"].append(v)
        cols["hdg"].append(hdg)
        cols["sigma"].append(sigma)
        cols["kind"].append(np.full(n, kinds[p.kind], np.int8))
        cols["stay"].append(np.full(n, p.index if p.kind == "stay" else -1, np.int32))
        cols["leg"].append(np.full(n, p.index if p.kind == "leg" else -1, np.int32))
    c = {k: (np.concatenate(v) if v else np.array([])) for k, v in cols.items()}
    return _add_errors(c, lg, _rng(seed, 2), lo)


def _offset(lat: np.ndarray, lon: np.ndarray, north_m: np.ndarray, east_m: np.ndarray):
    dlat = np.degrees(north_m / EARTH_RADIUS_M)
    dlon = np.degrees(east_m / (EARTH_RADIUS_M * np.cos(np.radians(lat))))
    return lat + dlat, lon + dlon


def _add_errors(c: dict[str, np.ndarray], lg: Logger, rng: np.random.Generator, t_origin: float) -> pa.Table:
    """GPS error model over all fixes at once: accuracy, Gaussian error with a slow bias, jumps, fused fixes."""
    n = c["t"].size
    keep = rng.random(n) >= lg.dropout_prob
    fused = rng.random(n) < lg.fused_prob
    jump = rng.random(n) < lg.jump_prob
    # reported accuracy varies around the model's σ; the actual error is drawn from it (68 % radius = 1.51 σ)
    accuracy = 1.51 * c["sigma"] * np.exp(0.3 * rng.standard_normal(n))
    accuracy = np.where(fused, rng.uniform(15.0, 40.0, n), accuracy)
    sigma = accuracy / 1.51
    # half the variance is a bias that drifts over a few minutes (multipath, satellite geometry)
    span = (c["t"].max() - t_origin) if n else 0.0
    knots = t_origin + np.arange(0.0, span + 240.0, 120.0)
    bias_n = np.interp(c["t"], knots, rng.standard_normal(knots.size))
    bias_e = np.interp(c["t"], knots, rng.standard_normal(knots.size))
    north = sigma * (np.sqrt(0.5) * rng.standard_normal(n) + np.sqrt(0.5) * bias_n)
    east = sigma * (np.sqrt(0.5) * rng.standard_normal(n) + np.sqrt(0.5) * bias_e)
    dist = rng.uniform(*lg.jump_m, n)
    ang = rng.uniform(0.0, 2 * np.pi, n)
    north = np.where(jump, dist * np.cos(ang), north)
    east = np.where(jump, dist * np.sin(ang), east)
    accuracy = np.where(jump, dist * rng.uniform(0.3, 1.2, n), accuracy)
    lat, lon = _offset(c["lat"], c["lon"], north, east)
    # GPS altitude is worse than the horizontal fix and drifts rather than jumps
    bias_u = np.interp(c["t"], knots, rng.standard_normal(knots.size))
    alt = c["ele"] + sigma * (1.2 * bias_u + 0.4 * rng.standard_normal(n))
    speed = np.clip(c["v"] + (0.15 + 0.02 * c["v"]) * rng.standard_normal(n), 0.0, None)
    speed = np.where(c["v"] == 0, np.abs(0.1 * rng.standard_normal(n)), speed)
    speed = np.where(fused, 0.0, speed)
    kind = np.array(["stay", "transfer", "leg"])[c["kind"].astype(int)] if n else np.array([], str)
    ts_us = np.rint(c["t"] * 1e6).astype("int64")
    table = pa.table({
        "ts": pa.array(ts_us, pa.int64()).cast(TS),
        "lat": pa.array(lat, pa.float64()), "lon": pa.array(lon, pa.float64()),
        "accuracy_m": pa.array(accuracy, pa.float32()), "altitude_m": pa.array(alt, pa.float32()),
        "speed_mps": pa.array(speed, pa.float32()),
        "heading_deg": pa.array(c["hdg"], pa.float32(), from_pandas=True),  # null when still
        "true_lat": pa.array(c["lat"], pa.float64()), "true_lon": pa.array(c["lon"], pa.float64()),
        "phase": pa.array(kind, pa.string()), "stay_index": pa.array(c["stay"].astype(np.int32)),
        "leg_index": pa.array(c["leg"].astype(np.int32)), "is_jump": pa.array(jump), "is_fused": pa.array(fused),
    })  # fmt: skip
    return table.filter(pa.array(keep))
