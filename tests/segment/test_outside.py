"""``_outside`` (points in no stay and no trip) finds the same times as the np.isin it replaced."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.segment.pipeline import _outside


def _reference(track_us, kept_us, ranges):
    covered = np.zeros(track_us.size, bool)
    for first, last in ranges:
        for f, la in zip(first.tolist(), last.tolist(), strict=True):
            covered[f:la + 1] = True
    uncovered = track_us[~covered]
    return uncovered[np.isin(uncovered, kept_us)]


@st.composite
def cases(draw):
    n = draw(st.integers(0, 60))
    track = np.sort(np.array(draw(st.lists(st.integers(0, 200), min_size=n, max_size=n)), np.int64))
    kept = np.array(draw(st.lists(st.integers(0, 200), max_size=80)), np.int64)
    if draw(st.booleans()):
        kept = np.sort(kept)
    ranges = []
    for _ in range(draw(st.integers(0, 2))):
        pairs = [sorted(draw(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)))) for _ in
                 range(draw(st.integers(0, 4)))] if n else []
        ranges.append((np.array([a for a, _ in pairs], np.int64), np.array([b for _, b in pairs], np.int64)))
    return track, kept, ranges


@settings(max_examples=300, deadline=None)
@given(cases())
def test_outside_matches_isin(case):
    track, kept, ranges = case
    assert np.array_equal(_outside(track, kept, ranges), _reference(track, kept, ranges))


def test_outside_keeps_only_uncovered_kept_points():
    track = np.array([10, 20, 30, 40, 50], np.int64)
    got = _outside(track, np.array([10, 30, 50], np.int64), [(np.array([1]), np.array([2]))])
    assert got.tolist() == [10, 50]
