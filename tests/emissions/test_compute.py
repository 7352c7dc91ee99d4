"""Per-leg emissions: ADEME's published figures, variants, occupancy, scope, bounds, baseline."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2 import schema
from mobco2.emissions import Baseline, Profile, apply, compute, great_circle_km, mode_factors, parse_vehicle
from mobco2.errors import UsageError

ADEME = "ademe-impactco2-2026-07"
COACH = "ademe-basecarbone-coachco2"


def legs(*rows: dict) -> pa.Table:
    """A legs table from dicts with at least mode and distance_km."""
    cols = {
        "mode": [r["mode"] for r in rows],
        "distance_m": [r["distance_km"] * 1000.0 for r in rows],
        "occupancy": pa.array([r.get("occupancy") for r in rows], pa.int16()),
        "vehicle": pa.array([r.get("vehicle") for r in rows], pa.string()),
        "speed_median_mps": pa.array([r.get("speed_mps") for r in rows], pa.float32()),
    }
    for c in ("start_lat", "start_lon", "end_lat", "end_lon"):
        cols[c] = pa.array([r.get(c) for r in rows], pa.float64())
    return pa.table(cols)


def one(row: dict, **kw) -> dict:
    return compute(legs(row), **kw).to_pylist()[0]


# ADEME's published figures (Impact CO2 website and API; ../shared/reference/ademe_impactco2_transport.md).
PUBLISHED = [
    pytest.param({"mode": "car", "distance_km": 100}, "full", 14.23, 0.005, id="car-100km-full"),
    pytest.param({"mode": "car", "distance_km": 100}, "usage", 11.06, 0.005, id="car-100km-usage"),
    pytest.param({"mode": "hsr", "distance_km": 100}, "full", 0.293, 1e-9, id="tgv-100km"),
    pytest.param({"mode": "bike", "distance_km": 10}, "full", 0.0017, 1e-12, id="bike-10km"),
    pytest.param({"mode": "walk", "distance_km": 5}, "full", 0.0, 0.0, id="walk-zero"),
    pytest.param({"mode": "run", "distance_km": 5}, "full", 0.0, 0.0, id="run-zero"),
    pytest.param({"mode": "train", "distance_km": 100}, "full", 2.769, 1e-9, id="ter-100km"),
    pytest.param({"mode": "intercity", "distance_km": 100}, "full", 0.898, 1e-9, id="intercites-100km"),
    pytest.param({"mode": "rer", "distance_km": 10}, "full", 0.0978, 1e-9, id="rer-10km"),
    pytest.param({"mode": "metro", "distance_km": 10}, "full", 0.0444, 1e-9, id="metro-10km"),
    pytest.param({"mode": "tram", "distance_km": 10}, "full", 0.0428, 1e-9, id="tram-10km"),
    pytest.param({"mode": "escooter", "distance_km": 10}, "full", 0.249, 1e-9, id="trottinette-10km"),
    pytest.param({"mode": "coach", "distance_km": 100}, "full", 3.756, 1e-9, id="coach-100km"),
    pytest.param({"mode": "bus", "distance_km": 10}, "full", 1.2242, 1e-9, id="bus-combustion-10km"),
    pytest.param({"mode": "plane", "distance_km": 800}, "full", 179.6576, 1e-6, id="plane-800km-short"),
    pytest.param({"mode": "plane", "distance_km": 1500}, "full", 276.9915, 1e-6, id="plane-1500km-medium"),
    pytest.param({"mode": "plane", "distance_km": 6000}, "full", 1067.364, 1e-6, id="plane-6000km-long"),
    pytest.param({"mode": "plane", "distance_km": 800}, "no-contrails", 98.8576, 1e-6, id="plane-no-contrails"),
]


@pytest.mark.parametrize(("leg", "scope", "kg", "tol"), PUBLISHED)
def test_reproduces_ademe_published_figures(leg, scope, kg, tol):
    assert one(leg, scope=scope)["co2e_kg"] == pytest.approx(kg, abs=tol)


@pytest.mark.parametrize(
    ("km", "factor_id"),
    [
        (800, "avion-courtcourrier"),
        (1000, "avion-courtcourrier"),  # ADEME: first band whose max >= distance
        (1000.5, "avion-moyencourrier"),
        (1500, "avion-moyencourrier"),
        (3000, "avion-moyenlongcourrier"),
        (6000, "avion-longcourrier"),
        (150, "avion-courtcourrier"),  # below ADEME's 300 km display filter: still short-haul
    ],
)
def test_plane_band_by_distance(km, factor_id):
    assert one({"mode": "plane", "distance_km": km})["factor_id"] == f"{ADEME}:{factor_id}"


def test_plane_band_uses_great_circle_not_travelled_distance():
    # Paris CDG -> Madrid is ~1,060 km great-circle; a GPS path of 950 km must not make it short-haul,
    # and a wandering 2,100 km path must not make it medium-to-long.
    paris, madrid = (49.0097, 2.5479), (40.4983, -3.5676)
    ends = {"start_lat": paris[0], "start_lon": paris[1], "end_lat": madrid[0], "end_lon": madrid[1]}
    for travelled in (950, 2100):
        row = one({"mode": "plane", "distance_km": travelled, **ends})
        assert row["factor_id"] == f"{ADEME}:avion-moyencourrier"
        assert row["co2e_kg"] == pytest.approx(travelled * 184.661 / 1000)
    gc = great_circle_km(np.array([paris[0]]), np.array([paris[1]]), np.array([madrid[0]]), np.array([madrid[1]]))
    assert 1000 < gc[0] < 1100


def test_carpool_of_three_is_a_third_of_the_car():
    alone = one({"mode": "car", "distance_km": 100})["co2e_kg"]
    three = one({"mode": "car", "distance_km": 100, "occupancy": 3})
    assert three["co2e_kg"] == pytest.approx(alone / 3, rel=1e-9)
    assert three["factor_id"] == f"{ADEME}:voiturethermique+2"  # ADEME's own carpool row
    # Six people: no published row, the car is divided.
    assert one({"mode": "car", "distance_km": 100, "occupancy": 6})["co2e_kg"] == pytest.approx(alone / 6)
    # A small petrol car of three: divided too (carpool rows exist only for the medium car).
    small = one({"mode": "car", "distance_km": 100, "vehicle": "petrol small"})["co2e_kg"]
    assert one({"mode": "car", "distance_km": 100, "vehicle": "petrol small", "occupancy": 3})["co2e_kg"] == (
        pytest.approx(small / 3)
    )


@pytest.mark.parametrize("mode", ["bus", "coach", "train", "hsr", "tram", "metro", "plane"])
def test_public_transport_is_never_divided_by_occupancy(mode):
    alone = one({"mode": mode, "distance_km": 50})["co2e_kg"]
    assert one({"mode": mode, "distance_km": 50, "occupancy": 4})["co2e_kg"] == alone


@pytest.mark.parametrize(
    ("profile", "mode", "factor_id"),
    [
        ({}, "car", "voiture-compact-diesel"),
        ({"car_energy": "electric"}, "car", "voiture-compact-electrique"),
        ({"car_energy": "hybrid", "car_size": "small"}, "car", "voiture-citadine-hybride"),
        ({"car_energy": "petrol", "car_size": "suv"}, "car", "voiture-grandeberline-essence"),
        ({"car_energy": "combustion", "car_size": "large"}, "car", "voiture-berline-diesel"),
        ({"car_energy": "plug-in-hybrid"}, "car", "voiture-compact-hybriderechargeable"),
        ({"car_size": "van"}, "car", "van"),
        ({}, "bus", "busthermique"),
        ({"bus_energy": "electric"}, "bus", "buselectrique"),
        ({"bus_energy": "natural-gas"}, "bus", "busgnv"),
        ({}, "moto", "moto"),
        ({"moto_size": "small"}, "moto", "moto-petite"),
        ({"car_energy": "electric"}, "bus", "busthermique"),  # a car setting does not touch buses
    ],
)
def test_profile_chooses_the_variant(profile, mode, factor_id):
    assert one({"mode": mode, "distance_km": 10}, profile=profile)["factor_id"] == f"{ADEME}:{factor_id}"


def test_leg_vehicle_overrides_the_profile():
    prof = Profile(car_energy="electric", car_size="small")
    t = legs(
        {"mode": "car", "distance_km": 10},
        {"mode": "car", "distance_km": 10, "vehicle": "petrol"},  # energy from label, size from profile
        {"mode": "car", "distance_km": 10, "vehicle": "diesel, suv"},
        {"mode": "bus", "distance_km": 10, "vehicle": "electric"},
        {"mode": "scooter", "distance_km": 10, "vehicle": "electric"},
        {"mode": "ebike", "distance_km": 10, "vehicle": "cargo"},
        {"mode": "walk", "distance_km": 10, "vehicle": "electric"},  # irrelevant to the mode: ignored
    )
    got = [f.split(":")[1] for f in compute(t, profile=prof).column("factor_id").to_pylist()]
    assert got == [
        "voiture-citadine-electrique",
        "voiture-citadine-essence",
        "voiture-grandeberline-diesel",
        "buselectrique",
        "scooterelectrique",
        "triporteurelectrique",
        "marche",
    ]


def test_every_mode_has_its_own_row_rail_never_averaged():
    rows = {r["mode"]: r for r in mode_factors(ADEME)}
    assert {m: rows[m]["factor_id"] for m in ("train", "intercity", "hsr", "rer", "metro", "tram")} == {
        "train": "ter",
        "intercity": "intercites",
        "hsr": "tgv",
        "rer": "rer",
        "metro": "metro",
        "tram": "tramway",
    }
    missing = [r["mode"] for r in mode_factors(ADEME) if r["factor_id"] is None]
    assert missing == ["ferry", "other", "unknown"]


def test_mode_without_factor_is_reported_not_zeroed():
    row = one({"mode": "ferry", "distance_km": 20, "speed_mps": 8.0})
    assert row["co2e_kg"] is None
    assert row["emission_status"] == "no_factor"
    assert row["factor_id"] is None
    assert row["saved_co2e_kg"] is None
    # 28.8 km/h: tram (cheapest) to moto (dearest) in the 20-45 km/h band
    assert row["co2e_low_kg"] == pytest.approx(20 * 4.28 / 1000)
    assert row["co2e_high_kg"] == pytest.approx(20 * 214.7 / 1000)


def test_variant_without_factor_is_bounded_by_its_mode():
    row = one({"mode": "car", "distance_km": 100, "vehicle": "lpg"})
    assert row["co2e_kg"] is None and row["emission_status"] == "no_factor"
    # The medium cars of the set: electric (cheapest) to petrol (dearest).
    assert row["co2e_low_kg"] == pytest.approx(6.736526222954337)
    assert row["co2e_high_kg"] == pytest.approx(16.970802472954336)


@pytest.mark.parametrize(
    ("speed_mps", "low_g", "high_g"),
    [
        (1.2, 0.0, 24.9),  # walking pace: walk .. e-scooter
        (4.0, 0.0, 142.25341222954336),  # 14.4 km/h: run .. car
        (25.0, 2.93, 214.7),  # 90 km/h: TGV .. moto
        (60.0, 2.93, 224.572),  # 216 km/h: TGV .. plane (short-haul at this distance)
        (200.0, 224.572, 224.572),  # 720 km/h: plane only
        (None, 0.0, 224.572),  # no speed at all: every mode
    ],
)
def test_unknown_legs_get_speed_bounds(speed_mps, low_g, high_g):
    row = one({"mode": "unknown", "distance_km": 10, "speed_mps": speed_mps})
    assert row["co2e_kg"] is None and row["emission_status"] == "unknown"
    assert row["co2e_low_kg"] == pytest.approx(10 * low_g / 1000)
    assert row["co2e_high_kg"] == pytest.approx(10 * high_g / 1000)


def test_speed_from_duration_when_no_median():
    t = legs({"mode": "other", "distance_km": 3})
    start = pa.array([0], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    end = pa.array([1800 * 10**6], pa.int64()).cast(pa.timestamp("us", tz="UTC"))  # 6 km/h
    t = t.append_column("started_at", start).append_column("finished_at", end)
    row = compute(t).to_pylist()[0]
    assert row["co2e_high_kg"] == pytest.approx(3 * 24.9 / 1000)


def test_baseline_and_savings():
    t = legs(
        {"mode": "bike", "distance_km": 10},
        {"mode": "car", "distance_km": 10, "occupancy": 2},
        {"mode": "plane", "distance_km": 1000},
        {"mode": "unknown", "distance_km": 10},
    )
    out = compute(t, profile={"car_energy": "electric"}).to_pylist()
    car_10km = 1.4225341222954336  # combustion medium car alone, whatever the profile
    assert [r["baseline_co2e_kg"] for r in out] == pytest.approx([car_10km, car_10km, car_10km * 100, car_10km])
    assert out[0]["saved_co2e_kg"] == pytest.approx(car_10km - 0.0017)
    assert out[1]["saved_co2e_kg"] == pytest.approx(car_10km - 0.673652622295 / 2)
    assert out[2]["saved_co2e_kg"] == 0.0  # the plane emits more than the car: no negative saving
    assert out[3]["saved_co2e_kg"] is None
    bus = compute(t, baseline=Baseline(mode="bus")).column("baseline_co2e_kg").to_pylist()
    assert bus[0] == pytest.approx(10 * 122.42 / 1000)


def test_scope_and_set_change_every_figure():
    t = legs(*({"mode": m, "distance_km": 100} for m in ("car", "bus", "train", "hsr", "plane", "ebike", "moto")))
    full = compute(t, scope="full").column("co2e_kg").to_numpy()
    usage = compute(t, scope="usage").column("co2e_kg").to_numpy()
    coach = compute(t, factors=COACH).column("co2e_kg").to_numpy()
    assert np.all(usage < full)
    assert np.all(coach != full)
    assert coach.tolist() == pytest.approx([19.2, 13.733, 1.061, 1.061, 25.8, 0.0, 16.5])


def test_coachco2_set_reproduces_coachco2_factors():
    t = legs(
        {"mode": "car", "distance_km": 10, "occupancy": 2},
        {"mode": "car", "distance_km": 10, "occupancy": 2, "vehicle": "electric"},
        {"mode": "plane", "distance_km": 3000},
        {"mode": "plane", "distance_km": 4000},
        {"mode": "moto", "distance_km": 10, "vehicle": "small"},
        {"mode": "coach", "distance_km": 10},
    )
    got = compute(t, factors=COACH, scope="usage").column("co2e_kg").to_pylist()
    assert got[:5] == pytest.approx([0.96, 0.099, 561.0, 608.0, 0.604])
    assert got[5] is None  # Coach CO2 had no coach factor


def test_apply_fills_three_columns_and_keeps_the_legs_schema():
    n = 3
    ts = pa.array([1_700_000_000_000_000] * n, pa.int64()).cast(schema.TS)
    table = schema.conform(
        pa.table(
            {
                "user_id": ["me"] * n,
                "trip_id": ["t1"] * n,
                "leg_id": ["a", "b", "c"],
                "started_at": ts,
                "finished_at": ts,
                "mode": ["car", "hsr", "unknown"],
                "mode_source": ["inferred"] * n,
                "distance_m": [100_000.0, 100_000.0, 5_000.0],
            }
        ),
        schema.LEGS,
    )
    out = apply(table)
    assert out.schema == schema.LEGS
    assert out.column("co2e_kg").to_pylist()[:2] == pytest.approx([14.225341222954336, 0.293])
    assert out.column("co2e_kg").to_pylist()[2] is None
    assert out.column("factor_id").to_pylist() == [f"{ADEME}:voiture-compact-diesel", f"{ADEME}:tgv", None]
    assert out.column("baseline_co2e_kg").null_count == 0
    assert out.drop_columns(["co2e_kg", "baseline_co2e_kg", "factor_id"]).equals(
        table.drop_columns(["co2e_kg", "baseline_co2e_kg", "factor_id"])
    )


def test_empty_and_pandas_inputs():
    empty = compute(legs())
    assert empty.num_rows == 0 and "co2e_kg" in empty.column_names
    df = legs({"mode": "hsr", "distance_km": 100}).to_pandas()
    assert compute(df).column("co2e_kg").to_pylist() == pytest.approx([0.293])


def test_bad_arguments_are_usage_errors():
    with pytest.raises(UsageError):
        compute(legs({"mode": "car", "distance_km": 1}), scope="everything")
    with pytest.raises(UsageError):
        compute(legs({"mode": "car", "distance_km": 1}), profile={"car_energy": "steam"})
    with pytest.raises(UsageError):
        compute(legs({"mode": "car", "distance_km": 1}), baseline="unknown")


def test_parse_vehicle():
    assert parse_vehicle("Electric, SMALL") == ("electric", "small", [])
    assert parse_vehicle("phev suv") == ("plug-in-hybrid", "suv", [])
    assert parse_vehicle("gnv") == ("natural-gas", None, [])
    assert parse_vehicle("steam") == (None, None, ["steam"])
    assert parse_vehicle(None) == (None, None, [])


MODES_WITH_FACTOR = [m for m in schema.MODES if m not in ("ferry", "other", "unknown")]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(schema.MODES),
            st.floats(0, 8000, allow_nan=False),
            st.one_of(st.none(), st.integers(1, 7)),
            st.one_of(st.none(), st.sampled_from(["electric", "petrol small", "natural-gas", "cargo", "lpg"])),
        ),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_vectorised_result_equals_leg_by_leg(rows, rnd):
    """Whole-table computation matches computing each leg alone, in any row order."""
    dicts = [{"mode": m, "distance_km": d, "occupancy": o, "vehicle": v, "speed_mps": 5.0} for m, d, o, v in rows]
    whole = compute(legs(*dicts)).to_pylist()
    order = list(range(len(dicts)))
    rnd.shuffle(order)
    shuffled = compute(legs(*(dicts[i] for i in order))).to_pylist()
    for pos, i in enumerate(order):
        alone = one(dicts[i])
        for key in ("co2e_kg", "co2e_low_kg", "co2e_high_kg", "baseline_co2e_kg", "factor_id", "emission_status"):
            assert (
                whole[i][key] == pytest.approx(alone[key])
                if isinstance(alone[key], float)
                else (whole[i][key] == alone[key])
            )
            assert shuffled[pos][key] == whole[i][key]
        if whole[i]["emission_status"] == "ok":
            assert whole[i]["co2e_low_kg"] == whole[i]["co2e_kg"] == whole[i]["co2e_high_kg"]
            assert whole[i]["co2e_kg"] >= 0
        else:
            assert whole[i]["co2e_low_kg"] <= whole[i]["co2e_high_kg"]
