"""Google's on-device Timeline export from iOS (2024+): ``location-history.json``.

A top-level array of segments (``startTime``, ``endTime`` and one of ``visit``, ``activity``,
``timelinePath``, ``timelineMemory``) in iOS spelling: numbers as strings, ``"geo:lat,lng"``,
``placeID``, lower-case activity types (input-formats.md §1c). Read by
:mod:`mobco2.ingest.google_timeline`; ``timelinePath`` point times are ``startTime`` +
``durationMinutesOffsetFromStartTime`` minutes, negative or out-of-range offsets rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec

from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.google_timeline import parse_export

FORMAT = "google_timeline_ios"
DESCRIPTION = "Google Maps on-device Timeline export, iOS (location-history.json, 2024+)"

_HEAD = re.compile(
    rb'^\[\s*\{\s*"(startTime|endTime|visit|activity|timelinePath|timelineMemory'
    rb'|startTimeTimezoneUtcOffsetMinutes|endTimeTimezoneUtcOffsetMinutes)"\s*:'
)


def sniff(head: bytes) -> bool:
    """``[ {"startTime"|"endTime"|"visit"|"activity"|"timelinePath"… : …``."""
    return bool(_HEAD.match(head))


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """location-history.json → one batch of points, source segments and source visits."""
    yield from parse_export(
        source,
        ctx,
        FORMAT,
        list[msgspec.Raw],
        lambda doc: (("", doc), ("", [])),
        "the Timeline from Google Maps on your iPhone (Settings › Personal content › Export Timeline data)",
    )
