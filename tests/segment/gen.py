"""Synthetic location traces with a known truth: stays and single-mode legs.

A person lives in a city (local metric frame around La Rochelle); each day is a sequence of
stays at places and trips between them, each trip a sequence of legs (walk, bike, car, bus,
train). Legs move along a path with a speed profile: acceleration, cruise, and stops (traffic
lights, bus stops, stations, crossings) that are short enough not to be stays. Rendering adds
what real trackers do: GPS noise (worse indoors), jumps of several hundred metres, signal loss
(indoors, tunnels), slow walks inside a building, and sparse sampling while still.

Everything is numpy over whole arrays except the loops over legs and stops, which are few.
The truth is returned alongside: ``stays`` (start_us, end_us, x, y) and ``legs`` (start_us,
end_us, mode); a wait at a stop belongs to the walk leg that leads to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

LAT0, LON0 = 46.16, -1.15
M_PER_DEG = np.pi / 180.0 * 6_371_008.8
US = 1_000_000
DAY0 = pd.Timestamp("2024-05-06T00:00:00Z").value // 1000  # µs, a Monday

SPEED = {  # cruise speed range m/s, acceleration m/s², stop spacing m, stop probability, dwell s
    "walk": ((1.1, 1.6), 5.0, (150, 300), 0.3, (5, 30)),
    "bike": ((3.8, 6.5), 1.0, (250, 600), 0.4, (5, 40)),
    "car": ((9.0, 14.0), 2.0, (250, 700), 0.5, (10, 60)),
    "bus": ((7.0, 12.0), 1.0, (300, 500), 1.0, (15, 40)),
    "train": ((25.0, 40.0), 0.5, (4000, 12000), 1.0, (40, 120)),
}


@dataclass
class Config:
    move_dt_s: float = 1.0  # sampling while moving
    stay_dt_s: float = 30.0  # sampling while still
    noise_move_m: float = 5.0
    noise_stay_m: float = 12.0
    jump_prob: float = 0.002  # per point
    stay_gap_prob: float = 0.3  # per stay: a signal loss indoors
    building_walk_prob: float = 0.4  # per stay: a slow walk inside the building
    tunnel_prob: float = 0.3  # per train leg


@dataclass
class Trace:
    points: pd.DataFrame
    stays: pd.DataFrame
    legs: pd.DataFrame


@dataclass
class _Builder:
    rng: np.random.Generator
    cfg: Config
    t: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    y: list[np.ndarray] = field(default_factory=list)
    stays: list[tuple[int, int, float, float]] = field(default_factory=list)
    legs: list[tuple[int, int, str]] = field(default_factory=list)

    def emit(self, t_us: np.ndarray, x: np.ndarray, y: np.ndarray, noise_m: float) -> None:
        n = t_us.size
        if not n:
            return
        rng = self.rng
        nx = rng.normal(0.0, noise_m, n)
        ny = rng.normal(0.0, noise_m, n)
        jump = rng.random(n) < self.cfg.jump_prob
        if jump.any():
            ang = rng.uniform(0, 2 * np.pi, jump.sum())
            r = rng.uniform(300, 1500, jump.sum())
            nx[jump] += r * np.cos(ang)
            ny[jump] += r * np.sin(ang)
        self.t.append(t_us)
        self.x.append(x + nx)
        self.y.append(y + ny)


def _grid_path(rng, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A street path from a to b: alternating east-west and north-south blocks."""
    pts = [a.copy()]
    cur = a.copy()
    while np.abs(b - cur).max() > 1.0:
        axis = len(pts) % 2
        rem = b[axis] - cur[axis]
        step = np.sign(rem) * min(abs(rem), rng.uniform(150, 450))
        if abs(rem) < 1.0:
            axis = 1 - axis
            rem = b[axis] - cur[axis]
            step = np.sign(rem) * min(abs(rem), rng.uniform(150, 450))
        cur = cur.copy()
        cur[axis] += step
        pts.append(cur)
    return np.array(pts)


