"""CSV location logs: GPSLogger and generic ``time,lat,lon[,…]`` files (input-formats.md §2.3).

The header names the columns; each role is found by the first matching name (case and
surrounding spaces ignored), or named explicitly through ``ParseContext.options``:

=====================  ==================================================  =====================
option key             default names tried, in order                       unit
=====================  ==================================================  =====================
``time_column``        time, timestamp, datetime, date_time, date,         ISO 8601 (any offset)
                       time_utc, utc_time, recorded_at, timestamp_ms       or epoch s / ms
``lat_column``         lat, latitude                                       degrees
``lon_column``         lon, lng, long, longitude                           degrees
``accuracy_column``    accuracy, accuracy_m, horizontal_accuracy, hacc     m
``altitude_column``    elevation, altitude, altitude_m, alt, ele           m
``speed_column``       speed, speed_mps, speed_kmh, speed_kph              m/s (km/h for *_kmh,
                                                                           *_kph)
``heading_column``     bearing, heading, course, cog                       degrees
``mode_column``        activity, mode                                      free text
``offset_time_column`` time_offset                                         ISO 8601 with offset
=====================  ==================================================  =====================

Other options: ``delimiter`` (default: the most frequent of ``,`` ``;`` TAB ``|`` in the header)
and ``speed_unit`` (``m/s`` or ``km/h``; overrides the column name).

GPSLogger (18 or 24 columns, or reduced): ``time`` is UTC; ``time_offset`` (newer versions) is the
same instant in the phone's local time and gives ``tz_offset_min``; ``speed`` is m/s; ``activity``
holds Google activity-recognition values (``ON_BICYCLE``, ``IN_VEHICLE``…), mapped as mode hints.

A row whose time, latitude or longitude is missing or not a number is rejected
(``ctx.reject``) with its line number; so is a row with the wrong number of fields. An unreadable
optional value (accuracy, speed…) becomes null and is counted in ``ctx.warnings``. Decimal commas
are not read. Parsing is columnar (pyarrow.csv, streamed in blocks).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mobco2.errors import InputDataError, UsageError
from mobco2.ingest import modes, times
from mobco2.ingest.base import UTF8_BOM, Batch, ParseContext, Source, points_schema

FORMAT = "csv"
DESCRIPTION = "CSV location logs (GPSLogger, or time,lat,lon columns; names configurable)"

BLOCK_BYTES = 4 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
ROLES: dict[str, tuple[str, ...]] = {
    "time": (
        "time",
        "timestamp",
        "datetime",
        "date_time",
        "date",
        "time_utc",
        "utc_time",
        "recorded_at",
        "timestamp_ms",
    ),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "accuracy": ("accuracy", "accuracy_m", "horizontal_accuracy", "hacc"),
    "altitude": ("elevation", "altitude", "altitude_m", "alt", "ele"),
    "speed": ("speed", "speed_mps", "speed_kmh", "speed_kph"),
    "heading": ("bearing", "heading", "course", "cog"),
    "mode": ("activity", "mode"),
    "offset_time": ("time_offset",),
}
"""Column names tried for each role, first match wins (case-insensitive)."""
REQUIRED = ("time", "lat", "lon")
KMH_NAMES = ("speed_kmh", "speed_kph")

_NUMBER = r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$"
_NOT_TEXT_TABLE = re.compile(rb"^[\[{<]")

_SCHEMA = points_schema(
    "ts", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "heading_deg", "tz_offset_min", "mode_hint"
)
_MEASURES = {"accuracy": "accuracy_m", "altitude": "altitude_m", "speed": "speed_mps", "heading": "heading_deg"}


def sniff(head: bytes) -> bool:
    """A header line naming a time column and latitude and longitude columns."""
    if _NOT_TEXT_TABLE.match(head):
        return False
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    names = _header_names(first, _delimiter(first))
    if len(names) < 3:
        return False
    lower = {n.strip().lower() for n in names}
    return all(lower.intersection(ROLES[role]) for role in REQUIRED)


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Rows as points batches, one per block of :data:`BLOCK_BYTES` of text."""
    with source.open() as probe:
        start = probe.read(256 * 1024)
    if start.startswith(UTF8_BOM):
        start = start[len(UTF8_BOM) :]
    leading = len(start) - len(start.lstrip())
    skip_rows = start[:leading].count(b"\n")
    header_line = start[leading:].split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    # pyarrow reads the header itself, from the start of its line (spaces included).
    raw_header_line = start.split(b"\n")[skip_rows].decode("utf-8", errors="replace").rstrip("\r")
    delimiter = ctx.options.get("delimiter") or _delimiter(header_line)
    if delimiter == "\\t":
        delimiter = "\t"
    if len(delimiter) != 1:
        raise UsageError(f"CSV delimiter option {delimiter!r} must be one character", hint="e.g. ';' or '\\t'")
    names = _header_names(raw_header_line, delimiter)
    columns = _resolve(names, ctx.options, source.name)
    speed_kmh = _speed_in_kmh(columns.get("speed"), ctx.options)

    invalid_lines: list[int] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        if row.number is not None:
            invalid_lines.append(row.number)
        ctx.reject(
            f"line {row.number}" if row.number is not None else "a row",
            f"{row.actual_columns} fields where the header has {row.expected_columns}",
        )
        return "skip"

    wanted = sorted(set(columns.values()))
    first_data_line = skip_rows + 2
    done = 0
    counters: dict[str, int] = {}
    with source.open() as raw:
        text = _ValidUtf8(raw)
        try:
            reader = pacsv.open_csv(
                text,
                read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, skip_rows=skip_rows),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=on_invalid_row
                ),
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted,
                    column_types={name: pa.string() for name in wanted},
                    strings_can_be_null=True,
                    null_values=[""],
                ),
            )
            for batch in reader:
                lines = _line_numbers(done, batch.num_rows, first_data_line, invalid_lines)
                done += batch.num_rows
                table = _points(batch, columns, lines, speed_kmh, ctx, counters)
                if table.num_rows:
                    yield Batch(points=table)
                ctx.report_progress(text.consumed)
        except pa.ArrowInvalid as e:
            raise InputDataError(
                f"unreadable CSV ({e})",
                path=source.name,
                hint="check the file is UTF-8 text with one header line; name the delimiter option if unusual",
            ) from None
    for column, n in counters.items():
        ctx.warnings.append(f"{n} values in column {column!r} are not numbers; left empty")


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in DELIMITERS}
    return max(counts, key=lambda d: counts[d])


