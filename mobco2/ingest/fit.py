"""Garmin FIT activity files, decoded with fitdecode (input-formats.md §2.6).

Read from ``record`` messages: ``position_lat``/``position_long`` in semicircles
(degrees = semicircles × 180 / 2³¹), ``timestamp`` (UTC), ``enhanced_speed`` or ``speed`` (m/s),
``enhanced_altitude`` or ``altitude`` (m) and ``gps_accuracy`` (m). Records without a position,
or with FIT's "invalid" sentinel (0x7FFFFFFF, which naive decoders show as 180°, 180°), are
skipped and counted (``ctx.skip``).

Mode hint: the ``sport`` of the ``session`` (a multisport file has several: each point takes the
one whose span holds it), else the file's ``sport`` message, mapped through the free-text
vocabulary (``cycling`` → bike; an ``e_bike*`` sub-sport → ebike). A ``course`` file (a route
planned on a computer, with made-up times) gives no points: they are skipped with a warning.

Segments: the first record, and the first record after the timer restarts following a stop
(``event`` timer ``stop``/``stop_all`` then ``start``: auto-pause or the user's pause), start a
segment.

Local offset: the ``activity`` message's ``local_timestamp`` minus its ``timestamp``, when
present, becomes every point's ``tz_offset_min`` (the device's offset when the activity ended).

A FIT file with a bad header, a CRC mismatch or a truncated message is refused whole
(:class:`~mobco2.errors.InputDataError`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fitdecode
import numpy as np
import pyarrow as pa

from mobco2.errors import InputDataError
from mobco2.ingest import modes, times
from mobco2.ingest.base import Batch, ParseContext, Source, points_schema
from mobco2.schema import Mode

FORMAT = "fit"
DESCRIPTION = "Garmin FIT activity files (record messages; session sport as the mode hint)"

SEMICIRCLE_TO_DEG = 180.0 / 2**31
INVALID_SINT32 = 0x7FFFFFFF
TIMER_STOPS = frozenset({"stop", "stop_all", "stop_disable", "stop_disable_all"})

_SCHEMA = points_schema(
    "ts", "lat", "lon", "accuracy_m", "altitude_m", "speed_mps", "tz_offset_min", "mode_hint", "segment_start"
)


def sniff(head: bytes) -> bool:
    """Bytes 8–11 are ``.FIT``.

    The head arrives with leading whitespace stripped, and a 12-byte header starts with 0x0C
    (form feed, whitespace to ``bytes.lstrip``): the signature is then one byte earlier.
    """
    return b".FIT" in (head[8:12], head[7:11])


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """All positioned records of the file as one batch (FIT activities are small)."""
    cols: dict[str, list[Any]] = {k: [] for k in ("t", "lat", "lon", "acc", "alt", "speed", "seg", "rec")}
    sessions: list[tuple[float, float, str | None, str | None]] = []
    file_sport: tuple[str | None, str | None] | None = None
    offset_min: int | None = None
    file_type: str | None = None
    after_stop = True
    paused = False
    n_records = 0
    with source.open() as stream:
        for message in _messages(stream, source.name):
            name = message.name
            if name == "record":
                n_records += 1
                if _add_record(message, cols, after_stop, f"record {n_records}", ctx):
                    after_stop = False
            elif name == "event" and _get(message, "event") == "timer":
                # Devices log a record at the moment of stopping: the break comes at the restart.
                kind = _get(message, "event_type")
                if kind in TIMER_STOPS:
                    paused = True
                elif kind == "start" and paused:
                    paused, after_stop = False, True
            elif name == "session":
                sessions.append(_session(message))
            elif name == "sport" and file_sport is None:
                file_sport = (_get(message, "sport"), _get(message, "sub_sport"))
            elif name == "activity":
                offset_min = _local_offset(message)
            elif name == "file_id":
                file_type = _get(message, "type")
    if file_type == "course" and cols["rec"]:
        # A course is a route planned on a computer, its times made up: not a journey.
        ctx.skip(len(cols["rec"]))
        ctx.warnings.append(f"FIT course file: {len(cols['rec'])} planned route points skipped (not a journey)")
        return
    if not cols["rec"]:
        return
    ts = times.seconds_to_utc(np.array(cols["t"], dtype="float64"))
    hints = _mode_hints(np.array(cols["t"], dtype="float64"), sessions, file_sport, ctx)
    n = len(cols["rec"])
    table = pa.Table.from_arrays(
        [
            ts,
            pa.array(cols["lat"], pa.float64()),
            pa.array(cols["lon"], pa.float64()),
            pa.array(cols["acc"], pa.float32()),
            pa.array(cols["alt"], pa.float32()),
            pa.array(cols["speed"], pa.float32()),
            pa.array([offset_min] * n, pa.int16()),
            pa.array(hints, pa.string()),
            pa.array(cols["seg"], pa.bool_()),
            pa.array(cols["rec"], pa.string()),
        ],
        schema=_SCHEMA,
    )
    yield Batch(points=table)
    if source.size is not None:
        ctx.report_progress(source.size)


def _messages(stream: Any, name: str) -> Iterator[Any]:
    """Data messages, with every decoding failure turned into one InputDataError."""
    reader = fitdecode.FitReader(
        stream, check_crc=fitdecode.CrcCheck.RAISE, error_handling=fitdecode.ErrorHandling.RAISE
    )
    position = 0
    try:
        for frame in reader:
            position += 1
            if isinstance(frame, fitdecode.FitDataMessage):
                yield frame
    except fitdecode.FitError as e:
        raise InputDataError(
            f"corrupt FIT file ({e})",
            path=name,
            record=f"frame {position + 1}",
            hint="the file may be truncated; copy it from the device again",
        ) from None
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, UnicodeDecodeError, EOFError) as e:
        # fitdecode assumes well-formed definitions; hostile bytes can trip it anywhere.
        raise InputDataError(
            f"corrupt FIT file ({type(e).__name__}: {e})",
            path=name,
            record=f"frame {position + 1}",
            hint="the file may be truncated or not a FIT file",
        ) from None
    finally:
        reader.close()


def _get(message: Any, field: str) -> Any:
    return message.get_value(field, fallback=None)


def _add_record(message: Any, cols: dict[str, list[Any]], segment_start: bool, record: str, ctx: ParseContext) -> bool:
    """Append one record's values; False when it has no position or no time (skipped)."""
    lat = _raw(message, "position_lat")
    lon = _raw(message, "position_long")
    when = _get(message, "timestamp")
    if lat is None or lon is None or INVALID_SINT32 in (abs(lat), abs(lon)) or not isinstance(when, datetime):
        ctx.skip()  # no fix (indoor, tunnel, before GPS lock) or no time: nothing to place
        return False
    speed = _first_number(message, "enhanced_speed", "speed")
    cols["t"].append(when.timestamp())
    cols["lat"].append(lat * SEMICIRCLE_TO_DEG)
    cols["lon"].append(lon * SEMICIRCLE_TO_DEG)
    cols["acc"].append(_first_number(message, "gps_accuracy"))
    cols["alt"].append(_first_number(message, "enhanced_altitude", "altitude"))
    cols["speed"].append(speed)
    cols["seg"].append(segment_start)
    cols["rec"].append(record)
    return True


