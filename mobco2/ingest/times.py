"""Vectorised timestamp parsing shared by every parser.

All results are UTC ``timestamp[us, tz=UTC]`` Arrow arrays with nulls where a value could not be
parsed (the importer rejects those records), plus the source's local offset in minutes where
the text carried one (``+02:00``, ``-0700``). ``Z`` gives a null offset: it says the app stored
UTC, not where the traveller was (segmentation then finds the zone from the coordinates); a naive
time also gives null and is taken as UTC.

Accepted: ISO 8601 with ``Z``/``±hh:mm``/``±hhmm``/none and 0–9 fractional digits, the non-ISO
``2025-03-24 20:07:24 +0100``, and epoch seconds or milliseconds as numbers or strings
(a magnitude ≥ 1e11 is milliseconds, input-formats.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.schema import TS

EPOCH_MS_THRESHOLD = 1e11
_OFFSET_RE = r"(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})$"


@dataclass(frozen=True)
class Times:
    """Parsed times: ``ts`` (UTC, nulls for invalid) and ``offset_min`` (nulls when unknown)."""

    ts: pa.TimestampArray
    offset_min: pa.Int16Array

    def __len__(self) -> int:
        return len(self.ts)


def iso_to_utc(values: Sequence[str | None] | pa.Array) -> Times:
    """Parse ISO 8601 strings; numeric strings are sniffed as epoch seconds or milliseconds."""
    import pandas as pd  # not at import time: detection loads this module for every file
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    n = len(arr)
    if n == 0:
        return Times(pa.array([], TS), pa.array([], pa.int16()))
    stripped = pc.utf8_trim_whitespace(arr)
    numeric = pc.match_substring_regex(stripped, r"^-?\d+(\.\d+)?$")
    numeric = pc.fill_null(numeric, False)
    any_numeric = pc.any(numeric).as_py()

    text = pc.if_else(numeric, pa.scalar(None, pa.string()), stripped) if any_numeric else stripped
    series = pd.Series(np.asarray(text.to_numpy(zero_copy_only=False), dtype=object))
    parsed = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
    us = parsed.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT")).astype("int64")
    valid = ~parsed.isna().to_numpy()

    if any_numeric:
        num_mask = numeric.to_numpy(zero_copy_only=False)
        nums = pd.to_numeric(
            pd.Series(np.asarray(stripped.to_numpy(zero_copy_only=False), dtype=object))[num_mask],
            errors="coerce",
        ).to_numpy(dtype="float64")
        ep = _epoch_to_us(nums)
        us[num_mask] = np.where(np.isnan(ep), 0, ep).astype("int64")
        valid[num_mask] = ~np.isnan(ep)

    ts = pa.array(us, type=pa.int64(), mask=~valid).cast(TS)
    offsets = _offsets(text, n)
    return Times(ts, offsets)


def _offsets(text: pa.Array, n: int) -> pa.Int16Array:
    zulu = pc.fill_null(pc.match_substring_regex(text, r"[Zz]$"), False)
    parts = pc.extract_regex(text, _OFFSET_RE)
    # A date alone ("2013-01-01") would match "-01-01"? No: the regex needs hh:mm or hhmm at the
    # end after a sign, and a date ends in "-dd" (two digits only). Times need a "T" or space.
    has_time = pc.fill_null(pc.match_substring_regex(text, r"\d[T ]\d{2}:\d{2}"), False)
    sign = pc.struct_field(parts, "sign")
    hh = pc.cast(pc.struct_field(parts, "hh"), pa.int16())
    mm = pc.cast(pc.struct_field(parts, "mm"), pa.int16())
    minutes = pc.add(pc.multiply(hh, pa.scalar(60, pa.int16())), mm)
    minutes = pc.if_else(pc.equal(sign, "-"), pc.negate(minutes), minutes)
    minutes = pc.if_else(has_time, minutes, pa.scalar(None, pa.int16()))
    minutes = pc.if_else(zulu, pa.scalar(None, pa.int16()), minutes)
    return minutes.cast(pa.int16())


def _epoch_to_us(nums: np.ndarray) -> np.ndarray:
    """Epoch seconds or milliseconds (sniffed per value) → microseconds as float (NaN kept)."""
    nums = np.asarray(nums, dtype="float64")
    is_ms = np.abs(nums) >= EPOCH_MS_THRESHOLD
    return np.where(is_ms, nums * 1_000.0, nums * 1_000_000.0).round()


def epoch_to_utc(values: Sequence[float | int | str | None] | np.ndarray) -> pa.TimestampArray:
    """Epoch seconds or milliseconds (numbers or numeric strings, sniffed per value) → UTC."""
    import pandas as pd  # not at import time: detection loads this module for every file
    nums = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64")
    us = _epoch_to_us(nums)
    bad = np.isnan(us) | (np.abs(us) > 9.2e18)
    return pa.array(np.where(bad, 0, us).astype("int64"), type=pa.int64(), mask=bad).cast(TS)


def seconds_to_utc(seconds: np.ndarray) -> pa.TimestampArray:
    """Float epoch seconds (no sniffing: e-mission ``ts``) → UTC microseconds."""
    secs = np.asarray(seconds, dtype="float64")
    bad = ~np.isfinite(secs) | (np.abs(secs) > 9.2e12)
    us = np.where(bad, 0, secs * 1_000_000.0).round().astype("int64")
    return pa.array(us, type=pa.int64(), mask=bad).cast(TS)
