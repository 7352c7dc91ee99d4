"""Google Takeout ``Records.json`` (formerly ``Location History.json``): raw fixes, 2012–2024.

``{"locations": [{latitudeE7, longitudeE7, timestamp | timestampMs, accuracy, velocity,
heading, altitude, activity: [{activity: [{type, confidence}], timestamp}], …}, …]}``
(input-formats.md §1a). Each record becomes one point:

* ``lat``/``lon``: E7 integers / 10⁷ after the uint32 overflow fix; records without both are
  skipped (``ctx.skip``), as Google writes such records for some Wi-Fi scans.
* ``ts``: the ISO ``timestamp`` or, failing that, ``timestampMs`` (epoch ms, string or number),
  per record. A record with neither, or with unreadable text, is rejected. Google writes UTC
  (``Z``), not the local zone, so ``tz_offset_min`` stays null.
* ``accuracy_m``, ``altitude_m``, ``speed_mps`` (``velocity`` is already m/s), ``heading_deg``;
  ``verticalAccuracy`` is ignored.
* ``mode_hint``/``mode_hint_conf``: over all of the record's activity lists, the candidate with the
  highest confidence among those that name a mode of travel (STILL, TILTING and UNKNOWN are not
  hints), mapped with ``modes.map_mode("google_records", …)``; confidence / 100. Ties keep the
  first candidate in file order. An unmapped type is a hint of ``unknown`` and is counted.
* ``record``: ``locations[i]``, the record's index in the file, for error messages.

Reading strategy (measured with bench/bench_records.py):

* Default: msgspec typed decoding into Structs that declare only the fields above. The
  ``locations`` array of a file on disk is cut into parts of ~64 MiB of whole records
  (:func:`mobco2.ingest.jsonutil.plan_parts`, which verifies every cut); each part is read into
  one reused buffer, decoded, turned into one Arrow table and dropped, so memory stays near one
  part whatever the file size. The cyclic GC is paused while a part is decoded and converted
  (it tripled the decode time). A file that cannot be cut (unusual layout) is decoded whole from
  an mmap and converted in chunks of :data:`CHUNK_ROWS`. A gzip or archive member is read into
  memory first.
* Worker processes: for a file on disk of at least :data:`PARALLEL_MIN_BYTES`, on Linux, parts
  are decoded by up to :data:`MAX_WORKERS` forked processes, two parts per worker ahead of the
  consumer, and come back in file order. ``ctx.options["workers"]`` overrides the count
  (``"1"``: stay in this process). No pool is started from a daemon process (a cohort worker).
* Streaming with ijson (yajl2_c backend) when ``ctx.low_memory`` is set, or when the content
  would have to sit in memory (a compressed or unsplittable file) and is larger than
  :data:`STREAMING_SHARE` of the available RAM. It is several times slower but flat in memory
  (~190 MB peak for 1 GB). A file on disk that can be cut never needs it: its parts bound memory.
* A record whose JSON types are unexpected (a string latitude…) makes the typed decoder fail;
  the file is then finished with the tolerant streaming reader, which rejects that record alone.
* Invalid UTF-8 is replaced by U+FFFD rather than failing the file.
"""

from __future__ import annotations

import mmap
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from operator import attrgetter
from typing import BinaryIO

import ijson
import msgspec
import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import InputDataError
from mobco2.ingest import modes
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.jsonutil import (
    E7_LAT_WRAP,
    E7_LON_WRAP,
    Part,
    StreamReader,
    decode_error,
    e7_to_degrees,
    epoch_ms_to_utc,
    fast_utc,
    gc_paused,
    json_buffer,
    map_in_processes,
    part_shift,
    part_view,
    plan_parts,
    release_pages,
    repair_utf8,
    worker_count,
)
from mobco2.schema import TS

FORMAT = "google_records"
DESCRIPTION = "Google Takeout Records.json / Location History.json (raw fixes with activity hints)"

