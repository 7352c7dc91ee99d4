"""Format detection by content, never by file name (Google localises names).

Each format module exposes ``sniff(head)``; the first that says yes wins, so more specific
formats come first in :data:`FORMAT_MODULES`.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from mobco2.errors import UnsupportedFormatError, UsageError
from mobco2.ingest.base import Source

FORMAT_MODULES: tuple[str, ...] = (
    # refusals first: files people upload by mistake get a message saying what to export instead
    "google_refusals",  # Timeline Edits.json, Settings.json, Encrypted Backups.txt, archive_browser.html
    # JSON formats, most specific first
    "google_records",  # {"locations": [{"latitudeE7"…: before geojson, whose Overland shares "locations"
    "google_semantic",  # {"timelineObjects": …
    "google_timeline_android",  # {"semanticSegments" | "rawSignals" | "userLocationProfile": …
    "google_timeline_ios",  # [{"startTime" | "endTime" | "visit" | "activity" | "timelinePath"…
    "emission",  # e-mission / TraceMob raw timeseries dumps and processed trips
    "geojson",
    "owntracks",  # also .rec text lines, matched by their exact line shape
    # XML formats
    "gpx",
    "kml",  # and KMZ (a zip whose first member is .kml)
    "tcx",
    "fit",  # binary: exact magic bytes
    # text formats last (their sniffers are the loosest)
    "csvfile",  # FORMAT "csv"
)
"""Module names under ``mobco2.ingest``, in sniffing order."""


@cache
def _module(name: str) -> ModuleType:
    return importlib.import_module(f"mobco2.ingest.{name}")


def format_modules() -> tuple[ModuleType, ...]:
    return tuple(_module(name) for name in FORMAT_MODULES)


def formats() -> dict[str, ModuleType]:
    """Format id → parser module, for ``--format``."""
    return {m.FORMAT: m for m in format_modules() if not getattr(m, "REFUSAL", False)}


def by_name(name: str) -> ModuleType:
    known = formats()
    if name not in known:
        raise UsageError(
            f"unknown format {name!r}", hint=f"use one of: auto, {', '.join(sorted(known))}"
        )
    return known[name]


def detect(source: Source) -> ModuleType:
    """The parser module for ``source``, judged from its first bytes.

    Raises :class:`UnsupportedFormatError` (exit 65) when nothing matches.
    """
    head = source.head()
    if not head:
        raise UnsupportedFormatError("the file is empty", path=source.name, hint="nothing to import")
    for name in FORMAT_MODULES:  # imported one by one: a Records.json never loads the XML readers
        module = _module(name)
        if module.sniff(head):
            return module
    raise UnsupportedFormatError(
        "not a location-history format mobco2 recognises",
        path=source.name,
        hint="supported: " + ", ".join(sorted(formats())) + "; or name one with --format",
    )
