"""``mobco2 fmd``: the Forfait mobilités durables attestation on the demo data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mobco2.export.fmd import RULE, fmd_days
from mobco2.privacy import Zone, detect_places
from mobco2.store import Store
from mobco2_cli.main import app
from tests.builders import demo_store


@pytest.fixture
def store_path(tmp_path):
    return demo_store(tmp_path / "store")


def run(store_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(store_path), *args], terminal_width=120)


def _commute_bike_days(store_path: Path) -> set[str]:
    """Independently: local days with a single-leg bike trip between the detected home and work."""
    places = {p.kind: p for p in detect_places(Store(store_path))}
    rows = Store(store_path).query(
        "SELECT strftime(timezone(t.tz, t.started_at), '%Y-%m-%d') AS day, l.start_lat, l.start_lon, "
        "l.end_lat, l.end_lon FROM trips t JOIN legs l USING (user_id, trip_id) "
        "WHERE t.n_legs = 1 AND l.mode = 'bike'").to_pylist()
    near = {k: Zone(p.lat, p.lon, 500.0) for k, p in places.items()}
    from mobco2.privacy import inside

    days = set()
    for r in rows:
        a = [k for k, z in near.items() if inside([r["start_lat"]], [r["start_lon"]], [z])[0]]
        b = [k for k, z in near.items() if inside([r["end_lat"]], [r["end_lon"]], [z])[0]]
        if sorted(a + b) == ["home", "work"]:
            days.add(r["day"])
    return days


def test_days_are_the_commute_days_with_their_trips(store_path):
    att = fmd_days(Store(store_path), 2025, dated="2026-01-05")
    assert att.places_source == "detected"
    days = {d.day for d in att.days}
    assert _commute_bike_days(store_path) <= days
    for d in att.days:
        assert d.trips and all(t.started_at.startswith(d.day) for t in d.trips)
        assert all(t.direction in ("home → work", "work → home") for t in d.trips)
        assert all(t.sustainable_km >= 0.5 * t.distance_km for t in d.trips)


def test_carpool_counts_and_a_car_alone_does_not(store_path):
    store = Store(store_path)
    before = {d.day: d for d in fmd_days(store, 2025, dated="2026-01-05").days}
    day, entry = next((k, v) for k, v in sorted(before.items()) if len(v.trips) == 2)
    trip_ids = [t.trip_id for t in entry.trips]
    for tid in trip_ids:  # that day, both commutes by car alone: the day no longer counts
        assert run(store_path, "trips", "label", tid, "--mode", "car", "--occupancy", "1").exit_code == 0
    assert run(store_path, "segment").exit_code == 0
    after = {d.day for d in fmd_days(store, 2025, dated="2026-01-05").days}
    assert day not in after and len(after) == len(before) - 1
    assert run(store_path, "trips", "label", trip_ids[0], "--occupancy", "2").exit_code == 0  # carpool
    assert run(store_path, "segment").exit_code == 0
    again = fmd_days(store, 2025, dated="2026-01-05")
    assert day in {d.day for d in again.days}
    trip = next(t for d in again.days if d.day == day for t in d.trips)
    assert "carpool (2)" in trip.modes


def test_document_states_rule_date_and_blurred_places_and_is_deterministic(store_path, tmp_path):
    out = tmp_path / "fmd.md"
    res = run(store_path, "fmd", "--year", "2025", "--date", "2026-01-05", "--out", str(out))
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert "Attestation dated 2026-01-05" in text and RULE in text
    n = int(re.search(r"on \*\*(\d+) days\*\*", text).group(1))
    assert n == text.count("\n| 2025-")  # one table row per counted day
    home = next(p for p in detect_places(Store(store_path)) if p.kind == "home")
    shown = re.search(r"Home: (-?\d+\.\d+), (-?\d+\.\d+) \(500 m cell\)", text)
    assert shown and (float(shown.group(1)), float(shown.group(2))) != (home.lat, home.lon)
    assert abs(float(shown.group(1)) - home.lat) < 0.006  # within one 500 m cell
    again = run(store_path, "fmd", "--year", "2025", "--date", "2026-01-05")
    assert again.output == text
    html = run(store_path, "fmd", "--year", "2025", "--date", "2026-01-05", "--format", "html")
    assert html.exit_code == 0 and html.output.startswith("<!DOCTYPE html>")
    assert f"<strong>{n} days</strong>" in html.output


def test_configured_places_and_privacy_zones_are_honoured(store_path, tmp_path, monkeypatch):
    places = {p.kind: p for p in detect_places(Store(store_path))}
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"[places]\nhome = [{places['home'].lat}, {places['home'].lon}]\nwork = [{places['work'].lat}, "
        f"{places['work'].lon}]\n[[privacy.zones]]\nname = 'home'\nlat = {places['home'].lat}\n"
        f"lon = {places['home'].lon}\nradius_m = 300\n", encoding="utf-8")
    monkeypatch.setenv("MOBCO2_CONFIG", str(cfg))
    res = run(store_path, "fmd", "--year", "2025", "--date", "2026-01-05")
    assert res.exit_code == 0, res.output
    assert "Home: home (inside a privacy zone)" in res.output and "from my settings" in res.output


def test_bad_requests_are_one_line_errors(store_path, tmp_path):
    res = run(store_path, "fmd", "--year", "2025", "--date", "05/01/2026")
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.output
    assert run(store_path, "fmd", "--year", "2025", "--format", "docx").exit_code == 2
    assert run(store_path, "fmd", "--year", "2025", "--format", "pdf").exit_code == 2  # binary: needs --out
    res = run(tmp_path / "empty", "fmd", "--year", "2025")
    assert res.exit_code == 2 and "places.home" in res.output


def test_pdf_is_written_or_explains_how_to_install_it(store_path, tmp_path):
    out = tmp_path / "fmd.pdf"
    res = run(store_path, "fmd", "--year", "2025", "--format", "pdf", "--date", "2026-01-05", "--out", str(out))
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        assert res.exit_code == 2 and "pip install 'mobco2[pdf]'" in res.output and not out.exists()
    else:
        assert res.exit_code == 0 and out.read_bytes().startswith(b"%PDF")
