"""Settings resolve flag > env > config.toml > default, and say where each came from."""

from __future__ import annotations

import pytest

from mobco2 import config
from mobco2.errors import ConfigError


def test_precedence_and_provenance(tmp_path, monkeypatch):
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text('[segment]\nradius_m = 120\nmin_duration_s = 600\n[profile]\ncar_energy = "electric"\n')
    monkeypatch.setenv("MOBCO2_CONFIG", str(cfg_file))
    monkeypatch.setenv("MOBCO2_SEGMENT_MIN_DURATION_S", "900")
    cfg = config.load({"profile.car_energy": "hybrid"})
    assert cfg["segment.radius_m"] == 120.0 and cfg.origin("segment.radius_m") == f"config {cfg_file}"
    assert cfg["segment.min_duration_s"] == 900.0
    assert cfg.origin("segment.min_duration_s") == "env MOBCO2_SEGMENT_MIN_DURATION_S"
    assert cfg["profile.car_energy"] == "hybrid" and cfg.origin("profile.car_energy") == "flag"
    assert cfg["segment.gap_s"] == 600.0 and cfg.origin("segment.gap_s") == "default"
    assert cfg.section("segment")["radius_m"] == 120.0


def test_mobco2_home_moves_store_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBCO2_HOME", str(tmp_path / "home"))
    assert config.default_store_path() == tmp_path / "home"
    assert config.config_path() == tmp_path / "home" / "config.toml"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[segment]\nradius_m = 'wide'\n", "not a valid float"),
        ("[segment]\nradius = 100\n", "unknown setting 'segment.radius'"),
        ("[profile]\ncar_energy = 'steam'\n", "not allowed"),
        ("[segment\n", "cannot read"),
    ],
)
def test_bad_config_is_a_usage_error(tmp_path, monkeypatch, text, match):
    f = tmp_path / "config.toml"
    f.write_text(text)
    monkeypatch.setenv("MOBCO2_CONFIG", str(f))
    with pytest.raises(ConfigError, match=match) as err:
        config.load()
    assert err.value.exit_code == 2


def test_bad_env_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("MOBCO2_STORE_LOCK_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="MOBCO2_STORE_LOCK_TIMEOUT_S"):
        config.load()