CHUNK_ROWS = 250_000
"""Rows per Arrow batch when a whole decoded document is converted."""
PART_BYTES = 64 * 1024**2
"""Bytes of JSON decoded at a time on the typed path."""
STREAM_ROWS = 50_000
"""Rows per batch on the streaming path (small: that path exists to save memory)."""
STREAMING_SHARE = 0.4
"""Stream instead of decoding when in-memory content would exceed this share of free RAM."""
GZIP_RATIO = 10
"""Assumed inflation of a gzipped Records.json when its real size is unknown."""
PARALLEL_MIN_BYTES = 256 * 1024**2
"""Files at least this big are decoded by worker processes unless ``workers`` says otherwise."""
MAX_WORKERS = 4
"""At most this many worker processes (each holds about one part: ~270 MB for 64 MiB parts)."""
WHAT = "Records.json (Google Takeout, Location History)"

_HEAD = re.compile(rb'^\{\s*"locations"\s*:\s*\[')
_NAN = float("nan")


def sniff(head: bytes) -> bool:
    """``{"locations": [ {"latitudeE7": …`` (Overland's ``locations`` holds GeoJSON instead)."""
    return bool(_HEAD.match(head)) and (b'"latitudeE7"' in head or b'"timestampMs"' in head)


class _Candidate(msgspec.Struct, gc=False):
    type: str = ""
    confidence: float = _NAN


class _Activity(msgspec.Struct, gc=False):
    activity: list[_Candidate] = []


class _Location(msgspec.Struct, gc=False):
    latitudeE7: float = _NAN
    longitudeE7: float = _NAN
    timestamp: str | None = None
    timestampMs: int | str | None = None
    accuracy: float = _NAN
    altitude: float = _NAN
    velocity: float = _NAN
    heading: float = _NAN
    activity: list[_Activity] | None = None


class _Root(msgspec.Struct, gc=False):
    locations: list[_Location] = []


_ROOT = msgspec.json.Decoder(_Root)
_LIST = msgspec.json.Decoder(list[_Location])
_FIELDS = attrgetter(
    "latitudeE7", "longitudeE7", "accuracy", "altitude", "velocity", "heading",
    "timestamp", "activity",
)  # fmt: skip
_ROW = np.dtype(
    [("lat", "f8"), ("lon", "f8"), ("acc", "f4"), ("alt", "f4"), ("vel", "f4"), ("hd", "f4"),
     ("ts", "O"), ("act", "O")]
)  # fmt: skip
_PICKED = np.dtype([("mode", "O"), ("conf", "f4")])
_UNMAPPED = object()  # a type with no mapping: hint "unknown", counted
_MISSING = object()  # not looked up yet


def _hint_picker(unmapped: Counter[str]) -> Callable[[list[_Activity]], tuple[str | None, float]]:
    """A function: a record's activity lists → (mode hint, confidence 0–1), counting unmapped types.

    A plain loop in a closure: measured twice as fast as flattening candidates into arrays,
    because most records hold one short list.
    """
    table: dict[str, object] = {
        raw: (mode.value if mode is not None else None) for raw, mode in modes.GOOGLE_RECORDS.items()
    }

    def learn(raw: str) -> object:
        mode, known = modes.map_mode("google_records", raw)
        value: object = mode.value if mode is not None else None
        table[raw] = value if known else _UNMAPPED
        return table[raw]

    def pick(entries: list[_Activity]) -> tuple[str | None, float]:
        best = None
        best_conf = -1.0
        for entry in entries:
            for cand in entry.activity:
                mode = table.get(cand.type, _MISSING)
                if mode is _MISSING:
                    mode = learn(cand.type)
                if mode is None:
                    continue
                if mode is _UNMAPPED:
                    unmapped[cand.type] += 1
                    mode = "unknown"
                conf = cand.confidence
                if conf != conf:  # missing confidence ranks below any given one
                    conf = -1.0
                if best is None or conf > best_conf:
                    best = mode
                    best_conf = conf
        if best is None:
            return None, _NAN
        return best, (best_conf / 100.0 if best_conf >= 0 else _NAN)  # type: ignore[return-value]

    return pick


@dataclass
class _Tally:
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


def _epoch_ms(values: np.ndarray) -> pa.Array:
    """``timestampMs`` values (str, int or None) → UTC; unreadable → null."""
    nums = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    return epoch_ms_to_utc(nums)


