"""Leg kinematics for :mod:`mobco2.simulate`: how each mode moves along a path, and when it stops.

:func:`leg_motion` turns one :class:`~mobco2.simulate.Leg` — one mode along a polyline of waypoints —
into its true motion (:class:`LegMotion`). The speed follows the mode's :class:`ModeProfile`: cruising
speed (per path segment if given) with a slow random variation, slowdowns at sharp turns, random stops
(traffic lights, bus stops: short waits that are *not* stays), scheduled stops (station dwells), and
bounded acceleration and deceleration. The profile is the largest speed that obeys the bounds:
``v²(s) = min_j (v_max²(s_j) + 2·a·|s − s_j|)``, computed over the whole leg with cumulative minima;
time is the trapezoidal integral of ``ds / v``.

The timeline, the ground truth tables and the GPS logger model live in :mod:`mobco2.simulate`, which
re-exports every public name of this module: import them from there.

Units: metres, seconds, m/s, m/s², degrees (WGS 84).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mobco2.simulate import Leg


EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (m, IUGG) of the haversine distances."""


@dataclass(frozen=True)
class ModeProfile:
    """How a traveller or vehicle of one mode moves along a path.

    ``cruise_mps``: default cruising speed (m/s) where a leg gives no per-segment speed.
    ``cruise_jitter``: relative standard deviation of the slow random variation of that speed.
    ``accel_mps2`` / ``decel_mps2``: comfortable acceleration and braking (m/s²).
    ``stop_spacing_m``: range of distances between potential stops (lights, crossings, bus stops);
    each is an actual stop with probability ``stop_prob`` and lasts ``stop_wait_s`` (uniform range, s).
    Stops only happen on path segments no faster than ``stops_below_mps`` (no lights on a ring road).
    ``turn_speed_mps``: speed limit at a waypoint where the path turns by more than 40°.
    ``noise_factor``: GPS error multiplier inside this vehicle (a train carriage degrades the fix).
    """

    mode: str
    cruise_mps: float
    cruise_jitter: float = 0.08
    accel_mps2: float = 1.0
    decel_mps2: float = 1.5
    stop_spacing_m: tuple[float, float] | None = None
    stop_prob: float = 0.0
    stop_wait_s: tuple[float, float] = (5.0, 30.0)
    stops_below_mps: float = 15.0
    turn_speed_mps: float | None = None
    noise_factor: float = 1.0


PROFILES: dict[str, ModeProfile] = {
    "walk": ModeProfile("walk", 1.35, 0.08, 0.5, 0.8, (120, 300), 0.3, (5, 35)),
    "bike": ModeProfile("bike", 4.6, 0.12, 0.7, 1.5, (250, 600), 0.35, (5, 45), turn_speed_mps=3.5),
    "car": ModeProfile("car", 13.9, 0.10, 1.6, 2.5, (200, 450), 0.55, (8, 50), turn_speed_mps=6.0, noise_factor=1.2),
    "bus": ModeProfile("bus", 9.0, 0.10, 1.0, 1.3, (300, 500), 0.85, (15, 40), turn_speed_mps=5.0, noise_factor=1.3),
    "metro": ModeProfile("metro", 16.0, 0.05, 1.1, 1.2),
    "train": ModeProfile("train", 38.0, 0.04, 0.45, 0.6, noise_factor=2.0),
    "hsr": ModeProfile("hsr", 83.0, 0.03, 0.25, 0.5, noise_factor=2.0),
}
"""Default profiles by canonical mode (``mobco2.schema.Mode`` values); legs may pass their own."""


@dataclass
class LegMotion:
    """A leg's true motion, as :func:`leg_motion` returns it.

    ``t``, ``s``, ``v``: knots of time (s from the leg start), distance along the path (m) and speed
    (m/s); speed is linear in time between knots. A stop is two knots at the same distance.
    ``cum_m``: distance of each waypoint along the path; ``lat``/``lon``/``ele``: the waypoints.
    """

    t: np.ndarray
    s: np.ndarray
    v: np.ndarray
    cum_m: np.ndarray  # along-track distance of each waypoint
    lat: np.ndarray
    lon: np.ndarray
    ele: np.ndarray
    bearing: np.ndarray  # per path segment, degrees
    gaps_m: tuple[tuple[float, float], ...]
    underground: bool
    noise_factor: float
    n_stops: int


def haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (m) between points given in degrees; broadcasts over arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def path_length_m(path: Sequence[tuple[float, ...]]) -> float:
    """Length (m) of a polyline of ``(lat, lon)`` waypoints."""
    a = np.asarray(path, dtype=float)
    return float(haversine_m(a[:-1, 0], a[:-1, 1], a[1:, 0], a[1:, 1]).sum())


