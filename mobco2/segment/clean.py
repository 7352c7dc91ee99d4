"""Cleaning one user's points into a :class:`Track` of sorted numpy columns.

Steps, all over whole columns (no loop per point):

1. points with a null ``ts`` are geometry only (GPX without ``<time>``): excluded, as are
   non-finite or out-of-range coordinates;
2. points less accurate than ``max_accuracy_m`` (default 200 m, e-mission's threshold) go;
3. out-of-order input is sorted by time (several files interleave); a timestamp that jumped
   backwards on the device then lands where its time says and, being far from its neighbours,
   goes in step 5;
4. duplicate timestamps keep the most accurate point (ties: the first);
5. speed spikes: a point implying more than ``max_speed_mps`` (300 m/s) from both neighbours
   while the neighbours joined directly are not flight-fast (< 50 m/s) is a GPS jump; a pair of
   such points (out and back) is removed the same way. On a flight the neighbours are fast
   themselves, so the point stays. With sparse sampling a jump implies less than 300 m/s, so an
   out-and-back jump faster than 30 m/s both ways that lands near where it left is a spike too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.schema import MODES
from mobco2.segment.geo import M_PER_DEG, cos_lat_fast, wrap_dlon
from mobco2.segment.params import SegmentParams

if TYPE_CHECKING:
    import pandas as pd

SPIKE_FLIGHT_SPEED_MPS = 50.0
"""Neighbours joined directly faster than this are a flight: a fast point between them is kept."""

DETOUR_SPEED_MPS = 30.0
DETOUR_RATIO = 0.25
"""An out-and-back jump faster than this both ways, ending within this share of its length from
where it began, is a GPS jump whatever the sampling rate."""

MODE_CODE = {m: i for i, m in enumerate(MODES)}
NO_MODE = -1
NO_OFFSET = -32768


@dataclass
class Track:
    """One user's cleaned points, sorted by time; every column a numpy array of equal length.

    ``t_us`` is UTC epoch microseconds. ``hint`` is an index into :data:`mobco2.schema.MODES`
    (-1: none). ``moving`` marks points that cannot belong to a stay (synthetic points made from
    a source segment with no raw points); ``step_m`` overrides the distance of the step that
    ends at this point (a source segment's own distance), NaN otherwise. ``seg_start`` marks
    the first point of a source track segment (the recorder had paused or restarted before it:
    a GPX ``trkseg``, an e-mission ``stopped_moving`` or tracking restart).
    """

    t_us: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    accuracy_m: np.ndarray = field(default=None)  # type: ignore[assignment]
    speed_mps: np.ndarray = field(default=None)  # type: ignore[assignment]
    hint: np.ndarray = field(default=None)  # type: ignore[assignment]
    hint_conf: np.ndarray = field(default=None)  # type: ignore[assignment]
    tz_offset_min: np.ndarray = field(default=None)  # type: ignore[assignment]
    moving: np.ndarray = field(default=None)  # type: ignore[assignment]
    step_m: np.ndarray = field(default=None)  # type: ignore[assignment]
    seg_start: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.t_us)
        defaults = {
            "accuracy_m": (np.nan, np.float64),
            "speed_mps": (np.nan, np.float64),
            "hint": (NO_MODE, np.int16),
            "hint_conf": (np.nan, np.float32),
            "tz_offset_min": (NO_OFFSET, np.int16),
            "moving": (False, bool),
            "step_m": (np.nan, np.float64),
            "seg_start": (False, bool),
        }
        self._filled: set[str] = set()
        self._bounds: tuple[float, float, float, float] | None = None
        for name, (fill, dtype) in defaults.items():
            if getattr(self, name) is None:
                # a read-only broadcast: no memory, no time, for columns the source never had
                setattr(self, name, np.broadcast_to(np.array(fill, dtype=dtype), (n,)))
                self._filled.add(name)

    def __len__(self) -> int:
        return len(self.t_us)

    def has_moving(self) -> bool:
        """Whether any point is a synthetic moving point (no pass when the column was never given)."""
        return "moving" not in self._filled and bool(self.moving.any())

    def bounds(self) -> tuple[float, float, float, float]:
        """(lowest, highest latitude, lowest, highest longitude), NaN if any is NaN; worked out once.

        Cleaning, spike detection and stay detection all need them: four passes instead of twelve.
        """
        if self._bounds is None:
            if len(self):
                lat, lon = self.lat, self.lon
                self._bounds = (float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max()))
            else:
                self._bounds = (np.nan, np.nan, np.nan, np.nan)
        return self._bounds

    def wraps(self) -> bool:
        """Whether the track comes near the antimeridian (as :func:`needs_wrap` says)."""
        _, _, lo, hi = self.bounds()
        return hi > 179.0 or lo < -179.0

    def take(self, idx: np.ndarray) -> Track:
        # columns the source never had stay defaults: rebuilt, not gathered
        return Track(**{f.name: None if f.name in self._filled else getattr(self, f.name)[idx] for f in fields(self)})

    def drop(self, idx: np.ndarray) -> Track:
        """Without the rows at the (few) indices ``idx``: cheaper than ``take`` of the rest."""
        return Track(
            **{f.name: None if f.name in self._filled else np.delete(getattr(self, f.name), idx) for f in fields(self)}
        )


def concat_tracks(tracks: list[Track]) -> Track:
    """Tracks merged into one, sorted by time (stable: the first track wins ties)."""
    parts = [t for t in tracks if len(t)]
    if not parts:
        return empty_track()
    merged = Track(**{f.name: np.concatenate([getattr(t, f.name) for t in parts]) for f in fields(Track)})
    order = np.argsort(merged.t_us, kind="stable")
    return merged.take(order)


def empty_track() -> Track:
    return Track(np.empty(0, np.int64), np.empty(0), np.empty(0))


def _column(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table.column(name) if name in table.column_names else None


def _float(table: pa.Table, name: str, n: int) -> np.ndarray:
    col = _column(table, name)
    if col is None:
        return np.full(n, np.nan)
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def to_arrow(points: pa.Table | pd.DataFrame) -> pa.Table:
    """Accept a pandas DataFrame or an Arrow table; return an Arrow table."""
    if isinstance(points, pa.Table):
        return points
    # a DataFrame exists only once pandas is imported: the store's path (Arrow) never loads it
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(points, pandas.DataFrame):
        return pa.Table.from_pandas(points, preserve_index=False)
    raise TypeError(f"points must be a pandas DataFrame or a pyarrow Table, not {type(points).__name__}")


def ts_to_us(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column (any unit; naive taken as UTC) as int64 epoch µs, nulls as INT64_MIN."""
    if pa.types.is_timestamp(col.type):
        # sub-microsecond digits (pandas' ns) are truncated, never an error
        col = pc.cast(col, pa.timestamp("us", tz=col.type.tz), safe=False)
        ints = pc.cast(col, pa.int64())
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        raise TypeError("ts must be a timestamp column (UTC), not numbers")
    else:
        ints = pc.cast(pc.cast(col, pa.timestamp("us", tz="UTC")), pa.int64())
    return ints.fill_null(np.iinfo(np.int64).min).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _optional_float(table: pa.Table, name: str) -> np.ndarray | None:
    """A float column, or None when absent or all null (the Track then keeps a cheap default)."""
    col = _column(table, name)
    if col is None or col.null_count == len(col):
        return None
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _hint_codes(col: pa.ChunkedArray | None) -> np.ndarray | None:
    """Mode hint strings as codes into MODES (dictionary-encoded: no Python loop per point)."""
    if col is None or col.null_count == len(col):
        return None
    enc = col.combine_chunks().dictionary_encode() if isinstance(col, pa.ChunkedArray) else col.dictionary_encode()
    names = enc.dictionary.to_pylist()
    codes = np.array([MODE_CODE.get(m, NO_MODE) if m != "unknown" else NO_MODE for m in names] + [NO_MODE], np.int16)
    idx = enc.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    return codes[idx]


def track_from_table(points: pa.Table | pd.DataFrame) -> Track:
    """An uncleaned :class:`Track` from a points table (columns as in :data:`mobco2.schema.POINTS`)."""
    table = to_arrow(points)
    for required in ("ts", "lat", "lon"):
        if required not in table.column_names:
            raise ValueError(f"points need a {required!r} column")
    n = table.num_rows
    tz = _column(table, "tz_offset_min")
    conf = _optional_float(table, "mode_hint_conf")
    return Track(
        t_us=ts_to_us(table.column("ts")),
        lat=_float(table, "lat", n),
        lon=_float(table, "lon", n),
        accuracy_m=_optional_float(table, "accuracy_m"),
        speed_mps=_optional_float(table, "speed_mps"),
        hint=_hint_codes(_column(table, "mode_hint")),
        hint_conf=None if conf is None else conf.astype(np.float32),
        tz_offset_min=None
        if tz is None or tz.null_count == len(tz)
        else tz.cast(pa.int16()).fill_null(NO_OFFSET).to_numpy(zero_copy_only=False),
        seg_start=_optional_flags(table, "segment_start"),
    )


def _optional_flags(table: pa.Table, name: str) -> np.ndarray | None:
    """A boolean column (nulls false), or None when absent or never true."""
    col = _column(table, name)
    if col is None or not pa.types.is_boolean(col.type) or not pc.any(col).as_py():
        return None
    return col.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


@dataclass
class CleanStats:
    """How many points each cleaning step removed."""

    rows_in: int = 0
    no_time: int = 0
    bad_coordinates: int = 0
    inaccurate: int = 0
    duplicate_time: int = 0
    spikes: int = 0

    @property
    def kept(self) -> int:
        return self.rows_in - self.no_time - self.bad_coordinates - self.inaccurate - self.duplicate_time - self.spikes


def _speed2(t_us, lat, lon, kx, i, j, wrap: bool) -> np.ndarray:
    """Squared speed in (m/s)² from points i to j (equirectangular: compared with coarse limits)."""
    dy = (lat[j] - lat[i]) * M_PER_DEG
    dlon = lon[j] - lon[i]
    if wrap:
        dlon = wrap_dlon(dlon)
    dx = dlon * kx[i] * M_PER_DEG
    dt = np.maximum((t_us[j] - t_us[i]) * 1e-6, 1e-3)
    return (dx * dx + dy * dy) / (dt * dt)


def _step_d2(lat, lon, kx, k, wrap: bool) -> np.ndarray:
    """Squared equirectangular length in m² of the steps k -> k+1."""
    dy = (lat[k + 1] - lat[k]) * M_PER_DEG
    dlon = lon[k + 1] - lon[k]
    if wrap:
        dlon = wrap_dlon(dlon)
    dx = dlon * kx[k]
    dx *= M_PER_DEG
    return dx * dx + dy * dy


def _spikes(track: Track, vmax: float, steps: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of single-point and two-point spikes.

    One pass over all consecutive steps finds the few faster than DETOUR_SPEED_MPS (float32, in
    place: this runs on every point of a person-decade); the patterns are then matched on those
    steps only, in float64.
    """
    t, lat, lon = track.t_us, track.lat, track.lon
    n = len(t)
    bad = np.zeros(n, bool)
    if n < 3:
        return bad
    wrap = track.wraps()
    # one scale factor when the track spans little latitude (the limits are coarse), else per point
    lo_lat, hi_lat, _, _ = track.bounds()
    if hi_lat - lo_lat > 2.0:
        kx = cos_lat_fast(lat)
    else:
        kx = np.broadcast_to(np.cos(np.radians(0.5 * (lo_lat + hi_lat))), (n,))
    v2max = vmax * vmax
    flight2 = SPIKE_FLIGHT_SPEED_MPS**2
    # steps that may be faster than DETOUR_SPEED_MPS: float32 over every step (half the memory
    # traffic; rounding is ~1e-7, the margin 2 %), then the exact float64 test on those few
    m2 = np.float32(M_PER_DEG)
    d2 = np.empty(n - 1, np.float32)
    np.subtract(lat[1:], lat[:-1], out=d2, casting="same_kind")
    d2 *= m2
    d2 *= d2
    dx = np.empty(n - 1, np.float32)
    if wrap:
        dx[:] = wrap_dlon(np.diff(lon))
    else:
        np.subtract(lon[1:], lon[:-1], out=dx, casting="same_kind")
    dx *= kx[:-1] if kx.strides[0] else kx[0]  # a broadcast factor multiplies faster as a scalar
    dx *= m2
    dx *= dx
    d2 += dx
    lim = np.empty(n - 1, np.float32)
    if steps is None:  # ``steps``: np.diff(t), when the caller has it
        np.subtract(t[1:], t[:-1], out=lim, casting="unsafe")
    else:
        lim[:] = steps
    np.maximum(lim, np.float32(1e3), out=lim)
    lim *= lim
    lim *= np.float32(0.98 * (DETOUR_SPEED_MPS * 1e-6) ** 2)
    maybe = np.flatnonzero(d2 > lim)
    if not maybe.size:
        return bad
    d2m = _step_d2(lat, lon, kx, maybe, wrap)
    dt2m = np.maximum((t[maybe + 1] - t[maybe]) * 1e-6, 1e-3)
    dt2m *= dt2m
    is_quick = d2m > DETOUR_SPEED_MPS**2 * dt2m
    quick = maybe[is_quick]  # step indices
    if not quick.size:
        return bad
    d2 = np.zeros(n, np.float64)  # exact m² of the quick steps (calloc: untouched pages cost nothing)
    d2[quick] = d2m[is_quick]
    d2q = d2m[is_quick]
    dt2q = dt2m[is_quick]
    fast = np.zeros(n + 1, bool)  # by step index, with room past the last step
    slow_quick = np.zeros(n + 1, bool)
    is_fast = d2q > v2max * dt2q
    fs = quick[is_fast]
    fast[fs] = True
    slow_quick[quick[~is_fast]] = True
    k = fs[fast[fs + 1]] + 1  # both steps around point k are too fast
    if k.size:
        single = _speed2(t, lat, lon, kx, k - 1, k + 1, wrap) < flight2
        bad[k[single]] = True
    # sparse sampling: a jump out and back (faster than road traffic both ways, ending near where
    # it began) is a GPS jump even below max_speed_mps
    sq = quick[~is_fast]
    k = sq[slow_quick[sq + 1]] + 1
    if k.size:
        dy2 = (lat[k + 1] - lat[k - 1]) * M_PER_DEG
        dl2 = lon[k + 1] - lon[k - 1]
        dx2 = (wrap_dlon(dl2) if wrap else dl2) * kx[k - 1] * M_PER_DEG
        back = dx2 * dx2 + dy2 * dy2 < DETOUR_RATIO**2 * np.minimum(d2[k - 1], d2[k])
        bad[k[back]] = True
    k = fs[~fast[fs + 1] & fast[fs + 2] & (fs + 2 < n - 1)] + 1  # out at k, back after k+1
    if k.size:
        pair = (_speed2(t, lat, lon, kx, k - 1, k + 2, wrap) < flight2) & ~bad[k] & ~bad[k + 1]
        bad[k[pair]] = True
        bad[k[pair] + 1] = True
    return bad


def clean(track: Track, params: SegmentParams, stats: CleanStats | None = None) -> Track:
    """The cleaned, time-sorted track (see the module docstring for the steps)."""
    stats = stats if stats is not None else CleanStats()
    n = len(track)
    stats.rows_in += n
    lat, lon = track.lat, track.lon
    has_acc = "accuracy_m" not in track._filled
    # fast path: a few reductions prove that nothing needs dropping (no mask over every point)
    lo_lat, hi_lat, lo_lon, hi_lon = track.bounds()
    clean_already = n == 0 or (
        int(track.t_us.min()) != np.iinfo(np.int64).min
        and lo_lat >= -90.0 and hi_lat <= 90.0
        and lo_lon >= -180.0 and hi_lon <= 180.0
        and not (has_acc and float(np.nanmax(track.accuracy_m, initial=0.0)) > params.max_accuracy_m)
    )
    if not clean_already:  # NaN coordinates fail the bounds above too, and are caught here
        has_time = track.t_us != np.iinfo(np.int64).min
        stats.no_time += int(n - has_time.sum())
        good_xy = (lat >= -90.0) & (lat <= 90.0) & (lon >= -180.0) & (lon <= 180.0)
        stats.bad_coordinates += int((has_time & ~good_xy).sum())
        accurate = ~(track.accuracy_m > params.max_accuracy_m)  # NaN (unknown) is kept
        stats.inaccurate += int((has_time & good_xy & ~accurate).sum())
        keep = has_time & good_xy & accurate
        if not keep.all():
            track = track.take(np.flatnonzero(keep))
    t = track.t_us
    steps = np.diff(t)  # reused by the spike test when the order is already right
    if t.size > 1 and steps.min() <= 0:
        steps = None
        # sort by time, then best accuracy first so that the first of equal times is the one kept
        acc = np.where(np.isnan(track.accuracy_m), np.inf, track.accuracy_m)
        order = np.lexsort((acc, t))
        track = track.take(order)
        t = track.t_us
        first = np.ones(t.size, bool)
        first[1:] = t[1:] != t[:-1]
        stats.duplicate_time += int(t.size - first.sum())
        if not first.all():
            track = track.take(np.flatnonzero(first))
    # one pass: single points and out-and-back pairs (a third point in a row is rare enough)
    spikes = _spikes(track, params.max_speed_mps, steps)
    if "moving" not in track._filled:
        spikes &= ~track.moving
    bad = np.flatnonzero(spikes)
    if bad.size:
        stats.spikes += int(bad.size)
        track = track.drop(bad)
    return track
