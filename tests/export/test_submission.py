"""The submission document: footprint's figures, the schema, the signature, and nothing finer."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2 import config, schema
from mobco2.emissions import footprint
from mobco2.export.submission import build_submission, resolve_month
from mobco2.keys import init_keys
from mobco2.schema import MODES
from mobco2.signing import canonical, schema_errors, signature_valid
from mobco2.store import Store
from tests.emissions.conftest import leg, write_trips_and_legs

FIGURES = ("km", "trips", "co2e_kg", "baseline_co2e_kg", "saved_co2e_kg")


@pytest.fixture(autouse=True)
def _territory(monkeypatch):
    monkeypatch.setenv("MOBCO2_COOPERATIVE_TERRITORY", "17300")


def _store(tmp_path, legs):
    store = Store(tmp_path / "store")
    write_trips_and_legs(store, legs)
    return store, init_keys(store.root)


SEPTEMBER = [
    leg("t1", "t1a", "2025-09-03T07:00", 30, "car", 12.3456),
    leg("t2", "t2a", "2025-09-04T07:00", 20, "bike", 4.2),
    leg("t2", "t2b", "2025-09-04T07:30", 20, "bus", 3.0),
    leg("t3", "t3a", "2025-09-30T22:30", 20, "train", 30.0),  # 1 Oct in Paris: October's
    leg("t4", "t4a", "2025-08-31T22:30", 20, "walk", 1.5),  # 1 Sep in Paris: September's
    leg("t5", "t5a", "2025-09-12T10:00", 20, "unknown", 2.0, speed_median_mps=1.0),
]


def test_the_figures_are_footprints_for_the_local_month(tmp_path):
    store, keys = _store(tmp_path, SEPTEMBER)
    doc = build_submission(store, "2025-09", keys=keys)
    fp = footprint(store, by="mode", since="2025-09-01", until="2025-09-30")
    assert set(doc["modes"]) == {r["mode"] for r in fp.rows} == {"car", "bike", "bus", "walk", "unknown"}
    for row in fp.rows:
        for f in FIGURES:
            assert doc["modes"][row["mode"]][f] == pytest.approx(row[f], abs=0.0005)
    assert doc["totals"]["trips"] == 4 and doc["days_with_data"] == 4
    assert doc["period"] == "2025-09" and doc["territory"] == "17300"
    assert doc["participant"] == keys.pseudonym("me")
    assert doc["method"]["factor_set_id"] == fp.meta["factor_set_id"] and doc["method"]["scope"] == "full"
    assert schema_errors(doc) == []
    assert signature_valid(doc, keys.public_key_raw)


def test_scope_and_assigned_id_come_from_settings(tmp_path, monkeypatch):
    store, keys = _store(tmp_path, SEPTEMBER)
    monkeypatch.setenv("MOBCO2_EMISSIONS_SCOPE", "usage")
    monkeypatch.setenv("MOBCO2_COOPERATIVE_PARTICIPANT_ID", "LR-0042")
    doc = build_submission(store, "2025-09", keys=keys)
    usage = footprint(store, by="mode", since="2025-09-01", until="2025-09-30", scope="usage")
    assert doc["participant"] == "LR-0042" and doc["method"]["scope"] == "usage"
    assert doc["modes"]["car"]["co2e_kg"] == pytest.approx(usage.rows[0]["co2e_kg"], abs=0.0005)


@pytest.mark.parametrize(
    ("zone", "expected"), [("Pacific/Auckland", "2025-09"), ("America/Los_Angeles", "2025-08"), ("UTC", "2025-09")]
)
def test_last_month_is_resolved_in_the_users_time_zone(zone, expected):
    assert resolve_month("last", zone, now=datetime(2025, 10, 1, 0, 30, tzinfo=UTC)) == expected


@pytest.mark.parametrize("bad", ["2025-13", "2025-9", "25-09", "september", "2025-09-01"])
def test_a_month_that_is_not_one_is_a_usage_error(bad):
    from mobco2.errors import UsageError

    with pytest.raises(UsageError):
        resolve_month(bad)


def test_an_empty_month_is_not_submitted(tmp_path):
    from mobco2.errors import NotFoundError

    store, keys = _store(tmp_path, SEPTEMBER)
    with pytest.raises(NotFoundError, match="no trips in 2024-01"):
        build_submission(store, "2024-01", keys=keys)


# -- tampering -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    import os

    old = os.environ.get("MOBCO2_COOPERATIVE_TERRITORY")
    os.environ["MOBCO2_COOPERATIVE_TERRITORY"] = "17300"
    try:
        store, keys = _store(tmp_path_factory.mktemp("signed"), SEPTEMBER)
        return build_submission(store, "2025-09", keys=keys, cfg=config.load()), keys.public_key_raw
    finally:
        if old is None:
            os.environ.pop("MOBCO2_COOPERATIVE_TERRITORY")


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    else:
        yield path


def _set(doc, path, new):
    doc = json.loads(json.dumps(doc))
    target = doc
    for k in path[:-1]:
        target = target[k]
    if new is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return doc


_DELETE = object()
_VALUES = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.booleans(), st.none(), st.just(_DELETE),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_any_field_breaks_the_signature(signed, data):
    doc, public_key = signed
    paths = sorted(_leaves(doc))
    path = data.draw(st.sampled_from(paths), label="field")
    new = data.draw(_VALUES, label="value")
    changed = _set(doc, path, new)
    if canonical(changed) == canonical(doc):  # the same value (1 and 1 are not a change)
        return
    assert not signature_valid(changed, public_key)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(min_size=1, max_size=10), value=_VALUES.filter(lambda v: v is not _DELETE))
def test_adding_a_member_anywhere_breaks_the_signature(signed, key, value):
    doc, public_key = signed
    for where in ((), ("modes",), ("modes", "car"), ("method",)):
        changed = json.loads(json.dumps(doc))
        target = changed
        for k in where:
            target = target[k]
        if key in target:
            continue
        target[key] = value
        assert not signature_valid(changed, public_key)


# -- privacy ---------------------------------------------------------------------------------

# six decimals, as a phone gives them; never a value a figure rounded to the gram could take
_COORD = st.floats(-89.9, 89.9, allow_nan=False).map(lambda v: round(v, 6)).filter(lambda v: round(v, 3) != v)
_PLACES = st.sampled_from(["Vieux-Port de La Rochelle", "Rue du Palais", "Gare SNCF", "Médiathèque Michel-Crépeau"])


@st.composite
def month_of_legs(draw):
    n = draw(st.integers(1, 12))
    legs = []
    for i in range(n):
        start = datetime(2025, 9, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 60 * 24 * 28)))
        legs.append(leg(f"t{i}", f"t{i}a", start.strftime("%Y-%m-%dT%H:%M"), draw(st.integers(1, 300)),
                        draw(st.sampled_from(MODES)), draw(st.floats(0.01, 900.0)),
                        start_lat=draw(_COORD), start_lon=draw(_COORD), end_lat=draw(_COORD), end_lon=draw(_COORD)))
    return legs, draw(_PLACES), draw(_COORD), draw(_COORD)


def _walk(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
    else:
        yield value


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=month_of_legs())
def test_no_submission_holds_coordinates_place_names_or_fine_times(tmp_path_factory, case):
    legs, place, lat, lon = case
    store = Store(tmp_path_factory.mktemp("privacy") / "store")
    write_trips_and_legs(store, legs)
    visit = {"user_id": "me", "started_at": legs[0]["started_at"], "finished_at": legs[0]["finished_at"],
             "lat": lat, "lon": lon, "name": place, "origin": "test", "import_id": "i1"}
    with store.writer() as w:
        w.append("source_visits", schema.conform(pa.Table.from_pylist([visit]), schema.SOURCE_VISITS))
    doc = build_submission(store, "2025-09", keys=init_keys(store.root, force=True))
    coordinates = {v for g in legs for v in (g["start_lat"], g["start_lon"], g["end_lat"], g["end_lon"])}
    coordinates |= {lat, lon}
    signature = set(_walk(doc["signature"]))
    for v in _walk(doc):
        if isinstance(v, int | float) and not isinstance(v, bool):
            assert round(v, 3) == v, f"{v} is finer than the metre or the gram"
            assert v not in coordinates, f"{v} is a coordinate of the store"
        if isinstance(v, str) and v not in signature:
            assert place.lower() not in v.lower()
            assert not re.search(r"\d{4}-\d{2}-\d{2}|T\d{2}:\d{2}|\d{2}:\d{2}", v), f"{v!r} is finer than the month"
            assert re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", v), f"{v!r} is not a code, key or figure name"
    assert {doc["period"], doc["created"]} <= {"2025-09", datetime.now(UTC).strftime("%Y-%m")}