def _to_table(locs: list[_Location], index: np.ndarray, tally: _Tally) -> pa.Table | None:
    """Decoded records (``index``: their positions in the file) → a points table."""
    m = len(locs)
    if m == 0:
        return None
    rows = np.fromiter(map(_FIELDS, locs), dtype=_ROW, count=m)
    lat = e7_to_degrees(rows["lat"], E7_LAT_WRAP)
    lon = e7_to_degrees(rows["lon"], E7_LON_WRAP)
    has_xy = ~(np.isnan(lat) | np.isnan(lon))

    iso = pa.array(rows["ts"], type=pa.string())
    ts = fast_utc(iso) if iso.null_count < m else pa.nulls(m, TS)
    if ts.null_count:
        # timestampMs is read only where no ISO timestamp gave a time (older exports)
        missing = np.flatnonzero(ts.is_null().to_numpy(zero_copy_only=False))
        ms = np.full(m, None, dtype=object)
        ms[missing] = [locs[i].timestampMs for i in missing]
        ts = pc.coalesce(ts, _epoch_ms(ms))
    no_ts = ts.is_null().to_numpy(zero_copy_only=False)

    bad = has_xy & no_ts
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = locs[i].timestamp if locs[i].timestamp is not None else locs[i].timestampMs
        reason = "no timestamp or timestampMs" if text is None else f"unreadable timestamp {text!r}"
        tally.reject(int(index[i]), reason, int(bad.sum()))
    tally.skipped += int(m - has_xy.sum())
    keep = has_xy & ~no_ts

    hint = np.full(m, None, dtype=object)
    conf = np.full(m, np.nan, dtype=np.float32)
    acts = rows["act"]
    with_act = np.flatnonzero(np.fromiter(map(bool, acts), dtype=bool, count=m) & keep)
    if len(with_act):
        pick = _hint_picker(tally.unmapped)
        picked = np.fromiter(map(pick, acts[with_act]), dtype=_PICKED, count=len(with_act))
        hint[with_act] = picked["mode"]
        conf[with_act] = picked["conf"]

    table = pa.table(
        {
            "ts": ts,
            "lat": lat,
            "lon": lon,
            "accuracy_m": pa.array(rows["acc"], pa.float32(), from_pandas=True),
            "altitude_m": pa.array(rows["alt"], pa.float32(), from_pandas=True),
            "speed_mps": pa.array(rows["vel"], pa.float32(), from_pandas=True),
            "heading_deg": pa.array(rows["hd"], pa.float32(), from_pandas=True),
            "mode_hint": pa.array(hint, pa.string()),
            "mode_hint_conf": pa.array(conf, pa.float32(), from_pandas=True),
            "_i": pa.array(index, pa.int64()),
        }
    )
    if not keep.all():
        table = table.filter(pa.array(keep))
    return table if table.num_rows else None


def _locators(index: pa.Array) -> pa.Array:
    """``locations[i]`` strings, built column-wise."""
    return pc.binary_join_element_wise("locations[", index.cast(pa.string()), "]", "")


# --------------------------------------------------------------------------- typed (msgspec) path


KEY = "locations"


class _PartFailed(Exception):
    def __init__(self, part: Part, exc: msgspec.DecodeError) -> None:
        super().__init__(str(exc))
        self.part = part
        self.exc = exc


def _decode(
    buf: memoryview, part: Part, scratch: bytearray, file: BinaryIO | None = None, bom: int = 0
) -> list[_Location]:
    """Decode one part of ``buf`` (the file without its BOM) into records."""
    decoder = _LIST if part.kind == "middle" else _ROOT
    try:
        with part_view(buf, part, KEY, scratch, file, bom) as data, gc_paused():
            try:
                found = decoder.decode(data)
            except UnicodeDecodeError:
                found = decoder.decode(repair_utf8(data))
            return found if part.kind == "middle" else found.locations
    except msgspec.DecodeError as exc:
        raise _PartFailed(part, exc) from None


_Chunk = tuple[pa.Table | None, _Tally, int]


def _chunks(locs: list[_Location]) -> Iterator[_Chunk]:
    """Decoded records → (table, tally, record count) per CHUNK_ROWS, freeing records as it goes.

    Tables carry ``_i``, each row's index within ``locs``; :func:`_finish` turns it into the
    ``record`` locator once the part's position in the file is known.
    """
    done = 0
    while locs:
        with gc_paused():
            chunk = locs[:CHUNK_ROWS]
            del locs[:CHUNK_ROWS]
            tally = _Tally()
            table = _to_table(chunk, np.arange(done, done + len(chunk), dtype=np.int64), tally)
            n = len(chunk)
            del chunk
        yield table, tally, n
        done += n


