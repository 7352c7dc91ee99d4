"""Google files that are not a location history: detected, then refused with advice (exit 65)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobco2.errors import EXIT_DATAERR, UnsupportedFormatError
from mobco2.ingest import google_refusals
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.detect import detect, formats


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("dawarich_timeline_edits.json", "Timeline Edits.json"),
        ("kgeo_timeline-edits.json", "Timeline Edits.json"),
        ("dawarich_settings.json", "Settings.json"),
        ("dawarich_encrypted_timeline_placeholder.txt", "encrypted"),
    ],
)
def test_misc_google_files_are_refused_with_advice(samples: Path, name: str, words: str) -> None:
    source = Source.from_path(samples / "google-misc" / name)
    module = detect(source)
    assert module is google_refusals and module.REFUSAL
    with pytest.raises(UnsupportedFormatError) as err:
        module.parse(source, ParseContext(source.name))  # raises on the call, without iterating
    assert err.value.exit_code == EXIT_DATAERR == 65
    assert words in err.value.message and name in err.value.message
    assert "Timeline.json" in err.value.hint and "location-history.json" in err.value.hint


def test_takeout_archive_browser_page_is_refused() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Google Takeout</title></head><body>Archive overview</body></html>"
    source = Source.from_bytes("Takeout/archive_browser.html", page)
    assert detect(source) is google_refusals
    with pytest.raises(UnsupportedFormatError, match=r"archive_browser\.html") as err:
        google_refusals.parse(source, ParseContext(source.name))
    assert ".zip" in err.value.hint


def test_refusals_are_not_import_formats_and_leave_real_exports_alone(samples: Path) -> None:
    assert google_refusals.FORMAT not in formats()
    for folder in ("google-records", "google-semantic", "google-timeline-android", "google-timeline-ios"):
        for path in (samples / folder).iterdir():
            assert not google_refusals.sniff(Source.from_path(path).head()), path.name
    assert not google_refusals.sniff(b'{"type": "FeatureCollection", "features": []}')
    assert not google_refusals.sniff(b'<?xml version="1.0"?><gpx version="1.1"></gpx>')
