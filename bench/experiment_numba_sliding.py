"""Experiment (not part of mobco2, not run by ``make bench``): the sliding rule as a compiled loop.

Issue 4 asks for ≥ 100× trackintel with an implementation "over whole numpy/Arrow columns — no
Python loop per point". This measures what giving that up would buy, to inform that decision:
``detect_stays`` with :func:`mobco2.segment.sliding.sliding_runs` replaced by a numba-compiled
sequential loop, either over every point (the textbook rule) or over the candidates of our
vectorised necessary test only. Both give the same stays as the numpy engine (checked).

Needs numba, which mobco2 does not depend on: run it with an interpreter that has numba and
mobco2's dependencies, from the repository root::

    PYTHONPATH=. python bench/experiment_numba_sliding.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_segment import _table
from mobco2.segment import sliding, stays
from mobco2.segment.clean import Track, clean, track_from_table
from mobco2.segment.geo import M_PER_DEG
from mobco2.segment.params import SegmentParams
from tests.segment import gen


@numba.njit(cache=True, nogil=True)
def _runs(t, lat, lon, moving, has_moving, r2, min_us, edge_us, wrap, anchors):  # type: ignore[no-untyped-def]
    """The sequential sliding rule with the same arithmetic as the reference, from ``anchors`` only."""
    n = t.size
    first = np.empty(anchors.size, np.int64)
    last = np.empty(anchors.size, np.int64)
    k = 0
    c = 0
    while c < anchors.size:
        i = anchors[c]
        kx = np.cos(np.radians(lat[i]))
        j = i + 1
        while j < n:
            dy = (lat[j] - lat[i]) * M_PER_DEG
            dlon = lon[j] - lon[i]
            if wrap:
                dlon = (dlon + 540.0) % 360.0 - 180.0
            dx = dlon * kx * M_PER_DEG
            if dx * dx + dy * dy > r2 or (has_moving and moving[j]):
                break
            j += 1
        dur = t[j - 1] - t[i]
        if dur >= min_us or ((j == n or i == 0) and j - 1 > i and dur >= edge_us):
            first[k] = i
            last[k] = j - 1
            k += 1
            while c < anchors.size and anchors[c] < j:  # the next anchor is the first after the run
                c += 1
        else:
            c += 1
    return first[:k], last[:k]


def compiled_runs(track: Track, params: SegmentParams, candidates_only: bool) -> tuple[np.ndarray, np.ndarray]:
    n = track.t_us.size
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    min_us = int(params.min_duration_s * 1e6)
    edge_us = int(min(params.edge_min_duration_s, params.min_duration_s) * 1e6)
    if candidates_only:
        anchors = sliding._candidates(track, params.radius_m, min_us, edge_us, track.wraps())
        if not anchors.size or anchors[0] != 0:
            anchors = np.concatenate([[0], anchors])
    else:
        anchors = np.arange(n)
    moving = np.ascontiguousarray(track.moving) if track.has_moving() else np.zeros(1, bool)
    return _runs(
        track.t_us, track.lat, track.lon, moving, track.has_moving(), params.radius_m**2, min_us, edge_us,
        track.wraps(), anchors,
    )  # fmt: skip


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def main() -> None:
    print("| points | detect_stays (numpy) | loop over every point | loop over candidates | runs alone (same order) |")
    print("|---:|---:|---:|---:|---:|")
    params = SegmentParams()
    for n in (10_000, 100_000, 1_000_000):
        table = _table(gen.trace_with_points(n, seed=1))
        repeat = max(5, 2_000_000 // n)
        reference = stays.detect_stays(table)
        row = [best(lambda table=table: stays.detect_stays(table), repeat)]
        for candidates_only in (False, True):
            stays.sliding_runs = lambda tr, p, c=candidates_only: compiled_runs(tr, p, c)
            try:
                assert stays.detect_stays(table).equals(reference), "the compiled loop found other stays"
                row.append(best(lambda table=table: stays.detect_stays(table), repeat))
            finally:
                stays.sliding_runs = sliding.sliding_runs
        tr = clean(track_from_table(table), params)
        alone = [
            best(lambda tr=tr: sliding.sliding_runs(tr, params), repeat),
            best(lambda tr=tr: compiled_runs(tr, params, False), repeat),
            best(lambda tr=tr: compiled_runs(tr, params, True), repeat),
        ]
        ms = [f"{x * 1e3:.2f} ms" for x in row]
        print(f"| {n:,} | {ms[0]} | {ms[1]} | {ms[2]} | {' / '.join(f'{x * 1e3:.2f}' for x in alone)} ms |")


if __name__ == "__main__":
    main()
