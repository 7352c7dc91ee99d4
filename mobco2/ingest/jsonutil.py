"""JSON plumbing shared by the Google parsers: buffers, errors, coordinates, times, tables.

* :func:`json_buffer` gives a file's bytes without copying them (an ``mmap`` for a plain file on
  disk) or, for gzip and archive members, the decompressed bytes read once.
* :func:`decode_error` turns a msgspec ``DecodeError``/``ValidationError`` into an
  :class:`~mobco2.errors.InputDataError` naming the file, the line and column (or the JSON path of
  the record) and what to do.
* Coordinates: :func:`e7_to_degrees` (with Google's int32 overflow fix) and
  :func:`parse_latlng` for ``"48.85°, 2.35°"`` / ``"geo:48.85,2.35"`` strings, both vectorised.

Cutting the one big array of a document into parts decoded one at a time or in parallel is
:mod:`mobco2.ingest.jsonparts`.
"""

from __future__ import annotations

import codecs
import gzip
import math
import mmap
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import pairwise
from typing import BinaryIO

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import InputDataError
from mobco2.ingest.base import UTF8_BOM, Source
from mobco2.schema import TS

E7_LAT_WRAP = 900_000_000
E7_LON_WRAP = 1_800_000_000
E7_OVERFLOW = 2**32
"""Some Google exports wrote E7 coordinates as unsigned 32-bit: subtract 2³² above the range."""

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LATLNG_RE = rf"^\s*(?:geo:)?\s*(?P<lat>{_NUMBER})\s*°?\s*,\s*(?P<lon>{_NUMBER})\s*°?\s*(?:,.*)?$"
_BYTE_RE = re.compile(r"\(byte (\d+)\)")
_PATH_RE = re.compile(r" - at `\$(.*)`$")
TRUNCATED = "Input data was truncated"


def bom_length(head: bytes | memoryview) -> int:
    """3 if ``head`` starts with a UTF-8 BOM, else 0."""
    return len(UTF8_BOM) if bytes(head[:3]) == UTF8_BOM else 0


@contextmanager
def json_buffer(source: Source) -> Iterator[tuple[memoryview, mmap.mmap | None, int]]:
    """The whole content as a memoryview with any BOM cut off, the mmap backing it (or None), and
    the length of the BOM removed (to report byte offsets as they are in the file).

    A plain file on disk is memory-mapped (no copy; pages are file-backed and reclaimable).
    Anything else (gzip, a zip member) is read into memory once.
    """
    if source.path is not None:
        with open(source.path, "rb") as f:
            try:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file cannot be mapped
                yield memoryview(b""), None, 0
                return
            view = memoryview(mm)
            bom = bom_length(view)
            part = view[bom:]
            try:
                yield part, mm, bom
            finally:
                part.release()
                view.release()
                with suppress(BufferError):  # a caller still holds a slice: the GC will close it
                    mm.close()
    else:
        try:
            with source.open() as f:
                data = f.read()
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a gzip cut short or damaged
            raise InputDataError(
                f"corrupt or truncated compressed data ({e})",
                path=source.name,
                hint="re-download or re-export the file",
            ) from None
        bom = bom_length(data)
        yield memoryview(data)[bom:], None, bom


def line_and_column(buf: memoryview | bytes, pos: int) -> tuple[int, int]:
    """1-based line and column of byte ``pos`` in ``buf`` (counted in 16 MiB slices)."""
    pos = max(0, min(pos, len(buf)))
    lines = 0
    last_nl = -1
    step = 16 * 1024 * 1024
    for start in range(0, pos, step):
        chunk = bytes(buf[start : min(start + step, pos)])
        n = chunk.count(b"\n")
        if n:
            lines += n
            last_nl = start + chunk.rfind(b"\n")
    return lines + 1, pos - last_nl


def error_position(exc: msgspec.DecodeError, length: int) -> int | None:
    """The byte offset msgspec reports for a syntax error; ``length`` for truncated input."""
    text = str(exc)
    if text.startswith(TRUNCATED):
        return length
    m = _BYTE_RE.search(text)
    return int(m.group(1)) if m else None


