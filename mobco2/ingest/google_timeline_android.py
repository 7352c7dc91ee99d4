"""Google's on-device Timeline export from Android (2024+): ``Timeline.json``.

``{"semanticSegments": [...], "rawSignals": [...], "userLocationProfile": {...}}``
(input-formats.md §1c). Segments are read by :mod:`mobco2.ingest.google_timeline`. Here:

* ``rawSignals[].position`` → points: ``LatLng`` (or ``latLng``) ``"48.8566°, 2.3522°"`` with or
  without degree signs, ``accuracyMeters``, ``altitudeMeters``, ``speedMetersPerSecond``,
  ``timestamp`` (its offset kept in ``tz_offset_min``);
* ``rawSignals[].activityRecord`` → mode hints on those fixes: the most confident candidate that
  names a mode of travel (Records vocabulary, confidence 0–1), given to fixes at most
  ``ACTIVITY_MATCH_S`` away in time. Cheap (one sorted search), and the only per-fix mode
  evidence in this export;
* other signals (``wifiScan``…) and ``userLocationProfile`` (frequent places with no times) are
  ignored: they are not a history.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec

from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.google_timeline import parse_export

FORMAT = "google_timeline_android"
DESCRIPTION = "Google Maps on-device Timeline export, Android (Timeline.json, 2024+)"

_HEAD = re.compile(rb'^\{\s*"(semanticSegments|rawSignals|userLocationProfile)"\s*:')


def sniff(head: bytes) -> bool:
    """``{"semanticSegments": …`` (or ``rawSignals``/``userLocationProfile`` first)."""
    return bool(_HEAD.match(head))


class _Root(msgspec.Struct):
    semanticSegments: list[msgspec.Raw] = []
    rawSignals: list[msgspec.Raw] = []


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Timeline.json → one batch of points, source segments and source visits."""
    yield from parse_export(
        source,
        ctx,
        FORMAT,
        _Root,
        lambda doc: (("semanticSegments", doc.semanticSegments), ("rawSignals", doc.rawSignals)),
        "the Timeline from Google Maps on your Android phone (Settings › Location › Timeline › Export)",
    )
