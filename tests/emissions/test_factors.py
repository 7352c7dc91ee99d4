"""Factor sets: the shipped files against their sources, and strict validation of user files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.emissions import compute, list_factor_sets, load_factor_set
from mobco2.emissions.factors import COLUMNS, REQUIRED_COLUMNS, user_factors_dir
from mobco2.errors import EXIT_DATAERR, EXIT_NOINPUT, FactorSetError, NotFoundError

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
ADEME = "ademe-impactco2-2026-07"


@pytest.fixture(scope="module")
def reference_rows() -> list[dict[str, str]]:
    path = REFERENCE / "ademe_impactco2_transport.csv"
    if not path.is_file():
        raise RuntimeError(f"reference extract not found at {path}: the repo must sit beside shared/")
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_shipped_sets_load():
    ids = {s.id: s for s in list_factor_sets()}
    assert set(ids) >= {ADEME, "ademe-basecarbone-coachco2"}
    ademe = ids[ADEME]
    assert ademe.version and ademe.unit == "gCO2e/km"
    assert "8076a4895ecebd0c781ec6489ba2008b87915b09" in ademe.source_version
    assert ademe.modes_without_factor() == ["ferry"]
    coach = ids["ademe-basecarbone-coachco2"]
    assert "b292aa78b421f8085aaf1d6f6c8b9f5d9dbb3936" in coach.source_version
    assert coach.modes_without_factor() == ["coach", "ferry"]


def test_every_reference_transport_row_is_in_the_ademe_set(reference_rows):
    fs = load_factor_set(ADEME)
    assert len(reference_rows) == 60
    assert {r.factor_id for r in fs.rows} == {r["mode_id"] for r in reference_rows}
    for ref in reference_rows:
        row = fs.row(ref["mode_id"])
        assert row.usage_g == pytest.approx(float(ref["gco2e_per_pkm_usage"] or 0), abs=1e-9), ref["mode_id"]
        assert row.construction_g == pytest.approx(float(ref["gco2e_per_pkm_construction"] or 0), abs=1e-9)
        assert row.contrails_g == pytest.approx(float(ref["gco2e_per_pkm_other"] or 0), abs=1e-9)
        assert row.g_per_km("full") == pytest.approx(float(ref["gco2e_per_pkm_total"]), abs=1e-6)
        assert ref["label_fr"] in row.notes  # provenance travels with the row
        # Per vehicle-km: cars (default occupancy 1), camping-car and van (reference notes); the
        # carpool rows (occupancy 2-5) are already per passenger.
        per_vehicle = ref["default_occupancy"] == "1" or ref["mode_id"] in ("campingcar", "van")
        assert row.per == ("vkm" if per_vehicle else "pkm"), ref["mode_id"]


def test_coachco2_values_match_its_constants():
    fs = load_factor_set("ademe-basecarbone-coachco2")
    expected_kg = {
        "plane-short": 0.258, "plane-medium": 0.187, "plane-long": 0.152, "car": 0.192,
        "car-electric": 0.0198, "carpool": 0.096, "carpool-electric": 0.0099, "bus": 0.13733,
        "bus-electric": 0.0217, "train": 0.01061, "subway": 0.0033, "tramway": 0.003,
        "moto-inf-250": 0.0604, "moto-sup-250": 0.165, "moped": 0.064,
    }  # fmt: skip
    for fid, kg in expected_kg.items():
        assert fs.row(fid).g_per_km("full") == pytest.approx(kg * 1000), fid
        assert fs.row(fid).g_per_km("usage") == fs.row(fid).g_per_km("full")


def test_aliases_repeat_their_target_and_are_never_matched():
    fs = load_factor_set(ADEME)
    aliases = {r.factor_id: r.alias_of for r in fs.rows if r.alias_of}
    assert aliases == {
        "voiturethermique": "voiture-compact-diesel",
        "voitureelectrique": "voiture-compact-electrique",
        "voiturehybride": "voiture-compact-hybride",
    }
    assert not set(aliases) & {r.factor_id for r in fs.matchable}


# --- user files -------------------------------------------------------------------------------------

HEADER = "set_id,set_version,source,source_version,unit,factor_id,mode,per,usage,construction,contrails"
ROW = "mine,1,my notes,2026-01,gCO2e/km"


def write(tmp_path: Path, text: str, name: str = "mine.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_minimal_user_set_by_path(tmp_path):
    p = write(tmp_path, f"{HEADER}\n{ROW},car,car,vkm,150,30,0\n{ROW},rail,train|hsr,pkm,5,1,\n")
    fs = load_factor_set(p)
    assert fs.id == "mine" and fs.path == str(p)
    out = compute(
        __import__("pyarrow").table({"mode": ["car", "hsr", "bus"], "distance_m": [10_000.0] * 3}), factors=p
    ).to_pylist()
    assert [r["co2e_kg"] for r in out][:2] == pytest.approx([1.8, 0.06])
    assert out[2]["co2e_kg"] is None and out[2]["emission_status"] == "no_factor"


def test_user_set_by_id_from_the_config_folder(tmp_path):
    folder = user_factors_dir()  # beside config.toml, inside the isolated MOBCO2_HOME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mine.csv").write_text(f"{HEADER}\n{ROW},car,car,vkm,100,0,0\n", encoding="utf-8")
    assert "mine" in {s.id for s in list_factor_sets()}
    assert load_factor_set("mine").row("car").usage_g == 100


def test_kg_unit_is_converted(tmp_path):
    p = write(tmp_path, f"{HEADER}\nmine,1,x,y,kgCO2e/km,car,car,vkm,0.192,,\n")
    assert load_factor_set(p).row("car").g_per_km("full") == pytest.approx(192)


def test_unknown_set_is_not_found():
    with pytest.raises(NotFoundError) as e:
        load_factor_set("no-such-set")
    assert e.value.exit_code == EXIT_NOINPUT


BAD = [
    pytest.param(
        HEADER.replace(",construction", "") + f"\n{ROW.replace('gCO2e/km', 'gCO2e/km')},car,car,vkm,1,0\n",
        "line 1, column 'construction'",
        "missing column 'construction'",
        id="missing-column",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,150,30,0\n{ROW},bus,bus,pkm,-3,0,0\n",
        "line 3, column 'usage'",
        "negative value -3",
        id="negative-value",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,150,30,0\n{ROW},sub,submarine,pkm,3,0,0\n",
        "line 3, column 'mode'",
        "unknown mode id 'submarine'",
        id="unknown-mode",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},u,unknown,pkm,3,0,0\n",
        "line 2, column 'mode'",
        "cannot have a factor",
        id="unknown-mode-gets-bounds",
    ),
    pytest.param(
        f"{HEADER},colour\n{ROW},car,car,vkm,1,0,0,red\n",
        "line 1, column 'colour'",
        "unknown column 'colour'",
        id="unknown-column",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,lots,0,0\n",
        "line 2, column 'usage'",
        "'lots' is not a number",
        id="not-a-number",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,,0,0\n",
        "line 2, column 'usage'",
        "usage is empty",
        id="empty-usage",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},bus,bus,vkm,100,0,0\n",
        "line 2, column 'per'",
        "public transport cannot be per vehicle-km",
        id="public-transport-per-vehicle",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,1,0,0\n{ROW},car2,car,vkm,2,0,0\n",
        "line 3, column 'min_km'",
        "serves the same legs (car) as line 2",
        id="ambiguous-rows",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,1,0,0\nother,1,my notes,2026-01,gCO2e/km,bus,bus,pkm,1,0,0\n",
        "line 3, column 'set_id'",
        "differs from line 2",
        id="two-sets-in-one-file",
    ),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,1,0,0\n{ROW},car,bus,pkm,1,0,0\n",
        "line 3, column 'factor_id'",
        "already used on line 2",
        id="duplicate-factor-id",
    ),
    pytest.param(
        f"{HEADER}\nmine,1,x,y,lb/mile,car,car,vkm,1,0,0\n",
        "line 2, column 'unit'",
        "unknown unit",
        id="unknown-unit",
    ),
    pytest.param(f"{HEADER}\n", "line 2", "no rows", id="no-rows"),
    pytest.param(
        f"{HEADER}\n{ROW},car,car,vkm,1,0\n",
        "line 2",
        "10 cells where the header has 11",
        id="short-row",
    ),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD)
def test_invalid_files_are_refused_naming_file_line_and_column(tmp_path, text, where, what):
    p = write(tmp_path, text)
    with pytest.raises(FactorSetError) as e:
        load_factor_set(p)
    line = e.value.one_line()
    assert e.value.exit_code == EXIT_DATAERR == 65
    assert str(p) in line and where in line and what in line, line
    assert "\n" not in line


def test_extra_band_rows_and_occupancy_validation(tmp_path):
    cols = HEADER + ",occupancy,min_km,max_km"
    ok = write(tmp_path, f"{cols}\n{ROW},a,plane,pkm,200,0,100,,,1000\n{ROW},b,plane,pkm,150,0,80,,1000,\n")
    assert [r.factor_id for r in load_factor_set(ok).matchable] == ["a", "b"]
    overlap = write(tmp_path, f"{cols}\n{ROW},a,plane,pkm,2,0,1,,,1000\n{ROW},b,plane,pkm,1,0,1,,900,\n", "o.csv")
    with pytest.raises(FactorSetError, match=r"line 3, column 'min_km'"):
        load_factor_set(overlap)
    occ = write(tmp_path, f"{cols}\n{ROW},a,car,vkm,2,0,0,2,,\n", "occ.csv")
    with pytest.raises(FactorSetError, match=r"line 2, column 'per'"):
        load_factor_set(occ)
    band = write(tmp_path, f"{cols}\n{ROW},a,plane,pkm,2,0,0,,500,100\n", "band.csv")
    with pytest.raises(FactorSetError, match=r"line 2, column 'max_km'"):
        load_factor_set(band)


def test_alias_must_repeat_its_target(tmp_path):
    cols = HEADER + ",alias_of"
    p = write(tmp_path, f"{cols}\n{ROW},a,car,vkm,2,0,0,\n{ROW},b,car,vkm,3,0,0,a\n")
    with pytest.raises(FactorSetError, match=r"line 3, column 'alias_of'.*differs"):
        load_factor_set(p)


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(
        st.tuples(st.floats(0, 1000, allow_nan=False), st.floats(0, 100), st.floats(0, 100)), min_size=1, max_size=8
    ),
    unit=st.sampled_from(["gCO2e/km", "kgCO2e/km"]),
    km=st.floats(0.1, 2000),
)
def test_written_set_round_trips(tmp_path_factory, values, unit, km):
    """Any set written with csv.writer loads back with the same values, and legs use them exactly."""
    modes = ["car", "bus", "train", "hsr", "tram", "metro", "coach", "bike"]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(COLUMNS)
    for i, (u, c, k) in enumerate(values):
        mode = modes[i]
        cells = {
            "set_id": "prop", "set_version": "1", "source": "hypothesis, \"quoted\"", "source_version": "x",
            "unit": unit, "factor_id": f"r{i}", "mode": mode, "per": "vkm" if mode == "car" else "pkm",
            "usage": repr(u), "construction": repr(c), "contrails": repr(k), "label": f"row {i}, with comma",
        }  # fmt: skip
        w.writerow([cells.get(col, "") for col in COLUMNS])
    p = tmp_path_factory.mktemp("prop") / "prop.csv"
    p.write_text(out.getvalue(), encoding="utf-8")
    fs = load_factor_set(p)
    scale = 1000.0 if unit == "kgCO2e/km" else 1.0
    assert set(REQUIRED_COLUMNS) <= set(COLUMNS)
    for i, (u, c, k) in enumerate(values):
        row = fs.row(f"r{i}")
        assert row.usage_g == pytest.approx(u * scale)
        assert row.g_per_km("full") == pytest.approx((u + c + k) * scale, rel=1e-11, abs=1e-12)
        got = (
            compute(
                __import__("pyarrow").table({"mode": [modes[i]], "distance_m": [km * 1000]}), factors=fs, scope="usage"
            )
            .column("co2e_kg")[0]
            .as_py()
        )
        assert got == pytest.approx(km * u * scale / 1000)
