"""OwnTracks: Recorder ``.rec`` files and OwnTracks JSON (input-formats.md §2.2).

Shapes read:

- **Recorder ``.rec``** (``rec/<user>/<device>/YYYY-MM.rec``): one record per line,
  ``<ISO time> <marker> <JSON>``, separated by TABs or, in older recorders, runs of spaces. The
  JSON payload starts at the line's first ``{``. The leading ISO time is when the Recorder
  *received* the message; the fix time is the payload's ``tst`` and that is what we keep.
- **JSON lines**: the same payloads without the Recorder prefix (HTTP-mode logs).
- **JSON documents**: a single location object, an array of them, or the Recorder API / ``ocat``
  envelope ``{"count": N, "data": [...]}``. Streamed with ijson, never loaded whole.

Only ``_type == "location"`` messages carry a position fix. ``transition``, ``waypoint``, ``lwt``,
``card``, ``status``, ``steps``… are skipped and counted (``ParseContext.skip``). Geofence
``transition`` messages do carry lat/lon, but they repeat a location the device reports anyway.

Units (OwnTracks booklet, JSON): ``lat``/``lon`` degrees, ``tst`` epoch **seconds** UTC (may be a
string), ``acc`` metres, ``alt`` metres, ``vel`` **km/h** (converted to ``speed_mps``), ``cog``
degrees. ``-1`` means "unknown" for ``vel``, ``cog`` and ``acc``, and becomes null. OwnTracks sends
no local offset and no activity, so ``tz_offset_min`` and ``mode_hint`` stay null.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from mobco2.errors import InputDataError
from mobco2.ingest import times
from mobco2.ingest.base import Batch, ParseContext, Source, points_schema
from mobco2.ingest.jsonutil import StreamReader, decode_repairing

FORMAT = "owntracks"
DESCRIPTION = "OwnTracks Recorder .rec files and OwnTracks JSON location messages"

BATCH_ROWS = 50_000
MAX_LINE_BYTES = 1024 * 1024
"""A ``.rec`` line longer than this is not an OwnTracks message (they are under 2 KB)."""

READ_BYTES = 1024 * 1024
KMH_TO_MPS = 1 / 3.6

_REC_LINE = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?[ \t]+\S+[ \t]+\{")
_OWNTRACKS_TYPE = re.compile(rb'"_type"\s*:\s*"(?:location|transition|waypoint|lwt|card|status|steps)"')
_ENVELOPE = re.compile(rb'"data"\s*:\s*\[')
# Keys that belong to GeoJSON, Google or e-mission documents: never ours, whatever else they hold.
_FOREIGN_KEYS = re.compile(rb'"(?:features|FeatureCollection|latitudeE7|timelineObjects|metadata)"')

_SCHEMA = points_schema("ts", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "heading_deg")


class _Message(msgspec.Struct):
    """The fields of an OwnTracks message we read; everything else is skipped in C."""

    type_: str | None = msgspec.field(default=None, name="_type")
    lat: float | str | None = None
    lon: float | str | None = None
    tst: int | float | str | None = None
    acc: float | str | None = None
    alt: float | str | None = None
    vel: float | str | None = None
    cog: float | str | None = None


_DECODER = msgspec.json.Decoder(_Message)


def sniff(head: bytes) -> bool:
    """A Recorder line (``ISO time, marker, {``) or a JSON document of OwnTracks messages."""
    first_line = head.split(b"\n", 1)[0]
    if _REC_LINE.match(first_line):
        return True
    if head[:1] not in (b"{", b"["):
        return False
    if _FOREIGN_KEYS.search(head):
        return False
    return bool(_OWNTRACKS_TYPE.search(head)) and b'"tst"' in head


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Location messages as points batches of up to :data:`BATCH_ROWS` rows."""
    head = source.head(64 * 1024)
    first_line = head.split(b"\n", 1)[0].strip()
    line_mode = bool(_REC_LINE.match(first_line)) or (
        first_line.startswith(b"{") and _is_json_object(first_line) and not _ENVELOPE.search(first_line)
    )
    with source.open() as stream:
        if line_mode:
            yield from _parse_lines(stream, source.name, ctx)
        else:
            prefix = "data.item" if head.startswith(b"{") and _ENVELOPE.search(head) else None
            if prefix is None:
                prefix = "item" if head.startswith(b"[") else ""
            yield from _parse_document(stream, prefix, source.name, ctx)


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(msgspec.json.decode(line), dict)
    except msgspec.DecodeError:
        return False


def _parse_lines(stream: BinaryIO, name: str, ctx: ParseContext) -> Iterator[Batch]:
    columns = _Columns()
    for line_no, line, consumed in _lines(stream, name):
        stripped = line.strip()
        if not stripped:
            continue
        start = stripped.find(b"{")
        record = f"line {line_no}"
        if start < 0:
            ctx.reject(record, "no JSON message on this line")
            continue
        try:
            message = decode_repairing(_DECODER, stripped[start:], ctx.warnings)
        except msgspec.ValidationError as e:
            ctx.reject(record, f"unexpected value in the JSON message ({e})")
            continue
        except msgspec.DecodeError:
            ctx.reject(record, "the JSON message is malformed or cut short")
            continue
        columns.add_message(message, record, ctx)
        if len(columns) >= BATCH_ROWS:
            yield Batch(points=columns.flush(ctx))
            ctx.report_progress(consumed)
    if len(columns):
        yield Batch(points=columns.flush(ctx))


def _lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, bytes, int]]:
    """``(line number, line, bytes read so far)``, reading big chunks (zip and gzip streams have
    no fast ``readline``) and refusing a line longer than :data:`MAX_LINE_BYTES`."""
    pending = b""
    line_no = consumed = 0
    while True:
        chunk = stream.read(READ_BYTES)
        consumed += len(chunk)
        if not chunk:
            if pending:
                yield line_no + 1, pending, consumed
            return
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            line_no += 1
            _check_length(line, line_no, name)
            yield line_no, line, consumed
        _check_length(pending, line_no + 1, name)