def _finish(table: pa.Table, base: int) -> pa.Table:
    """Replace the local ``_i`` column by ``record`` = ``locations[base + _i]``."""
    i = table.schema.get_field_index("_i")
    index = pc.add(table.column(i), pa.scalar(base, pa.int64()))
    return table.set_column(i, "record", _locators(index))


_SCRATCH = bytearray()  # in a worker process only: its copy buffer, reused for every part


def _work(path: str, bom: int, part: Part) -> list[_Chunk] | None:
    """Decode and convert one part in a worker process; None if it does not decode."""
    with open(path, "rb", buffering=0) as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        buf = view[bom:]
        try:
            locs = _decode(buf, part, _SCRATCH, f, bom)
        except _PartFailed:
            return None  # the parent decodes it again and reports or recovers
        finally:
            buf.release()
            view.release()
        return list(_chunks(locs))


def _outcomes(
    source: Source, buf: memoryview, bom: int, parts: list[Part], workers: int
) -> Iterator[tuple[Part, Iterable[_Chunk] | None]]:
    """Each part with its converted chunks (None if it failed to decode), in file order.

    Big files on disk are decoded by worker processes; whatever they did not do (no pool, a
    broken pool) is done here.
    """
    done = 0
    if source.path is not None and len(parts) > 2:
        calls = [(str(source.path), bom, part) for part in parts]
        for result in map_in_processes(_work, calls, workers):
            yield parts[done], result
            done += 1
    scratch = bytearray()
    with open(source.path, "rb", buffering=0) if source.path is not None else nullcontext() as file:
        for part in parts[done:]:
            try:
                locs = _decode(buf, part, scratch, file, bom)
            except _PartFailed:
                yield part, None
                continue
            yield part, _chunks(locs)


class _FinishStreaming(Exception):
    """The typed path cannot go on: stream the file from record ``skip``."""

    def __init__(self, skip: int) -> None:
        super().__init__(skip)
        self.skip = skip


