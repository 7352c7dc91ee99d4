"""Privacy zones on the report's map: a point in a drop zone is never drawn, a point in a blur zone
only as a zone's blurred cell centre; the store keeps every point (issue 10 acceptance)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.export import report
from mobco2.export.render import render
from mobco2.privacy import zone_index, zones_from_config


@pytest.fixture(scope="module")
def september(demo_store):
    return report(demo_store, month="2025-09")


@pytest.fixture(scope="module")
def stays(demo_store):
    return demo_store.query("SELECT lat, lon FROM stays ORDER BY started_at").to_pylist()


def _drawn(geo):
    lat = np.concatenate([*(ln.lat for ln in geo.lines), geo.stay_lat])
    lon = np.concatenate([*(ln.lon for ln in geo.lines), geo.stay_lon])
    return lat, lon


zone = st.fixed_dictionaries({
    "k": st.integers(0, 10_000), "dlat": st.floats(-0.01, 0.01), "dlon": st.floats(-0.01, 0.01),
    "radius_m": st.floats(30.0, 5000.0), "action": st.sampled_from(["drop", "blur"]),
})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(zone, min_size=1, max_size=4))
def test_no_point_of_a_drop_zone_is_drawn_and_blur_shows_only_the_cell(september, stays, spec):
    centres = [stays[z["k"] % len(stays)] for z in spec]
    zones = [{"lat": c["lat"] + z["dlat"], "lon": c["lon"] + z["dlon"], "radius_m": z["radius_m"],
              "action": z["action"]} for c, z in zip(centres, spec, strict=True)]
    parsed = zones_from_config(zones)
    geo = september.geometry(zones)
    lat, lon = _drawn(geo)
    idx = zone_index(lat, lon, parsed)
    dropped = [i for i, z in enumerate(parsed) if z.action == "drop"]
    assert not np.isin(idx, dropped).any()
    cells = {z.blurred_point() for z in parsed if z.action == "blur"}
    for a, b in zip(lat[idx >= 0], lon[idx >= 0], strict=True):
        assert (round(float(a), 5), round(float(b), 5)) in cells
    if any(z.action == "drop" for z in parsed) and np.isin(zone_index(*_drawn(september.geometry()), parsed),
                                                          dropped).any():
        assert geo.hidden_points > 0


def test_a_zone_over_everything_leaves_an_empty_map_and_the_store_untouched(demo_store, september, tmp_path):
    before = demo_store.query("SELECT count(*) AS n FROM points").to_pylist()[0]["n"]
    cells = demo_store.query("SELECT DISTINCT round(lat * 2) / 2 AS lat, round(lon * 2) / 2 AS lon FROM points "
                             "ORDER BY 1, 2").to_pylist()  # half-degree cells holding data
    everything = [{**c, "radius_m": 60_000.0, "action": "drop"} for c in cells]
    geo = september.geometry(everything)
    assert geo.empty and geo.hidden_points > 1000
    r = report(demo_store, month="2025-09", config={"privacy.zones": everything})
    html = render(r, "html")
    assert "No trips to draw" in html and "<polyline" not in html
    assert r.totals.co2e_kg == september.totals.co2e_kg  # zones hide places, never change the figures
    assert demo_store.query("SELECT count(*) AS n FROM points").to_pylist()[0]["n"] == before
