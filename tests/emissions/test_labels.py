"""User labels stored in a real Store's catalog, keyed by time so they outlive IDs."""

from __future__ import annotations

from datetime import date

import pytest

from mobco2.errors import NotFoundError, UsageError
from mobco2.labels import list_labels, set_label
from tests.emissions.conftest import leg, write_trips_and_legs


@pytest.fixture
def labelled_store(store):
    write_trips_and_legs(
        store,
        [
            leg("trip-1", "leg-1a", "2024-05-03T06:00", 10, "walk", 0.8),
            leg("trip-1", "leg-1b", "2024-05-03T06:10", 25, "car", 18.0),
            leg("trip-2", "leg-2a", "2024-05-04T17:00", 30, "bus", 9.0, user_id="bob"),
        ],
    )
    return store


def test_label_a_leg_stores_its_time_span(labelled_store):
    out = set_label(labelled_store, "leg-1b", mode="car", occupancy=3, vehicle="EV", purpose="  work ")
    assert out["target"] == "leg" and out["user_id"] == "me"
    rows = list_labels(labelled_store).to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert (row["trip_id"], row["leg_id"]) == ("trip-1", "leg-1b")
    assert row["started_at"].isoformat() == "2024-05-03T06:10:00+00:00"
    assert row["finished_at"].isoformat() == "2024-05-03T06:35:00+00:00"
    assert (row["mode"], row["occupancy"], row["vehicle"], row["purpose"]) == ("car", 3, "electric", "work")
    assert row["origin"] == "user" and row["label_id"] == out["label_id"] and row["set_at"] is not None


def test_label_a_trip_spans_the_whole_trip(labelled_store):
    set_label(labelled_store, "trip-1", purpose="school run")
    row = list_labels(labelled_store, user_id="me").to_pylist()[0]
    assert (row["trip_id"], row["leg_id"], row["mode"]) == ("trip-1", None, None)
    assert row["started_at"].isoformat() == "2024-05-03T06:00:00+00:00"
    assert row["finished_at"].isoformat() == "2024-05-03T06:35:00+00:00"


def test_labels_are_listed_by_user_and_period(labelled_store):
    set_label(labelled_store, "leg-1a", mode="run")
    set_label(labelled_store, "trip-2", mode="coach")
    assert list_labels(labelled_store, user_id="bob").column("trip_id").to_pylist() == ["trip-2"]
    assert list_labels(labelled_store, since=date(2024, 5, 4)).column("user_id").to_pylist() == ["bob"]
    assert list_labels(labelled_store, until=date(2024, 5, 3)).column("user_id").to_pylist() == ["me"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "at least one of"),
        ({"mode": "hovercraft"}, "unknown mode 'hovercraft'"),
        ({"occupancy": 0}, "occupancy 0"),
        ({"occupancy": 2.5}, "occupancy 2.5"),
        ({"mode": "car", "vehicle": "steam"}, "unknown vehicle 'steam'"),
        ({"purpose": "x" * 101}, "1 to 100 characters"),
    ],
)
def test_invalid_labels_are_refused_and_nothing_is_stored(labelled_store, kwargs, message):
    with pytest.raises(UsageError, match=message) as e:
        set_label(labelled_store, "leg-1b", **kwargs)
    assert e.value.exit_code == 2
    assert list_labels(labelled_store).num_rows == 0


def test_unknown_target_is_not_found(labelled_store):
    with pytest.raises(NotFoundError) as e:
        set_label(labelled_store, "leg-404", mode="bike")
    assert e.value.exit_code == 66
    with pytest.raises(NotFoundError):
        set_label(labelled_store, "trip-2", mode="bike", user_id="me")  # bob's trip
    assert list_labels(labelled_store).num_rows == 0


def test_occupancy_without_mode_confirms_the_legs_mode(labelled_store):
    out = set_label(labelled_store, "leg-1b", occupancy=2)
    assert out["mode"] == "car"
    with pytest.raises(UsageError, match="has car, walk"):
        set_label(labelled_store, "trip-1", vehicle="electric")  # which leg's vehicle?


def test_label_survives_reimport_of_overlapping_files_and_resegmentation(samples, tmp_path):
    """Real GPX car trip: label it a petrol carpool of 3, re-import overlapping files, re-segment."""
    from mobco2.emissions import footprint
    from mobco2.ingest import import_paths
    from mobco2.segment import segment
    from mobco2.store import Store

    store = Store(tmp_path / "real")
    gpx = samples / "gpx" / "gpxpy_around-visnjan-with-car.gpx"
    import_paths(store, [gpx], user_id="me")
    segment(store, user_id="me")
    legs_sql = "select leg_id, started_at, mode, mode_source, occupancy, vehicle from legs where mode = 'car'"
    (car,) = store.query(legs_sql).to_pylist()
    before = footprint(store).totals["co2e_kg"]

    set_label(store, car["leg_id"], occupancy=3, vehicle="petrol")  # re-segments its period at once
    labelled = store.query(legs_sql).to_pylist()[0]
    assert (labelled["mode_source"], labelled["occupancy"], labelled["vehicle"]) == ("label", 3, "petrol")
    after_label = footprint(store).totals["co2e_kg"]
    km = store.query("select sum(distance_m) / 1000 as km from legs").to_pylist()[0]["km"]
    assert after_label == pytest.approx(km * 169.70802472954336 / 1000 / 3)  # ADEME medium petrol car, ÷ 3
    assert after_label < before

    # The same track exported again (another file, same points) and the original forced in again.
    text = gpx.read_text(encoding="utf-8")
    head, rest = text.split("?>", 1)
    again = tmp_path / "exported-again.gpx"
    again.write_text(head + "?>\n<!-- exported again -->\n" + rest, encoding="utf-8")
    summary = import_paths(store, [again, gpx], user_id="me", force=True)
    assert summary.total("added") == 0 and summary.total("duplicate") > 0
    segment(store, user_id="me", force=True)

    (after,) = store.query(legs_sql).to_pylist()
    assert after["started_at"] == car["started_at"]
    assert (after["mode_source"], after["occupancy"], after["vehicle"]) == ("label", 3, "petrol")
    assert footprint(store).totals["co2e_kg"] == pytest.approx(after_label)
    assert list_labels(store).num_rows == 1
