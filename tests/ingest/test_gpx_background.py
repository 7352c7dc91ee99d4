"""GPX: expat's well-formedness and entity pass run in a forked process beside the vectorised
tokenizer (xmlsafe.BackgroundCheck): same points, same errors, and a lost check is noticed."""

from __future__ import annotations

import datetime as dt
import os
import signal

import pytest

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest import xmlsafe
from mobco2.ingest.base import ParseContext, Source
from tests.ingest.test_gpx import BILLION_LAUGHS, POINT, SAMPLES, UTC, doc, parse_bytes, parse_source


@pytest.fixture
def background_check(monkeypatch):
    """Every file on disk gets the background check, however small (the default starts at 32 MiB)."""
    monkeypatch.setattr(xmlsafe, "BACKGROUND_CHECK_MIN_BYTES", 0)


def _track(n: int, middle: str = "") -> bytes:
    start = dt.datetime(2020, 1, 1, tzinfo=UTC)
    pts = [
        POINT.format(lat=46 + i * 1e-4, lon=-1, ele=i, time=(start + dt.timedelta(seconds=i)).isoformat())
        for i in range(n)
    ]
    return doc("<trk><trkseg>" + "".join(pts[: n // 2]) + middle + "".join(pts[n // 2 :]) + "</trkseg></trk>")


def _on_disk(tmp_path, data: bytes, name: str = "t.gpx") -> Source:
    path = tmp_path / name
    path.write_bytes(data)
    return Source.from_path(path)


def test_background_check_runs_for_a_file_on_disk(background_check, tmp_path):
    source = _on_disk(tmp_path, _track(10))
    check = xmlsafe.BackgroundCheck.start(source, "GPX", ParseContext(source_name="t"))
    assert check is not None
    assert check.verdict() is None
    assert xmlsafe.BackgroundCheck.start(source, "GPX", ParseContext(source_name="t", options={"workers": "1"})) is None
    assert xmlsafe.BackgroundCheck.start(Source.from_bytes("m.gpx", _track(10)), "GPX") is None


@pytest.mark.parametrize("middle", ["", "<!-- a comment the tokenizer leaves to expat -->"])
def test_background_check_gives_the_same_points(background_check, tmp_path, samples, middle):
    source = _on_disk(tmp_path, _track(3000, middle))
    checked, _ = parse_source(source, chunk_bytes=8192)
    sequential, _ = parse_source(Source.from_bytes("t.gpx", _track(3000, middle)), chunk_bytes=8192)
    handlers, _ = parse_source(source, fast=False)
    assert checked.num_rows == 3000
    assert checked.drop_columns(["record"]).equals(sequential.drop_columns(["record"]))
    assert checked.equals(handlers)
    for name in SAMPLES:
        assert parse_source(Source.from_path(samples / "gpx" / name))[0].equals(
            parse_source(Source.from_path(samples / "gpx" / name), fast=False)[0]
        ), name


@pytest.mark.parametrize("chunk_bytes", [None, 4096])
def test_background_check_finds_what_the_parser_would(background_check, tmp_path, chunk_bytes):
    kwargs = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    broken = b"\n\n" + _track(400).replace(b"</trkpt>", b"</trkseg>", 1)  # a mismatched tag, early
    with pytest.raises(InputDataError) as err:
        parse_source(_on_disk(tmp_path, broken, "broken.gpx"), **kwargs)
    with pytest.raises(InputDataError) as reference:
        parse_bytes(broken, name=str(tmp_path / "broken.gpx"), fast=False)
    assert "mismatched tag" in err.value.one_line()
    assert err.value.one_line() == reference.value.one_line()
    with pytest.raises(InputDataError, match="malformed GPX"):
        parse_source(_on_disk(tmp_path, _track(400)[:-30], "cut.gpx"), **kwargs)
    with pytest.raises(HostileInputError) as err:
        parse_source(_on_disk(tmp_path, b"\n" + BILLION_LAUGHS, "evil.gpx"), **kwargs)
    assert "evil.gpx (line 4)" in err.value.one_line()


def test_a_check_that_dies_is_reported_lost(background_check, tmp_path):
    source = _on_disk(tmp_path, _track(200_000))  # ~20 MB: expat needs a good fraction of a second
    check = xmlsafe.BackgroundCheck.start(source, "GPX")
    assert check is not None
    os.kill(check._process.pid, signal.SIGSTOP)  # before it can finish
    os.kill(check._process.pid, signal.SIGKILL)
    with pytest.raises(xmlsafe.CheckLost):
        check.verdict()


def test_a_month_sized_file_is_checked_beside_the_tokenizer_and_a_late_fault_still_refuses_it(tmp_path):
    """At the default threshold a monthly GPX (a few MB, as a person-year holds) gets the forked
    check, and a mismatched tag deep inside it still fails the import whole: exit 65, store unchanged."""
    from mobco2.ingest import import_paths
    from mobco2.store import Store
    from tests.ingest.test_importer import snapshot

    good = _track(40_000)
    assert len(good) >= xmlsafe.BACKGROUND_CHECK_MIN_BYTES
    assert xmlsafe.BackgroundCheck.start(_on_disk(tmp_path, good, "month.gpx"), "GPX") is not None
    cut = good.rfind(b"</trkpt>", 0, len(good) - 1000)
    broken = good[:cut] + b"</trkseg>" + good[cut + len(b"</trkpt>"):]
    store = Store(tmp_path / "store")
    store.info()
    import_paths(store, [_on_disk(tmp_path, _track(10), "first.gpx").path], user_id="me")
    before = snapshot(store)
    res = import_paths(store, [_on_disk(tmp_path, broken, "broken.gpx").path], user_id="me")
    r = res.files[0]
    assert r.status == "failed" and r.exit_code == 65, r
    assert "broken.gpx" in r.message and "mismatched tag" in r.message
    assert snapshot(store) == before
    ok = import_paths(store, [_on_disk(tmp_path, good, "month.gpx").path], user_id="me")
    assert ok.exit_code == 0 and ok.total("added") == 40_000 - 10  # the first ten are already in