def leg_motion(leg: Leg, rng: np.random.Generator, start_ele: float = 10.0, end_ele: float | None = None) -> LegMotion:
    """True motion along one leg: the speed profile described in the module docstring."""
    prof = leg.profile or PROFILES.get(leg.mode)
    if prof is None:
        raise ValueError(f"leg mode {leg.mode!r} has no default profile; pass Leg(profile=ModeProfile(...))")
    pts = np.asarray(leg.path, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 2:
        raise ValueError(f"a {leg.mode} leg needs at least two (lat, lon) waypoints")
    seg = haversine_m(pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    length = float(cum[-1])
    if length < 1.0:
        raise ValueError(f"a {leg.mode} leg is shorter than 1 m")
    seg_speed = np.full(len(seg), prof.cruise_mps) if leg.speeds_mps is None else np.asarray(leg.speeds_mps, float)
    if seg_speed.shape != seg.shape:
        raise ValueError(f"speeds_mps has {seg_speed.size} values for {seg.size} path segments")

    # along-track grid: fine enough for walking, coarse enough for a 500 km train ride
    ds_target = float(np.clip(length / 4000.0, 1.0, 25.0))
    n = int(np.ceil(length / ds_target)) + 1
    s = np.linspace(0.0, length, n)
    ds = s[1] - s[0]
    seg_of = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    seg_v = seg_speed[seg_of]
    # cruising speed wanders slowly: a random factor every minute of travel, interpolated
    knot_step = max(prof.cruise_mps * 60.0, 50.0)
    knots = np.arange(0.0, length + knot_step, knot_step)
    factor = 1.0 + prof.cruise_jitter * np.clip(rng.standard_normal(knots.size), -2.5, 2.5)
    vmax = seg_v * np.interp(s, knots, factor)

    # slow down at sharp turns
    bearing = _bearing(pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1])
    if prof.turn_speed_mps is not None and len(seg) > 1:
        turn = np.abs((np.diff(bearing) + 180.0) % 360.0 - 180.0)
        at = np.clip(np.rint(cum[1:-1][turn > 40.0] / ds).astype(int), 0, n - 1)
        vmax[at] = np.minimum(vmax[at], prof.turn_speed_mps)

    # random stops (always draw the same count of numbers, so the stream does not depend on the outcome)
    stop_idx, stop_wait = [], []
    if prof.stop_spacing_m is not None:
        lo, hi = prof.stop_spacing_m
        m = int(np.ceil(length / lo)) + 1
        pos = np.cumsum(rng.uniform(lo, hi, m))
        keep = rng.random(m) < prof.stop_prob
        wait = rng.uniform(*prof.stop_wait_s, m)
        idx = np.rint(pos / ds).astype(int)
        ok = keep & (pos < length - lo / 2) & (idx > 0) & (idx < n - 1)
        ok[ok] &= seg_v[idx[ok]] <= prof.stops_below_mps
        stop_idx.append(idx[ok])
        stop_wait.append(wait[ok])
    for k, dwell in leg.stops:
        if not 0 < k < len(pts) - 1:
            raise ValueError(f"scheduled stop at waypoint {k}: must be an inner waypoint (1..{len(pts) - 2})")
        stop_idx.append(np.array([int(np.rint(cum[k] / ds))]))
        stop_wait.append(np.array([float(dwell)]))
    if stop_idx:
        idx_all = np.concatenate(stop_idx)
        wait_all = np.concatenate(stop_wait)
        idx_all, first = np.unique(idx_all, return_index=True)  # one wait per grid point
        wait_all = wait_all[first]
        keep = (idx_all > 0) & (idx_all < n - 1)
        idx_all, wait_all = idx_all[keep], wait_all[keep]
    else:
        idx_all, wait_all = np.array([], int), np.array([], float)

    v2 = vmax**2
    v2[0] = v2[-1] = 0.0
    v2[idx_all] = 0.0
    a, d = prof.accel_mps2, prof.decel_mps2
    fwd = np.minimum.accumulate(v2 - 2 * a * s) + 2 * a * s
    bwd = (np.minimum.accumulate((v2 + 2 * d * s)[::-1]))[::-1] - 2 * d * s
    v = np.sqrt(np.clip(np.minimum(v2, np.minimum(fwd, bwd)), 0.0, None))
    dt = 2.0 * ds / np.maximum(v[:-1] + v[1:], 1e-6)
    t = np.concatenate([[0.0], np.cumsum(dt)])

    # waits at stops: the knot is doubled, the second copy later by the wait
    shift = np.zeros(n)
    np.add.at(shift, idx_all + 1, wait_all)
    t = t + np.cumsum(shift)
    order = np.argsort(idx_all)
    ins = idx_all[order] + 1
    t = np.insert(t, ins, t[idx_all[order]] + wait_all[order])
    s = np.insert(s, ins, s[idx_all[order]])
    v = np.insert(v, ins, 0.0)

    if pts.shape[1] >= 3:
        ele = pts[:, 2]
    else:
        ele = np.interp(cum, [0.0, length], [start_ele, start_ele if end_ele is None else end_ele])
    return LegMotion(
        t=t, s=s, v=v, cum_m=cum, lat=pts[:, 0], lon=pts[:, 1], ele=ele, bearing=bearing,
        gaps_m=tuple((float(g0), float(g1)) for g0, g1 in leg.gaps_m), underground=leg.underground,
        noise_factor=prof.noise_factor, n_stops=int(idx_all.size),
    )  # fmt: skip


def _bearing(lat1, lon1, lat2, lon2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return np.degrees(np.arctan2(y, x)) % 360.0
