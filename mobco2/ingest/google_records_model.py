"""Google ``Records.json`` records as msgspec Structs, and their conversion to a points table.

The typed path of :mod:`mobco2.ingest.google_records` decodes straight into these Structs; its
streaming path builds the same Structs from ijson's dicts. Either way :func:`to_table` turns a
list of them into Arrow columns with one C-level ``map``/``numpy.fromiter`` pass per group of
fields; only records with an activity list cost a Python call (the mode hint).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.ingest import modes
from mobco2.ingest.base import ParseContext
from mobco2.ingest.jsonutil import E7_LAT_WRAP, E7_LON_WRAP, e7_to_degrees, epoch_ms_to_utc, fast_utc
from mobco2.schema import MODES, TS, Mode

NAN = float("nan")
FINITE = 1e300
"""A bigger JSON number would overflow a float: treated as no number."""

# Small numbers are declared ``int | float``: msgspec then returns CPython's cached small ints
# instead of allocating a float for every accuracy, heading and confidence (~6 % of the parse).


class Candidate(msgspec.Struct, gc=False):
    type: str = ""
    confidence: int | float = NAN


class Activity(msgspec.Struct, gc=False):
    activity: list[Candidate] = []


class Location(msgspec.Struct, gc=False):
    latitudeE7: float = NAN
    longitudeE7: float = NAN
    timestamp: str | None = None
    timestampMs: int | str | None = None
    accuracy: int | float = NAN
    altitude: int | float = NAN
    velocity: int | float = NAN
    heading: int | float = NAN
    activity: list[Activity] | None = None


class Root(msgspec.Struct, gc=False):
    locations: list[Location] = []


ROOT_DECODER = msgspec.json.Decoder(Root)
LIST_DECODER = msgspec.json.Decoder(list[Location])
_NUMBERS = attrgetter("latitudeE7", "longitudeE7", "accuracy", "altitude", "velocity", "heading")
_NUMBER_ROW = np.dtype([("lat", "f8"), ("lon", "f8"), ("acc", "f8"), ("alt", "f8"), ("vel", "f8"), ("hd", "f8")])
_TIMESTAMP = attrgetter("timestamp")
_TIMESTAMP_MS = attrgetter("timestampMs")
_ACTIVITY = attrgetter("activity")
_PICKED = np.dtype([("code", "i1"), ("conf", "f4")])
_MODE_TEXT = pa.array(MODES, pa.string())  # a hint code indexes this
_UNKNOWN = MODES.index(Mode.UNKNOWN.value)
_NOT_A_HINT, _UNMAPPED, _MISSING = -1, -2, -3  # STILL…; a type with no mapping; not looked up yet


def hint_picker(unmapped: Counter[str]) -> Callable[[list[Activity]], tuple[int, float]]:
    """A function: a record's activity lists → (mode code or -1, confidence 0–1), counting unmapped types.

    A plain loop in a closure: measured twice as fast as flattening candidates into arrays,
    because most records hold one short list. It returns integer codes (indexes into
    :data:`schema.MODES`) so that the results go into a numeric array without Python objects.
    """
    table: dict[str, int] = {
        raw: (MODES.index(mode.value) if mode is not None else _NOT_A_HINT)
        for raw, mode in modes.GOOGLE_RECORDS.items()
    }
    get = table.get

    def learn(raw: str) -> int:
        mode, known = modes.map_mode("google_records", raw)
        code = (MODES.index(mode.value) if mode is not None else _NOT_A_HINT) if known else _UNMAPPED
        table[raw] = code
        return code

    def pick(entries: list[Activity]) -> tuple[int, float]:
        best = -1
        best_conf = -1.0
        for entry in entries:
            for cand in entry.activity:
                code = get(cand.type, _MISSING)
                if code < 0:
                    if code == _MISSING:
                        code = learn(cand.type)
                    if code == _NOT_A_HINT:
                        continue
                    if code == _UNMAPPED:
                        unmapped[cand.type] += 1
                        code = _UNKNOWN
                conf = cand.confidence
                if not -FINITE < conf < FINITE:  # missing (NaN) or absurd ranks below any given one
                    conf = -1.0
                if best < 0 or conf > best_conf:
                    best = code
                    best_conf = conf
        return best, (best_conf / 100.0 if best >= 0 and best_conf >= 0 else NAN)

    return pick


@dataclass
class Tally:
    """Counters from converting one part, merged into the ParseContext by the caller."""

    skipped: int = 0
    rejected: int = 0
    first_rejection: tuple[int, str] | None = None  # (record index, reason)
    unmapped: Counter[str] = field(default_factory=Counter)

    def reject(self, index: int, reason: str, count: int) -> None:
        self.rejected += count
        if self.first_rejection is None:
            self.first_rejection = (index, reason)

    def merge_into(self, ctx: ParseContext, base: int = 0) -> None:
        """Add these counts to ``ctx``; ``base`` is the file index of local record 0."""
        if self.skipped:
            ctx.skip(self.skipped)
        if self.rejected and self.first_rejection is not None:
            index, reason = self.first_rejection
            ctx.reject(f"locations[{base + index}]", reason, count=self.rejected)
        for raw, n in self.unmapped.items():
            ctx.unmapped(raw, n)


def _epoch_ms(values: list[int | str | None]) -> pa.Array:
    """``timestampMs`` values (str, int or None) → UTC; unreadable → null.

    All strings or all integers (every real file) convert column-wise; a mixture goes value by value.
    """
    try:
        arr = pa.array(values)
        if pa.types.is_string(arr.type):
            arr = pc.utf8_trim_whitespace(arr)
        nums = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        nums = np.array([_ms_number(v) for v in values], dtype=np.float64)
    return epoch_ms_to_utc(nums)


def _ms_number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return NAN


def to_table(locs: list[Location], index: np.ndarray, tally: Tally) -> pa.Table | None:
    """Decoded records (``index``: their positions in the file) → a points table.

    One pass over the records per group of fields (C-level ``map``/``fromiter``, no Python
    frame per record); only the records that carry an activity list cost a Python call.
    """
    m = len(locs)
    if m == 0:
        return None
    try:
        num = np.fromiter(map(_NUMBERS, locs), dtype=_NUMBER_ROW, count=m)
    except OverflowError:  # msgspec keeps a JSON integer exact: one can exceed any float
        num = np.fromiter((tuple(map(number, t)) for t in map(_NUMBERS, locs)), dtype=_NUMBER_ROW, count=m)
    lat = e7_to_degrees(num["lat"], E7_LAT_WRAP)
    lon = e7_to_degrees(num["lon"], E7_LON_WRAP)
    has_xy = ~(np.isnan(lat) | np.isnan(lon))

    iso = pa.array(list(map(_TIMESTAMP, locs)), type=pa.string())
    ts = fast_utc(iso) if iso.null_count < m else pa.nulls(m, TS)
    if ts.null_count:
        # timestampMs is read only where no ISO timestamp gave a time (older exports)
        # (all of them are converted: one C-level pass, and coalesce keeps the ISO times first)
        ts = pc.coalesce(ts, _epoch_ms(list(map(_TIMESTAMP_MS, locs))))
    no_ts = ts.is_null().to_numpy(zero_copy_only=False)

    bad = has_xy & no_ts
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = locs[i].timestamp if locs[i].timestamp is not None else locs[i].timestampMs
        reason = "no timestamp or timestampMs" if text is None else f"unreadable timestamp {text!r}"
        tally.reject(int(index[i]), reason, int(bad.sum()))
    tally.skipped += int(m - has_xy.sum())
    keep = has_xy & ~no_ts

    codes = np.full(m, -1, dtype=np.int8)
    conf = np.full(m, np.nan, dtype=np.float32)
    acts = list(map(_ACTIVITY, locs))
    with_act = np.flatnonzero(np.fromiter(map(bool, acts), dtype=bool, count=m) & keep)
    if len(with_act):
        pick = hint_picker(tally.unmapped)
        picked = np.fromiter(map(pick, map(acts.__getitem__, with_act.tolist())), dtype=_PICKED, count=len(with_act))
        codes[with_act] = picked["code"]
        conf[with_act] = picked["conf"]

    table = pa.table(
        {
            "ts": ts,
            "lat": lat,
            "lon": lon,
            "accuracy_m": pa.array(num["acc"].astype(np.float32), from_pandas=True),
            "altitude_m": pa.array(num["alt"].astype(np.float32), from_pandas=True),
            "speed_mps": pa.array(num["vel"].astype(np.float32), from_pandas=True),
            "heading_deg": pa.array(num["hd"].astype(np.float32), from_pandas=True),
            "mode_hint": _MODE_TEXT.take(pa.array(codes, mask=codes < 0)),
            "mode_hint_conf": pa.array(conf, from_pandas=True),
            "_i": pa.array(index, pa.int64()),
        }
    )
    if not keep.all():
        table = table.filter(pa.array(keep))
    return table if table.num_rows else None


def number(value: object) -> float:
    """A JSON number as float; NaN if absent or not a number (booleans are not numbers)."""
    kind = type(value)
    if (kind is int or kind is float) and -FINITE < value < FINITE:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    return NAN