def _raw(message: Any, field: str) -> int | None:
    """A field's raw integer value; fitdecode already maps FIT "invalid" values to None."""
    if not message.has_field(field):
        return None
    value = message.get_field(field).raw_value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_number(message: Any, *fields: str) -> float | None:
    for field in fields:
        value = _get(message, field)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            return float(value)
    return None


def _session(message: Any) -> tuple[float, float, str | None, str | None]:
    start = _get(message, "start_time")
    end = _get(message, "timestamp")
    elapsed = _get(message, "total_elapsed_time")
    t0 = start.timestamp() if isinstance(start, datetime) else -np.inf
    if isinstance(elapsed, (int, float)) and np.isfinite(t0):
        t1 = t0 + float(elapsed)
    else:
        t1 = end.timestamp() if isinstance(end, datetime) else np.inf
    return t0, t1, _get(message, "sport"), _get(message, "sub_sport")


def _local_offset(message: Any) -> int | None:
    utc = _get(message, "timestamp")
    local = _get(message, "local_timestamp")
    if not isinstance(utc, datetime) or not isinstance(local, datetime):
        return None
    minutes = round((local - utc).total_seconds() / 60)
    return minutes if abs(minutes) <= 18 * 60 else None


def _sport_mode(sport: Any, sub_sport: Any) -> tuple[str | None, str | None]:
    """(canonical mode, the raw sport when it has no mapping)."""
    if isinstance(sub_sport, str) and sub_sport.startswith("e_bike"):
        return Mode.EBIKE.value, None
    if not isinstance(sport, str):
        return None, None
    mode, known = modes.map_mode("free_text", sport)
    return (mode.value if mode is not None else None), (None if known else sport)


def _mode_hints(
    t: np.ndarray,
    sessions: list[tuple[float, float, str | None, str | None]],
    file_sport: tuple[str | None, str | None] | None,
    ctx: ParseContext,
) -> list[str | None]:
    """Each point's hint: the sport of the session whose span holds it, else the file's sport."""
    if len(sessions) == 1:
        file_sport = sessions[0][2:]
    default, default_unmapped = _sport_mode(*file_sport) if file_sport else (None, None)
    hints = np.full(len(t), default, dtype=object)
    unmapped = np.full(len(t), default_unmapped, dtype=object)
    if len(sessions) > 1:
        for t0, t1, sport, sub_sport in sessions:
            inside = (t >= t0) & (t <= t1)
            hints[inside], unmapped[inside] = _sport_mode(sport, sub_sport)
    for raw in {u for u in unmapped.tolist() if u is not None}:
        ctx.unmapped(raw, count=int((unmapped == raw).sum()))
    return hints.tolist()
