"""Google files people import by mistake, each answered with what to export instead (exit 65).

After Timeline moved onto phones (2024), Takeout's Timeline folder holds only files that are not a
location history (input-formats.md §1, §1d, §3):

* ``Timeline Edits.json`` (``{"timelineEdits": …}``): a partial log of edits and place
  aggregates, not the history;
* ``Settings.json`` (``deviceSettings``, ``gaiaId``…): the Location History settings;
* ``Encrypted Backups.txt``: a note that the Timeline backup is end-to-end encrypted;
* ``archive_browser.html``: Takeout's index page, an HTML document.

This module is a refusal (``REFUSAL = True``): :func:`sniff` recognises these files so that
detection answers them before any parser, and :func:`parse` raises
:class:`~mobco2.errors.UnsupportedFormatError` with the advice that fits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mobco2.errors import UnsupportedFormatError
from mobco2.ingest.base import Batch, ParseContext, Source

FORMAT = "google_refusals"
DESCRIPTION = "Google Takeout files that are not a location history (refused with advice)"
REFUSAL = True

EXPORT_ON_PHONE = (
    "export the Timeline on your phone instead: Android: Settings › Location › Location services › "
    "Timeline › Export Timeline data (Timeline.json); iPhone: Google Maps › Settings › Personal content "
    "› Export Timeline data (location-history.json); older Takeout archives also hold "
    "Location History/Records.json or Semantic Location History/"
)

_EDITS = re.compile(rb'^\{\s*"timelineEdits"\s*:')
_SETTINGS_KEYS = (b'"deviceSettings"', b'"gaiaId"', b'"hasReportedLocations"', b'"hasSetRetention"',
                  b'"retentionWindowDays"', b'"createdTime"', b'"modifiedTime"')  # fmt: skip
_HTML = re.compile(rb"^(<!doctype\s+html|<html[\s>])", re.IGNORECASE)
_ENCRYPTED = re.compile(rb"encrypted\s+Timeline\s+backups?", re.IGNORECASE)


def _kind(head: bytes) -> str | None:
    if _EDITS.match(head):
        return "edits"
    settings_like = head.startswith(b"{") and (b'"deviceSettings"' in head or b'"gaiaId"' in head)
    if settings_like and sum(key in head[:65536] for key in _SETTINGS_KEYS) >= 2:
        return "settings"
    if _HTML.match(head):
        return "html"
    if not head.startswith((b"{", b"[", b"<")) and _ENCRYPTED.search(head[:4096]):
        return "encrypted"
    return None


def sniff(head: bytes) -> bool:
    """Timeline Edits.json, Settings.json, Encrypted Backups.txt or an HTML page."""
    return _kind(head) is not None


_MESSAGES = {
    "edits": (
        "this is Google Takeout's 'Timeline Edits.json', a log of edits to the Timeline, not your location history",
        EXPORT_ON_PHONE,
    ),
    "settings": (
        "this is Google Takeout's 'Settings.json' (Location History settings), it holds no locations",
        EXPORT_ON_PHONE,
    ),
    "encrypted": (
        "this is Google Takeout's 'Encrypted Backups.txt': your Timeline backup is end-to-end encrypted, "
        "so Takeout could not include it",
        EXPORT_ON_PHONE + " (or turn off Timeline backup encryption in Google Maps and request Takeout again)",
    ),
    "html": (
        "this is an HTML page (Google Takeout's 'archive_browser.html' is only an index of the archive), "
        "not a data file",
        "import the Takeout .zip itself, or the .json files inside it; if the archive has no Location "
        "History, " + EXPORT_ON_PHONE,
    ),
}


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Raise :class:`UnsupportedFormatError` saying what to export instead, as soon as called.

    Deliberately not a generator: the importer calls ``parse`` on a refusal without iterating.
    """
    kind = _kind(source.head()) or "html"
    message, hint = _MESSAGES[kind]
    raise UnsupportedFormatError(message, path=source.name, hint=hint)