def _rail_path(rng, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A rail line: nearly straight, with one gentle bend (radius of kilometres)."""
    s = np.linspace(0, 1, 41)
    d = b - a
    normal = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1.0)
    bend = rng.uniform(-0.04, 0.04) * np.hypot(*d)
    return a + s[:, None] * d + (np.sin(np.pi * s) * bend)[:, None] * normal


def _along(path: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seg = np.hypot(*np.diff(path, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return np.interp(s, cum, path[:, 0]), np.interp(s, cum, path[:, 1])


def _profile(rng, mode: str, length: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Times (s from leg start) and distances along the path, sampled every ``dt``."""
    (vlo, vhi), acc, (slo, shi), p_stop, (dlo, dhi) = SPEED[mode]
    stops = []
    pos = rng.uniform(slo, shi)
    while pos < length - 50:
        if rng.random() < p_stop:
            stops.append(pos)
        pos += rng.uniform(slo, shi)
    edges = np.array([0.0, *stops, length])
    t_knots = [0.0]
    s_knots = [0.0]
    for i in range(len(edges) - 1):
        seg = edges[i + 1] - edges[i]
        v = rng.uniform(vlo, vhi)
        if mode == "car" and seg > 3000:
            v = rng.uniform(28, 34)  # an expressway between towns
        v = min(v, np.sqrt(acc * seg))
        ta = v / acc
        da = 0.5 * v * ta
        tc = (seg - 2 * da) / v
        t0, s0 = t_knots[-1], s_knots[-1]
        # acceleration and braking sampled finely enough to be piecewise linear
        for frac in np.linspace(0.1, 1.0, 10):
            t_knots.append(t0 + frac * ta)
            s_knots.append(s0 + 0.5 * acc * (frac * ta) ** 2)
        t_knots.append(t0 + ta + tc)
        s_knots.append(s0 + da + v * tc)
        t1, s1 = t_knots[-1], s_knots[-1]
        for frac in np.linspace(0.1, 1.0, 10):
            tt = frac * ta
            t_knots.append(t1 + tt)
            s_knots.append(s1 + v * tt - 0.5 * acc * tt * tt)
        if i < len(edges) - 2:
            t_knots.append(t_knots[-1] + rng.uniform(dlo, dhi))
            s_knots.append(s_knots[-1])
    tk = np.array(t_knots)
    sk = np.array(s_knots)
    ts = np.arange(0.0, tk[-1], dt)
    return np.append(ts, tk[-1]), np.interp(np.append(ts, tk[-1]), tk, sk)


class Day:
    """Renders stays and trips one after the other into a :class:`_Builder`."""

    def __init__(self, b: _Builder, t_us: int, xy: np.ndarray) -> None:
        self.b = b
        self.t = t_us
        self.xy = np.asarray(xy, float)

    def stay(self, duration_s: float) -> None:
        b, rng, cfg = self.b, self.b.rng, self.b.cfg
        start = self.t
        end = start + int(duration_s * US)
        t = np.arange(start, end, int(cfg.stay_dt_s * US), dtype=np.int64)
        keep = np.ones(t.size, bool)
        if rng.random() < cfg.stay_gap_prob and duration_s > 1800:
            g0 = rng.uniform(start + 300 * US, end - 900 * US)
            keep &= (t < g0) | (t > g0 + rng.uniform(600, 3600) * US)
        keep[0] = keep[-1] = True
        t = t[keep]
        x = np.full(t.size, self.xy[0])
        y = np.full(t.size, self.xy[1])
        if rng.random() < cfg.building_walk_prob and duration_s > 900:
            # a slow walk to another room and back: up to 60 m at 0.5 m/s
            w0 = rng.uniform(start + 200 * US, end - 400 * US)
            ang = rng.uniform(0, 2 * np.pi)
            reach = rng.uniform(20, 60)
            tau = (t - w0) / US
            d = np.clip(np.minimum(tau, 2 * reach / 0.5 - tau) * 0.5, 0, reach)
            x = x + d * np.cos(ang)
            y = y + d * np.sin(ang)
        b.emit(t, x, y, cfg.noise_stay_m)
        b.stays.append((start, end, *self.xy))
        self.t = end

    def leg(self, mode: str, dest: np.ndarray, wait_s: float = 0.0) -> None:
        """Move to ``dest`` by ``mode``; ``wait_s`` standing at the end (a stop, a platform)."""
        b, rng, cfg = self.b, self.b.rng, self.b.cfg
        dest = np.asarray(dest, float)
        path = _rail_path(rng, self.xy, dest) if mode == "train" else _grid_path(rng, self.xy, dest)
        length = float(np.hypot(*np.diff(path, axis=0).T).sum())
        ts, s = _profile(rng, mode, max(length, 1.0), cfg.move_dt_s)
        x, y = _along(path, s)
        t_us = self.t + (ts * US).astype(np.int64)
        keep = np.ones(t_us.size, bool)
        if mode == "train" and rng.random() < cfg.tunnel_prob and ts[-1] > 600:
            g0 = rng.uniform(120, ts[-1] - 300)
            keep &= (ts < g0) | (ts > g0 + rng.uniform(60, 180))
        t_us, x, y = t_us[keep], x[keep], y[keep]
        end = int(t_us[-1])
        if wait_s > 0:
            tw = np.arange(end + int(cfg.move_dt_s * US), end + int(wait_s * US), int(max(cfg.move_dt_s, 5) * US))
            t_us = np.concatenate([t_us, tw])
            x = np.concatenate([x, np.full(tw.size, dest[0])])
            y = np.concatenate([y, np.full(tw.size, dest[1])])
            end = end + int(wait_s * US)
        b.emit(t_us[1:], x[1:], y[1:], cfg.noise_move_m)
        b.legs.append((self.t, end, mode))
        self.t = end + int(cfg.move_dt_s * US)
        self.xy = dest


def _finish(b: _Builder, user: str = "u1") -> Trace:
    t = np.concatenate(b.t)
    x = np.concatenate(b.x)
    y = np.concatenate(b.y)
    order = np.argsort(t, kind="stable")
    t, x, y = t[order], x[order], y[order]
    keep = np.r_[True, np.diff(t) > 0]
    t, x, y = t[keep], x[keep], y[keep]
    lat = LAT0 + y / M_PER_DEG
    lon = LON0 + x / (M_PER_DEG * np.cos(np.radians(LAT0)))
    points = pd.DataFrame(
        {
            "user_id": user,
            "ts": pd.to_datetime(t, unit="us", utc=True),
            "lat": lat,
            "lon": lon,
        }
    )
    st = np.array([s[:2] for s in b.stays], dtype=np.int64).reshape(-1, 2)
    sxy = np.array([s[2:] for s in b.stays], dtype=float).reshape(-1, 2)
    stays = pd.DataFrame(
        {
            "start_us": st[:, 0],
            "end_us": st[:, 1],
            "lat": LAT0 + sxy[:, 1] / M_PER_DEG,
            "lon": LON0 + sxy[:, 0] / (M_PER_DEG * np.cos(np.radians(LAT0))),
        }
    )
    legs = pd.DataFrame(b.legs, columns=["start_us", "end_us", "mode"])
    return Trace(points, stays, legs)


PLACES = {
    "home": (0.0, 0.0),
    "bakery": (450.0, 380.0),
    "work": (3200.0, 2100.0),
    "gym": (-1500.0, 2600.0),
    "stop_home": (300.0, -250.0),
    "stop_work": (2900.0, 1800.0),
    "station": (1200.0, -900.0),
    "station_far": (24000.0, -15000.0),
    "office_far": (24600.0, -14400.0),
    "market": (-800.0, -1200.0),
}


def _p(name: str, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """A place's position, optionally offset by (dx, dy) metres (a parking spot, a café)."""
    return np.array(PLACES[name]) + np.array([dx, dy])


def _day_plan(d: Day, rng: np.random.Generator, kind: int) -> None:
    """One day: a plan chosen by ``kind`` with random durations."""
    u = rng.uniform
    d.stay(u(6.5, 8.5) * 3600)
    if kind == 0:  # bus commute, walk at lunch, bike to the gym
        d.leg("walk", _p("stop_home"), wait_s=u(30, 180))
        d.leg("bus", _p("stop_work"))
        d.leg("walk", _p("work"))
        d.stay(u(3, 4) * 3600)
        d.leg("walk", _p("work", 350, -300))
        d.stay(u(40, 60) * 60)
        d.leg("walk", _p("work"))
        d.stay(u(3, 4) * 3600)
        d.leg("walk", _p("stop_work"), wait_s=u(30, 180))
        d.leg("bus", _p("stop_home"))
        d.leg("walk", _p("home"))
        d.stay(u(1, 2) * 3600)
        d.leg("bike", _p("gym"))
        d.stay(u(60, 90) * 60)
        d.leg("bike", _p("home"))
    elif kind == 1:  # train to a far office
        d.leg("walk", _p("station"), wait_s=u(60, 200))
        d.leg("train", _p("station_far"))
        d.leg("walk", _p("office_far"))
        d.stay(u(7, 8) * 3600)
        d.leg("walk", _p("station_far"), wait_s=u(60, 200))
        d.leg("train", _p("station"))
        d.leg("walk", _p("home"))
    elif kind == 2:  # car errands
        d.leg("walk", _p("home", 60, 40))
        d.leg("car", _p("work", -80, 0))
        d.leg("walk", _p("work"))
        d.stay(u(7, 9) * 3600)
        d.leg("walk", _p("work", -80, 0))
        d.leg("car", _p("market", 50, 50))
        d.leg("walk", _p("market"))
        d.stay(u(20, 40) * 60)
        d.leg("walk", _p("market", 50, 50))
        d.leg("car", _p("home", 60, 40))
        d.leg("walk", _p("home"))
    else:  # bike commute and a walk to the bakery
        d.leg("bike", _p("work"))
        d.stay(u(7, 9) * 3600)
        d.leg("bike", _p("home"))
        d.stay(u(30, 60) * 60)
        d.leg("walk", _p("bakery"))
        d.stay(u(8, 15) * 60)
        d.leg("walk", _p("home"))
    # the evening at home; the next day's night stay continues it
    d.stay(u(1, 2) * 3600)


def person_trace(
    n_days: int = 7, seed: int = 0, cfg: Config | None = None, kinds: tuple[int, ...] = (0, 1, 2, 3)
) -> Trace:
    """``n_days`` of one person's life, cycling through the day plans in ``kinds``."""
    rng = np.random.default_rng(seed)
    b = _Builder(rng, cfg or Config())
    d = Day(b, DAY0, _p("home"))
    for i in range(n_days):
        _day_plan(d, rng, kinds[i % len(kinds)])
    return _finish(b)


def trace_with_points(n_points: int, seed: int = 0, cfg: Config | None = None) -> pd.DataFrame:
    """At least ``n_points`` points of a person's life, cut to exactly ``n_points``."""
    cfg = cfg or Config()
    days = 2
    while True:
        tr = person_trace(days, seed, cfg)
        if len(tr.points) >= n_points:
            return tr.points.iloc[:n_points].reset_index(drop=True)
        per_day = max(len(tr.points) / days, 1.0)
        days = int(np.ceil(n_points / per_day * 1.1)) + 1


def truth_stays_frame(trace: Trace) -> pd.DataFrame:
    """True stays merged where consecutive ones touch at the same place (home overnight)."""
    s = trace.stays.sort_values("start_us").reset_index(drop=True)
    if s.empty:
        return s
    same = (s.start_us.values[1:] - s.end_us.values[:-1] < 2 * US) & (
        np.hypot(s.lat.diff().values[1:], s.lon.diff().values[1:]) < 1e-6
    )
    group = np.concatenate([[0], np.cumsum(~same)])
    return (
        s.assign(g=group)
        .groupby("g")
        .agg(start_us=("start_us", "min"), end_us=("end_us", "max"), lat=("lat", "first"), lon=("lon", "first"))
        .reset_index(drop=True)
    )


def overlap_us(a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Matrix of overlaps in µs between intervals a (rows) and b (columns)."""
    lo = np.maximum(a0[:, None], b0[None, :])
    hi = np.minimum(a1[:, None], b1[None, :])
    return np.clip(hi - lo, 0, None)


def stay_precision_recall(found: pd.DataFrame, truth: pd.DataFrame, min_share: float = 0.5) -> tuple[float, float]:
    """Precision and recall of stays by temporal overlap.

    A found stay is right when at least ``min_share`` of its time lies within true stays; a
    true stay is found when at least ``min_share`` of its time lies within found stays.
    ``found`` has ``started_at``/``finished_at`` timestamps, ``truth`` ``start_us``/``end_us``.
    """
    f0 = found["started_at"].astype("int64").to_numpy() // _unit(found["started_at"])
    f1 = found["finished_at"].astype("int64").to_numpy() // _unit(found["finished_at"])
    t0 = truth["start_us"].to_numpy()
    t1 = truth["end_us"].to_numpy()
    ov = overlap_us(f0, f1, t0, t1)
    fd = np.maximum(f1 - f0, 1)
    td = np.maximum(t1 - t0, 1)
    precision = float(np.mean(ov.sum(axis=1) / fd >= min_share)) if len(f0) else 0.0
    recall = float(np.mean(ov.sum(axis=0) / td >= min_share)) if len(t0) else 1.0
    return precision, recall


def _unit(col: pd.Series) -> int:
    """Divisor from a datetime column's integer view to microseconds."""
    unit = getattr(col.dt, "unit", "ns")
    return {"ns": 1000, "us": 1, "ms": 1, "s": 1}[unit] if unit == "ns" or unit == "us" else 1


def leg_mode_accuracy(found: pd.DataFrame, truth: pd.DataFrame, step_s: float = 5.0) -> float:
    """Time-weighted share of true leg time where the found leg at that time has the true mode.

    ``found`` has ``started_at``, ``finished_at`` and ``mode``; time covered by no found leg
    (e.g. taken for a stay) counts as wrong.
    """
    grid = [np.arange(s, e, int(step_s * US)) for s, e in zip(truth.start_us, truth.end_us, strict=True)]
    modes = [np.full(g.size, m, dtype=object) for g, m in zip(grid, truth["mode"], strict=True)]
    tt = np.concatenate(grid)
    tm = np.concatenate(modes)
    f0 = found["started_at"].astype("int64").to_numpy() // _unit(found["started_at"])
    f1 = found["finished_at"].astype("int64").to_numpy() // _unit(found["finished_at"])
    order = np.argsort(f0)
    f0, f1 = f0[order], f1[order]
    fm = found["mode"].to_numpy()[order]
    k = np.searchsorted(f0, tt, side="right") - 1
    inside = (k >= 0) & (tt < f1[np.maximum(k, 0)])
    got = np.where(inside, fm[np.maximum(k, 0)], None)
    return float(np.mean(got == tm))