def _parse_typed(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    with json_buffer(source) as (buf, mm, bom):
        parts = plan_parts(buf, KEY, PART_BYTES, _LIST)
        in_memory = mm is None or len(parts) == 1
        if in_memory and len(buf) > STREAMING_SHARE * psutil.virtual_memory().available:
            raise _FinishStreaming(0)
        base = 0
        workers = worker_count(ctx.options.get("workers", ""), len(buf), PARALLEL_MIN_BYTES, MAX_WORKERS)
        for part, chunks in _outcomes(source, buf, bom, parts, workers):
            if chunks is None:
                # A bad cut shows up as a failure of the part before it: decode everything
                # left in one go; if that fails too, the JSON itself is at fault.
                part = Part("whole" if part.start == 0 else "last", part.start, len(buf))
                try:
                    chunks = _chunks(_decode(buf, part, bytearray()))
                except _PartFailed as failed:
                    if isinstance(failed.exc, msgspec.ValidationError):
                        raise _FinishStreaming(base) from None
                    shift = part_shift(part, KEY)
                    raise decode_error(source.name, failed.exc, buf, shift=shift, bom=bom, what=WHAT) from None
            for table, tally, count in chunks:
                tally.merge_into(ctx, base)
                if table is not None:
                    yield Batch(points=_finish(table, base))
                base += count
            release_pages(mm, part.start, part.end)
            ctx.report_progress(part.end + bom)
            if part.end == len(buf):
                break


# --------------------------------------------------------------------------- streaming (ijson) path


_FINITE = 1e300  # a bigger JSON number would overflow a float: treated as no number


def _number(value: object) -> float:
    """A JSON number as float; NaN if absent or not a number (booleans are not numbers)."""
    kind = type(value)
    if (kind is int or kind is float) and -_FINITE < value < _FINITE:  # type: ignore[operator]
        return float(value)  # type: ignore[arg-type]
    return _NAN


def _location_from_json(rec: object) -> _Location | str:
    """One record as ijson gives it → a _Location, or the reason it is rejected.

    Written for speed (this runs once per record on the streaming path): type checks by
    identity, no helper calls on the common path.
    """
    if type(rec) is not dict:
        return "the record is not a JSON object"
    get = rec.get
    lat, lon = get("latitudeE7"), get("longitudeE7")
    if lat is None:
        lat = _NAN
    elif (lat := _number(lat)) != lat:
        return f"latitudeE7 is not a number: {get('latitudeE7')!r}"
    if lon is None:
        lon = _NAN
    elif (lon := _number(lon)) != lon:
        return f"longitudeE7 is not a number: {get('longitudeE7')!r}"
    stamp = get("timestamp")
    if stamp is not None and type(stamp) is not str:
        return f"timestamp is not a string: {stamp!r}"
    ms = get("timestampMs")
    if ms is not None:
        if type(ms) is float and ms.is_integer():
            ms = int(ms)
        if type(ms) is not int and type(ms) is not str:
            return f"timestampMs is not a string or integer: {ms!r}"
    acts = get("activity")
    entries = None
    if type(acts) is list:
        entries = []
        for entry in acts:
            cands = entry.get("activity") if type(entry) is dict else None
            if type(cands) is list:
                entries.append(_Activity([_candidate(c) for c in cands if type(c) is dict]))
    return _Location(
        lat, lon, stamp, ms, _number(get("accuracy")), _number(get("altitude")), _number(get("velocity")),
        _number(get("heading")), entries,
    )  # fmt: skip


def _candidate(c: dict) -> _Candidate:
    kind = c.get("type")
    return _Candidate(kind if type(kind) is str else "", _number(c.get("confidence")))


def _ijson_items(reader: StreamReader, ctx: ParseContext):  # type: ignore[no-untyped-def]
    """ijson's record iterator, on the C backend when installed (warned about otherwise)."""
    try:
        from ijson.backends import yajl2_c as backend
    except ImportError:
        backend = ijson
        ctx.warnings.append(f"ijson's C backend (yajl2_c) is not installed; streaming with {ijson.backend} is slow")
    return backend.items(reader, "locations.item", use_float=True)


def _parse_streaming(source: Source, ctx: ParseContext, skip: int = 0) -> Iterator[Batch]:
    """Stream the records with ijson, STREAM_ROWS at a time, from record ``skip`` on.

    The cyclic GC is paused while a batch is gathered (not across the yield): ijson's dicts
    and our records are acyclic, and the collector would otherwise rescan them all the time.
    """
    with source.open() as raw:
        reader = StreamReader(raw, ctx.report_progress)
        items = enumerate(_ijson_items(reader, ctx))
        last = -1
        exhausted = False
        while not exhausted:
            with gc_paused():
                locs: list[_Location] = []
                index: list[int] = []
                try:
                    for last, rec in items:  # ``last`` survives the loop: it locates a syntax error
                        if last < skip:
                            continue
                        loc = _location_from_json(rec)
                        if type(loc) is str:
                            ctx.reject(f"locations[{last}]", loc)
                            continue
                        locs.append(loc)  # type: ignore[arg-type]
                        index.append(last)
                        if len(locs) >= STREAM_ROWS:
                            break
                    else:
                        exhausted = True
                except ijson.common.JSONError as exc:
                    raise _stream_error(source, exc, last, reader.consumed) from None
                batch = _stream_batch(locs, index, ctx)
            if batch is not None:
                yield batch


def _stream_error(source: Source, exc: Exception, last: int, consumed: int) -> InputDataError:
    text = str(exc).strip()
    message = text.splitlines()[0] if text else "invalid JSON"
    where = f"after locations[{last}], near byte {consumed}" if last >= 0 else f"near byte {consumed}"
    return InputDataError(
        f"malformed JSON: {message}",
        path=source.name,
        record=where,
        hint=f"the file is damaged or truncated: export {WHAT} again",
    )


def _stream_batch(locs: list[_Location], index: list[int], ctx: ParseContext) -> Batch | None:
    if not locs:
        return None
    tally = _Tally()
    table = _to_table(locs, np.asarray(index, dtype=np.int64), tally)
    tally.merge_into(ctx)
    return None if table is None else Batch(points=_finish(table, 0))


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Records.json → batches of points (see the module docstring for the columns)."""
    compressed = source.path is None
    if ctx.low_memory or (
        compressed
        and (source.size or 0) * (GZIP_RATIO if source.gzipped else 1)
        > STREAMING_SHARE * psutil.virtual_memory().available
    ):
        yield from _parse_streaming(source, ctx)
        return
    try:
        yield from _parse_typed(source, ctx)
    except _FinishStreaming as finish:
        yield from _parse_streaming(source, ctx, skip=finish.skip)
