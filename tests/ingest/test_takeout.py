"""A real-shaped Takeout archive in one command, and cross-format deduplication."""

from __future__ import annotations

import zipfile
from datetime import timedelta

from mobco2.ingest import import_paths
from mobco2.store import Store
from tests.builders import write_gpx


def build_takeout(samples, path):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(samples / "google-records/kgeo_records.json", "Takeout/Location History/Records.json")
        z.write(samples / "google-semantic/gpsbabel_2013_MAY.json",
                "Takeout/Location History/Semantic Location History/2013/2013_MAY.json")
        z.write(samples / "google-misc/dawarich_settings.json", "Takeout/Location History/Settings.json")
        z.writestr("Takeout/archive_browser.html", "<html><body>Takeout</body></html>")
        z.writestr("Takeout/Maps/My labeled places.txt", "Home\nWork\n")
    return path


def test_takeout_zip_imports_in_one_command_with_per_member_results(samples, tmp_path):
    store = Store(tmp_path / "store")
    res = import_paths(store, [build_takeout(samples, tmp_path / "takeout.zip")], user_id="me")
    by_member = {f.name.split("!", 1)[1]: f for f in res.files}
    assert by_member["Takeout/Location History/Records.json"].status == "imported"
    assert by_member["Takeout/Location History/Records.json"].format == "google_records"
    assert by_member["Takeout/Location History/Records.json"].added == 12
    semantic = by_member["Takeout/Location History/Semantic Location History/2013/2013_MAY.json"]
    assert semantic.status == "imported" and semantic.format == "google_semantic"
    assert semantic.segments_added == 84 and semantic.visits_added == 51
    # Settings.json inside a Takeout is expected there: skipped with the reason, not an error.
    settings = by_member["Takeout/Location History/Settings.json"]
    assert settings.status == "skipped" and "Settings" in settings.message
    assert by_member["Takeout/Maps/My labeled places.txt"].status == "skipped"
    assert "Takeout/archive_browser.html" not in by_member  # web pages are not even tried
    assert res.exit_code == 0
    line = res.line()
    assert "2 imported" in line and "84 source segments" in line

    again = import_paths(store, [tmp_path / "takeout.zip"], user_id="me")
    assert again.total("added") == 0 and again.total("segments_added") == 0
    assert {f.status for f in again.files} == {"already-imported", "skipped"}


def test_overlap_across_formats_adds_only_new_points(samples, tmp_path):
    store = Store(tmp_path / "store")
    import_paths(store, [samples / "google-records/kgeo_records.json"], user_id="me")
    known = store.sql("select ts, lat, lon from points order by ts").to_pylist()
    assert len(known) == 12
    # The same fixes exported by another app as GPX, plus three new ones after them.
    extra = [(r["lat"] + 0.001, r["lon"], r["ts"] + timedelta(hours=1)) for r in known[-3:]]
    gpx = write_gpx(tmp_path / "other-app.gpx", [(r["lat"], r["lon"], r["ts"]) for r in known] + extra)
    res = import_paths(store, [gpx], user_id="me")
    assert res.total("added") == 3 and res.total("duplicate") == 12
    assert store.sql("select count(*) n from points").to_pylist() == [{"n": 15}]