def _check_length(line: bytes, line_no: int, name: str) -> None:
    if len(line) > MAX_LINE_BYTES:
        raise InputDataError(
            f"line is longer than {MAX_LINE_BYTES // 1024} KiB; OwnTracks messages are a few hundred bytes",
            path=name,
            record=f"line {line_no}",
            hint="check that this is an OwnTracks Recorder file",
        )


def _parse_document(stream: BinaryIO, prefix: str, name: str, ctx: ParseContext) -> Iterator[Batch]:
    columns = _Columns()
    label = "data[{}]" if prefix == "data.item" else "item {}"
    index = -1
    try:
        for index, item in enumerate(ijson.items(StreamReader(stream), prefix, use_float=True)):
            record = label.format(index) if prefix else "document"
            if not isinstance(item, dict):
                ctx.reject(record, "not a JSON object")
                continue
            try:
                message = msgspec.convert(item, _Message)
            except msgspec.ValidationError as e:
                ctx.reject(record, f"unexpected value in the JSON message ({e})")
                continue
            columns.add_message(message, record, ctx)
            if len(columns) >= BATCH_ROWS:
                yield Batch(points=columns.flush(ctx))
                ctx.report_position(stream)
    except ijson.JSONError as e:
        raise InputDataError(
            f"malformed JSON after {index + 1} messages ({e})",
            path=name,
            record=label.format(index + 1) if prefix else None,
            hint="the file may be truncated; re-export it from OwnTracks or the Recorder",
        ) from None
    if len(columns):
        yield Batch(points=columns.flush(ctx))
    ctx.report_position(stream)


class _Columns:
    """Raw values of location messages, converted to Arrow a batch at a time."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.tst: list[Any] = []
        self.lat: list[Any] = []
        self.lon: list[Any] = []
        self.acc: list[Any] = []
        self.alt: list[Any] = []
        self.vel: list[Any] = []
        self.cog: list[Any] = []
        self.record: list[str] = []

    def __len__(self) -> int:
        return len(self.record)

    def add_message(self, m: _Message, record: str, ctx: ParseContext) -> None:
        if m.type_ != "location":
            ctx.skip()
            return
        self.tst.append(m.tst)
        self.lat.append(m.lat)
        self.lon.append(m.lon)
        self.acc.append(m.acc)
        self.alt.append(m.alt)
        self.vel.append(m.vel)
        self.cog.append(m.cog)
        self.record.append(record)

    def flush(self, ctx: ParseContext) -> pa.Table:
        lat = _numbers(self.lat)
        lon = _numbers(self.lon)
        ts = times.epoch_to_utc(self.tst)
        bad = np.isnan(lat) | np.isnan(lon) | ts.is_null().to_numpy(zero_copy_only=False)
        vel = _numbers(self.vel)
        acc = _numbers(self.acc)
        cog = _numbers(self.cog)
        table = pa.table(
            {
                "ts": ts,
                "lat": lat,
                "lon": lon,
                "accuracy_m": _unknown_if_negative(acc),
                "altitude_m": _numbers(self.alt),
                "speed_mps": _unknown_if_negative(vel) * KMH_TO_MPS,
                "heading_deg": _unknown_if_negative(cog),
                "record": pa.array(self.record, pa.string()),
            }
        )
        table = ctx.reject_rows(
            table, bad, lambda i: self.record[i], lambda i: "location without a usable lat, lon or tst"
        )
        self._clear()
        return _conform(table)


def _numbers(values: list[Any]) -> np.ndarray:
    """JSON numbers (or numeric strings) → float64, NaN where missing or not a number."""
    series = pd.Series(values, dtype=object)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _unknown_if_negative(values: np.ndarray) -> np.ndarray:
    """OwnTracks writes -1 for "unknown" speed, course and accuracy."""
    return np.where(values < 0, np.nan, values)


def _conform(table: pa.Table) -> pa.Table:
    """Cast to the schema types; NaN in the optional measures becomes null."""
    arrays = []
    for field in _SCHEMA:
        col = table.column(field.name)
        if pa.types.is_floating(field.type) and field.name not in ("lat", "lon"):
            values = col.to_numpy()
            col = pa.array(values, mask=np.isnan(values)).cast(field.type)
        arrays.append(col.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=_SCHEMA)
