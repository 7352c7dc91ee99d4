"""The HTML report in a real headless Chromium (Debian's package; `make test` installs it): the
charts and the map are there and drawn, and the page asks the network for nothing."""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobco2.export import report
from mobco2.export.render import render
from tests.export.chromium import CHROMIUM, Browser


@pytest.fixture(scope="module")
def html(demo_store):
    return render(report(demo_store, month="2025-09"), "html")


@pytest.fixture()
def browser():
    assert CHROMIUM.exists(), "Chromium is missing: run `make test` (it installs it) or apt-get install chromium"
    # a short profile path: Chromium's singleton socket path must fit in 108 bytes
    profile = Path(tempfile.mkdtemp(prefix="mobco2-chromium-"))
    b = Browser(profile)
    yield b
    b.close()
    shutil.rmtree(profile, ignore_errors=True)


def _open(browser, tmp_path, text: str):
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    browser.open(page.as_uri())
    return page


def _ink(png: bytes, background=(245, 247, 250)) -> float:
    """Share of pixels that differ from the map's background colour."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((np.abs(img - np.array(background)).sum(axis=2) > 30).mean())


def test_html_report_renders_with_charts_and_map_and_no_network(browser, html, tmp_path):
    page = _open(browser, tmp_path, html)
    assert browser.requests() == [page.as_uri()]  # the document itself, nothing else
    assert browser.failed() == []
    info = browser.evaluate("""JSON.stringify({
        svgs: document.querySelectorAll('svg').length,
        titled: [...document.querySelectorAll('svg')].filter(s => s.querySelector(':scope > title')
                 && s.querySelector(':scope > title').textContent.length > 5).length,
        charts: [...document.querySelectorAll('figure svg:not(.map)')].map(s => s.getBBox().width > 100
                 && s.querySelectorAll('path, rect, use').length > 10),
        map: document.querySelector('svg.map').getBoundingClientRect().toJSON(),
        lines: document.querySelectorAll('svg.map polyline').length,
        title: document.title, scripts: document.scripts.length,
        width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight })""")
    import json

    info = json.loads(info)
    assert info["svgs"] >= 4 and info["titled"] == info["svgs"]
    assert len(info["charts"]) == 3 and all(info["charts"])
    assert info["lines"] > 10 and info["scripts"] == 0
    assert "September 2025" in info["title"]
    assert info["width"] <= 1280  # readable at 100 %: no sideways scrolling on a laptop
    full = browser.screenshot()
    assert full[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "report.png").write_bytes(full)
    m = info["map"]
    assert m["width"] > 400 and m["height"] > 200
    ink = _ink(browser.screenshot({"x": m["x"], "y": m["y"], "width": m["width"], "height": m["height"]}))
    assert 0.002 < ink < 0.5, ink


def test_the_network_check_catches_a_page_that_fetches(browser, tmp_path):
    # the same check on a page with one remote image: it must see the request (and it fails)
    _open(browser, tmp_path, '<!DOCTYPE html><title>x</title><img src="https://example.org/a.png" alt="">')
    assert any(u.startswith("https://example.org/") for u in browser.requests())


def test_the_document_references_no_remote_resource(html):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "url(http" not in html and "@import" not in html and "<script" not in html


def test_html_is_byte_identical_for_the_same_store(demo_store, html):
    assert render(report(demo_store, month="2025-09"), "html") == html


def test_empty_month_is_a_friendly_page(browser, demo_store, tmp_path):
    text = render(report(demo_store, month="2025-11"), "html")
    _open(browser, tmp_path, text)
    assert "Nothing to show yet" in browser.evaluate("document.body.innerText")