def decode_error(
    name: str,
    exc: msgspec.DecodeError,
    buf: memoryview | bytes,
    *,
    shift: int = 0,
    bom: int = 0,
    path_prefix: str = "",
    what: str = "the export",
) -> InputDataError:
    """An :class:`InputDataError` for a msgspec failure while decoding (part of) ``buf``.

    ``shift`` maps a position in the decoded bytes back to ``buf`` (a part's start minus any
    synthetic prefix); ``bom`` is added to the byte offset shown so that it matches the file.
    ``path_prefix`` is prepended to a validation error's JSON path (``timelineObjects[3]``).
    """
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        m = _PATH_RE.search(text)
        where = (path_prefix + m.group(1)).lstrip(".") if m else (path_prefix or None)
        problem = _PATH_RE.sub("", text)
        return InputDataError(
            f"unexpected JSON structure: {problem[:1].lower()}{problem[1:]}",
            path=name,
            record=where or None,
            hint=f"this does not look like {what}; check the file, or name the format with --format",
        )
    truncated = text.startswith(TRUNCATED)
    pos = len(buf) if truncated else error_position(exc, 0)
    record = None
    if pos is not None:
        if not truncated:
            pos = max(0, min(len(buf), pos + shift))
        line, col = line_and_column(buf, pos)
        record = f"line {line}, column {col}, byte {pos + bom}"
    if truncated:
        return InputDataError(
            "the JSON ends early (truncated file)",
            path=name,
            record=record,
            hint=f"the download or copy was cut short: export {what} again",
        )
    detail = text.split(": ", 1)[-1]
    detail = _BYTE_RE.sub("", detail).strip()
    return InputDataError(
        f"malformed JSON: {detail}",
        path=name,
        record=record,
        hint=f"the file is damaged or was edited by hand: export {what} again",
    )


def repair_utf8(data: bytes | bytearray | memoryview) -> bytes:
    """``data`` with invalid UTF-8 sequences replaced by U+FFFD.

    Google has written broken UTF-8 in place names (GPSBabel keeps such a file as a regression
    test); msgspec refuses it outright, so a document or item that fails on it is repaired and
    decoded again rather than lost.
    """
    return bytes(data).decode("utf-8", errors="replace").encode("utf-8")


REPAIRED_UTF8 = "invalid UTF-8 (e.g. in place names) was replaced by U+FFFD"


def invalid_utf8(exc: BaseException) -> bool:
    """Whether a JSON decoder refused its input for invalid UTF-8 rather than for its syntax.

    msgspec up to 0.22 raises ``UnicodeDecodeError``; 0.23 raises
    ``DecodeError("Invalid UTF-8 encoded string")``. Both mean "repair and decode again".
    """
    if isinstance(exc, UnicodeDecodeError):
        return True
    return isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError) and (
        "utf-8" in str(exc).lower()
    )


def note_repair(warnings: list[str]) -> None:
    if REPAIRED_UTF8 not in warnings:
        warnings.append(REPAIRED_UTF8)


def decode_repairing(decoder: msgspec.json.Decoder, data: bytes | bytearray | memoryview, warnings: list[str]):  # type: ignore[no-untyped-def]
    """``decoder.decode(data)``, retried once on repaired bytes if the text is not valid UTF-8."""
    try:
        return decoder.decode(data)
    except (UnicodeDecodeError, msgspec.DecodeError) as exc:
        if not invalid_utf8(exc):
            raise
        note_repair(warnings)
        return decoder.decode(repair_utf8(data))


def valid_utf8(data: bytes, warnings: list[str]) -> bytes:
    """``data`` itself when it is valid UTF-8 (one fast scan), else repaired with U+FFFD and noted."""
    if data.isascii():
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        note_repair(warnings)
        return repair_utf8(data)
    return data