def _header_names(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    except csv.Error:
        return []


def _resolve(names: list[str], options: dict[str, str], source_name: str) -> dict[str, str]:
    """Role → header name, from explicit options first, then from :data:`ROLES`."""
    by_lower: dict[str, str] = {}
    for name in names:
        by_lower.setdefault(name.strip().lower(), name)
    columns: dict[str, str] = {}
    for role, candidates in ROLES.items():
        chosen = options.get(f"{role}_column")
        if chosen:
            if chosen.strip().lower() not in by_lower:
                raise InputDataError(
                    f"no column {chosen!r} (option {role}_column); the header has: {', '.join(names)}",
                    path=source_name,
                    record="line 1",
                    hint=f"set {role}_column to one of the header's names",
                )
            columns[role] = by_lower[chosen.strip().lower()]
            continue
        found = next((by_lower[c] for c in candidates if c in by_lower), None)
        if found is not None:
            columns[role] = found
    missing = [role for role in REQUIRED if role not in columns]
    if missing:
        raise InputDataError(
            f"no {' or '.join(missing)} column in the header ({', '.join(names)})",
            path=source_name,
            record="line 1",
            hint="name them with the time_column, lat_column and lon_column options",
        )
    return columns


def _speed_in_kmh(column: str | None, options: dict[str, str]) -> bool:
    unit = options.get("speed_unit", "").strip().lower().replace(" ", "")
    if unit in ("km/h", "kmh", "kph"):
        return True
    if unit in ("m/s", "mps"):
        return False
    return column is not None and column.strip().lower() in KMH_NAMES


def _line_numbers(done: int, n: int, first_data_line: int, invalid: list[int]) -> np.ndarray:
    """Physical line of each output row, given the lines the reader dropped as invalid.

    Kept lines are the integers from ``first_data_line`` up, minus the invalid ones; the k-th kept
    line is ``first + k + (number of invalid lines that come before it)``.
    """
    k = np.arange(done, done + n, dtype="int64")
    if not invalid:
        return k + first_data_line
    dropped = np.sort(np.asarray(invalid, dtype="int64"))
    kept_before = dropped - first_data_line - np.arange(len(dropped))
    return k + first_data_line + np.searchsorted(kept_before, k, side="right")


def _points(
    batch: pa.RecordBatch,
    columns: dict[str, str],
    lines: np.ndarray,
    speed_kmh: bool,
    ctx: ParseContext,
    counters: dict[str, int],
) -> pa.Table:
    time_text = batch.column(columns["time"])
    lat_text = batch.column(columns["lat"])
    lon_text = batch.column(columns["lon"])
    blank = (
        time_text.is_null().to_numpy(zero_copy_only=False)
        & lat_text.is_null().to_numpy(zero_copy_only=False)
        & lon_text.is_null().to_numpy(zero_copy_only=False)
    )
    parsed = times.iso_to_utc(time_text)
    lat, lat_ok = _numbers(lat_text)
    lon, lon_ok = _numbers(lon_text)
    ok = lat_ok & lon_ok & parsed.ts.is_valid().to_numpy(zero_copy_only=False)
    offset = parsed.offset_min
    if "offset_time" in columns:
        local = times.iso_to_utc(batch.column(columns["offset_time"])).offset_min
        offset = pc.coalesce(local, offset)
    arrays: dict[str, pa.Array] = {
        "ts": parsed.ts,
        "lat": pa.array(lat),
        "lon": pa.array(lon),
        "tz_offset_min": offset,
    }
    for role, target in _MEASURES.items():
        if role not in columns:
            arrays[target] = pa.nulls(batch.num_rows, pa.float32())
            continue
        text = batch.column(columns[role])
        values, good = _numbers(text)
        unreadable = int((~good & text.is_valid().to_numpy(zero_copy_only=False))[ok].sum())
        if unreadable:
            counters[columns[role]] = counters.get(columns[role], 0) + unreadable
        if role == "speed" and speed_kmh:
            values = values / 3.6
        arrays[target] = pa.array(values, mask=~np.isfinite(values)).cast(pa.float32())
    arrays["mode_hint"] = (
        _mode_hints(batch.column(columns["mode"]), ok, ctx)
        if "mode" in columns
        else (pa.nulls(batch.num_rows, pa.string()))
    )
    arrays["record"] = pc.binary_join_element_wise("line ", pa.array(lines).cast(pa.string()), "")
    table = pa.Table.from_arrays([arrays[f.name] for f in _SCHEMA], schema=_SCHEMA)
    bad = ~ok & ~blank
    if bad.any():
        first = int(np.argmax(bad))
        time_ok = bool(parsed.ts.is_valid().to_numpy(zero_copy_only=False)[first])
        problems = [
            _problem(name, text[first].as_py(), good)
            for name, text, good in (
                ("time", time_text, time_ok),
                ("lat", lat_text, bool(lat_ok[first])),
                ("lon", lon_text, bool(lon_ok[first])),
            )
            if not good
        ]
        ctx.reject(f"line {int(lines[first])}", "; ".join(problems), count=int(bad.sum()))
    if blank.any():
        ctx.skip(int(blank.sum()))
    return table.filter(pa.array(ok))


_NOT_FINITE = re.compile(r"^\s*[+-]?(nan|inf|infinity)\s*$", re.IGNORECASE)


def _problem(name: str, value: str | None, good: bool) -> str:
    """Why one cell of a rejected row is unusable, in words a user can act on."""
    if value is None or not value.strip():
        return f"{name} is missing"
    if name == "time":
        return f"time {value!r} is not a date and time"
    if _NOT_FINITE.match(value):
        return f"{name} {value!r} is not a finite number"
    return f"{name} {value!r} is not a number"


def _numbers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Decimal text → (float64 values with NaN where unreadable, readable mask)."""
    readable = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    cleaned = pc.if_else(readable, pc.utf8_trim_whitespace(text), pa.scalar(None, pa.string()))
    values = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    return values, readable.to_numpy(zero_copy_only=False)


def _mode_hints(raw: pa.Array, counted: np.ndarray, ctx: ParseContext) -> pa.Array:
    """Map each distinct raw mode once; count unmapped values over the rows kept."""
    distinct = pc.unique(raw).drop_null().to_pylist()
    mapped: list[str | None] = []
    for value in distinct:
        mode, known = modes.map_mode("free_text", value)
        mapped.append(mode.value if mode is not None else None)
        if not known:
            n = int((pc.fill_null(pc.equal(raw, value), False).to_numpy(zero_copy_only=False) & counted).sum())
            if n:
                ctx.unmapped(value, n)
    index = pc.index_in(raw, value_set=pa.array(distinct, pa.string()))
    return pc.take(pa.array(mapped, pa.string()), index)


class _ValidUtf8(io.RawIOBase):
    """The stream with invalid UTF-8 replaced by U+FFFD, so one bad byte in a free-text column
    (GPSLogger's ``annotation``) spoils only that value, never the whole file."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = b""
        self.consumed = 0  # bytes read from the source so far

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        size = n if n and n > 0 else BLOCK_BYTES
        while len(self._pending) < size:
            chunk = self._inner.read(size)
            self.consumed += len(chunk)
            final = not chunk
            self._pending += self._decoder.decode(chunk, final=final).encode("utf-8")
            if final:
                break
        out, self._pending = self._pending[:size], self._pending[size:]
        return out