def e7_to_degrees(e7: np.ndarray, wrap: int) -> np.ndarray:
    """Degrees × 10⁷ (float array, NaN for missing) → degrees, undoing the uint32 overflow.

    ``wrap`` is :data:`E7_LAT_WRAP` or :data:`E7_LON_WRAP`: a value above it was written as an
    unsigned 32-bit number and gets 2³² subtracted (input-formats.md §1a).
    """
    e7 = np.asarray(e7, dtype=np.float64)
    return np.where(e7 > wrap, e7 - E7_OVERFLOW, e7) / 1e7


def element_locators(key: str, index: np.ndarray) -> pa.Array:
    """``key[i]`` strings for non-negative element indexes, built as Arrow buffers in numpy.

    Indexes come in file order, so rows with the same number of digits form a few runs; each
    run is written as a block of fixed-width rows, one character column at a time. Measured
    ~10 times cheaper than casting to text and joining (2.4 M rows for a 1 GB Records.json).
    """
    idx = np.asarray(index, dtype=np.int64)
    n = len(idx)
    digits = np.ones(n, dtype=np.int64)
    for power in range(1, 19):
        more = idx >= 10**power
        if not more.any():
            break
        digits += more
    runs = [0, *(np.flatnonzero(np.diff(digits)) + 1).tolist(), n]
    if len(runs) > 64:  # not in file order: let Arrow format them
        return pc.binary_join_element_wise(f"{key}[", pa.array(idx).cast(pa.string()), "]", "")
    prefix = np.frombuffer(f"{key}[".encode(), dtype=np.uint8)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(len(prefix) + digits + 1, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    for a, b in pairwise(runs):
        if a == b:
            continue
        d = int(digits[a])
        block = data[offsets[a] : offsets[b]].reshape(b - a, len(prefix) + d + 1)
        block[:, : len(prefix)] = prefix
        rest = idx[a:b].copy()
        for k in range(d):  # units digit first
            block[:, len(prefix) + d - 1 - k] = 48 + rest % 10
            rest //= 10
        block[:, -1] = ord("]")
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def parse_latlng(values: Sequence[str | None] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Google coordinate strings → (lat, lon) float64 arrays, NaN where unreadable.

    Accepts ``"48.8566°, 2.3522°"``, ``"48.8566, 2.3522"`` and ``"geo:48.8566,2.3522"`` with an
    optional third component (altitude, ignored).
    """
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if len(arr) == 0:
        return np.empty(0), np.empty(0)
    parts = pc.extract_regex(arr, _LATLNG_RE)
    lat = pc.struct_field(parts, "lat").cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    lon = pc.struct_field(parts, "lon").cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~(np.isfinite(lat) & np.isfinite(lon))
    return np.where(bad, np.nan, lat), np.where(bad, np.nan, lon)


def plausible(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN for coordinates outside [-90, 90] × [-180, 180] (segment ends and visits are optional
    positions: an impossible one is dropped, not the segment)."""
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~((np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    return np.where(bad, np.nan, lat), np.where(bad, np.nan, lon)


def distance_or_great_circle(
    given: np.ndarray, lat0: np.ndarray, lon0: np.ndarray, lat1: np.ndarray, lon1: np.ndarray
) -> np.ndarray:
    """The source's distance in metres where it is a finite non-negative number, else the
    great-circle distance between the ends (NaN when an end is unknown)."""
    given = np.asarray(given, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(given) & (given >= 0)
    return np.where(ok, given, haversine_m(lat0, lon0, lat1, lon1))


def utc_times(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Timestamp strings → (UTC timestamps, local offset minutes).

    Arrow's own ISO parser handles Google's usual ``…T…Z`` / ``±hh:mm`` text fast; anything it
    refuses (epoch strings, ``"2025-03-24 20:07:24 +0100"``, nine fractional digits) goes through
    :func:`mobco2.ingest.times.iso_to_utc`. A trailing ``Z`` is Google writing UTC, not the
    user's local zone, so its offset is null, not 0.
    """
    from mobco2.ingest.times import iso_to_utc  # imports pandas: only when needed

    if values.type != pa.string():
        values = values.cast(pa.string())
    times = iso_to_utc(values)
    zulu = pc.fill_null(pc.match_substring_regex(values, r"[Zz]\s*$"), False)
    offsets = pc.if_else(zulu, pa.scalar(None, pa.int16()), times.offset_min)
    return times.ts, offsets


def fast_utc(values: pa.Array) -> pa.Array:
    """UTC timestamps from strings, without offsets: Arrow's parser first, :func:`utc_times` else."""
    try:
        return values.cast(TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        from mobco2.ingest.times import iso_to_utc  # imports pandas: only when needed

        return iso_to_utc(values).ts


def epoch_ms_to_utc(values: np.ndarray) -> pa.Array:
    """Epoch milliseconds (float array, NaN for missing) → UTC timestamps."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values) | (np.abs(values) > 9.2e15)
    us = np.where(bad, 0, values * 1000.0).round().astype(np.int64)
    return pa.array(us, type=pa.int64(), mask=bad).cast(TS)


class StreamReader:
    """A binary reader for ijson: drops a leading BOM, repairs invalid UTF-8 (U+FFFD) on the fly,
    and reports the bytes consumed."""

    def __init__(self, raw: BinaryIO, progress=None) -> None:  # type: ignore[no-untyped-def]
        self._raw = raw
        self._progress = progress
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.consumed = 0
        self._first = True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if self._first and data:  # ijson's first call reads 0 bytes to sniff the stream type
            self._first = False
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM) :]
                self.consumed += len(UTF8_BOM)
        self.consumed += len(data)
        if self._progress is not None:
            self._progress(self.consumed)
        if data.isascii():  # the common case costs one scan, no copy
            if self._utf8.getstate()[0]:  # bytes of a character split over the last read
                return self._utf8.decode(data, final=not data).encode("utf-8")
            return data
        return self._utf8.decode(data, final=not data).encode("utf-8")


def number(value: object) -> float | None:
    """A finite JSON number, or a string holding one (iOS writes ``"0.950000"``), as float; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            out = float(value)
        except OverflowError:
            return None
        return out if math.isfinite(out) else None
    if isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            return None
        return out if math.isfinite(out) else None
    return None


def fraction(value: object, *, percent: bool) -> float | None:
    """A probability as 0–1 from 0–100 (``percent``: Semantic) or 0–1 (Timeline); 0 → None.

    Old exports fill ``probability`` with ``0.0`` for every candidate, so a zero is no evidence.
    """
    v = number(value)
    if v is None or v <= 0:
        return None
    return v / 100.0 if percent else v


def place_type(raw: str | None) -> str | None:
    """``"TYPE_HOME"``, ``"Home"``, ``"Aliased Location"`` → ``HOME``, ``ALIASED_LOCATION``."""
    if raw is None or not raw.strip():
        return None
    key = raw.strip().replace(" ", "_").replace("-", "_").upper()
    return key[5:] if key.startswith("TYPE_") else key


EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between degree arrays (NaN where a coordinate is NaN)."""
    with np.errstate(invalid="ignore"):
        p1, p2 = np.radians(lat1), np.radians(lat2)
        dp = p2 - p1
        dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
        a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def typed_table(schema: pa.Schema, columns: dict[str, object]) -> pa.Table:
    """Build a table from ``columns`` (lists or arrays) with the types ``schema`` gives them.

    Only the columns given appear, in ``schema`` order; a ``record`` column (string locator)
    may be added after them. NaN in float input becomes null.
    """
    arrays: list[pa.Array] = []
    names: list[str] = []
    wanted = [f for f in schema if f.name in columns]
    if "record" in columns:
        wanted.append(pa.field("record", pa.string()))
    for f in wanted:
        values = columns[f.name]
        if isinstance(values, pa.Array | pa.ChunkedArray):
            arr = values if values.type == f.type else values.cast(f.type)
        else:
            arr = pa.array(values, type=f.type, from_pandas=True)
        arrays.append(arr)
        names.append(f.name)
    return pa.table(arrays, names=names)
