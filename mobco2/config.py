"""Settings with provenance: flag > ``MOBCO2_*`` environment > ``config.toml`` > default.

Every setting has a dotted key (``segment.radius_m``); its environment variable is the key in
upper case with dots as underscores, prefixed ``MOBCO2_`` (``MOBCO2_SEGMENT_RADIUS_M``).

``MOBCO2_HOME`` moves everything: the store defaults to ``$MOBCO2_HOME`` and the config file to
``$MOBCO2_HOME/config.toml``. Without it the store is ``platformdirs.user_data_dir("mobco2")``
and the config file ``platformdirs.user_config_dir("mobco2")/config.toml``. ``MOBCO2_CONFIG``
names a config file explicitly.

Example ``config.toml``::

    [segment]
    radius_m = 120

    [profile]
    car_energy = "electric"
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from mobco2.errors import ConfigError

APP = "mobco2"


@dataclass(frozen=True)
class Setting:
    """A known setting: its default, type and one line of help (units in the key)."""

    key: str
    default: Any
    type: type
    help: str
    choices: tuple[str, ...] | None = None


SETTINGS: tuple[Setting, ...] = (
    # store
    Setting("store.lock_timeout_s", 30.0, float, "how long a writer waits for another's lock"),
    Setting("user.default_id", "me", str, "user id for imports without --user"),
    # import
    Setting("import.low_memory", False, bool, "stream big JSON with ijson instead of typed decoding"),
    Setting("import.max_points_per_file", 500_000_000, int, "refuse files claiming more points"),
    # segmentation (mobco2.segment)
    Setting("segment.max_accuracy_m", 200.0, float, "drop points less accurate than this"),
    Setting("segment.max_speed_mps", 300.0, float, "a point implying more from both neighbours is a spike"),
    Setting("segment.radius_m", 100.0, float, "stay radius"),
    Setting("segment.min_duration_s", 300.0, float, "shortest stay"),
    Setting("segment.gap_s", 600.0, float, "signal loss longer than this is examined as a gap"),
    Setting("segment.gap_stay_max_speed_mps", 0.5, float, "a gap moving slower than this is a stay"),
    Setting("segment.edge_min_duration_s", 120.0, float, "shortest stay at the very start or end of the data"),
    Setting("segment.merge_gap_s", 300.0, float, "stays this close in time and within the radius merge"),
    Setting("segment.untracked_gap_s", 43200.0, float, "a gap this long (not flight-fast) ends a trip"),
    Setting("segment.min_trip_m", 150.0, float, "shorter trips are dropped (keep it ≥ segment.min_leg_m)"),
    Setting("segment.transfer_max_s", 1800.0, float, "a stay up to this long before boarding transit is a transfer"),
    Setting("segment.speed_window_s", 8.0, float, "half-width of the window a step's speed is measured on"),
    Setting("segment.walk_max_mps", 2.3, float, "steps up to this speed count as on foot when splitting legs"),
    Setting("segment.stop_max_mps", 1.0, float, "a vehicle slower than this is stopped"),
    Setting("segment.min_walk_s", 60.0, float, "a walk between two vehicle legs lasts at least this"),
    Setting("segment.min_walk_m", 40.0, float, "a walk between two vehicle legs goes at least this far"),
    Setting("segment.min_fast_s", 30.0, float, "faster spells shorter than this inside a walk are noise"),
    Setting("segment.label_overlap", 0.5, float, "share of a leg's time a label or source segment must cover"),
    Setting("segment.plane_speed_mps", 97.0, float, "rule plane-speed: 95th-percentile speed above this"),
    Setting("segment.plane_median_mps", 55.0, float, "rule plane-speed: median speed from this"),
    Setting("segment.plane_gap_m", 100000.0, float, "rule plane-gap: a jump across a gap at least this long"),
    Setting("segment.plane_gap_speed_mps", 55.0, float, "rule plane-gap: at least this fast overall"),
    Setting("segment.hsr_speed_mps", 55.0, float, "rule hsr: 95th-percentile speed from this"),
    Setting("segment.hsr_median_mps", 35.0, float, "rule hsr: median speed from this"),
    Setting("segment.rail_straightness", 0.8, float, "rule hsr: displacement / path length from this"),
    Setting("segment.train_speed_mps", 22.0, float, "rules train, car-fast: 95th-percentile speed from this"),
    Setting("segment.train_median_mps", 12.0, float, "rule train: median speed from this"),
    Setting("segment.car_max_turns_per_km", 0.15, float, "rule train: at most this many sharp turns per km"),
    Setting("segment.train_max_stops_per_km", 0.3, float, "rule train: at most this many stops per km"),
    Setting("segment.bus_min_stops_per_km", 1.5, float, "rule bus: at least this many stops per km"),
    Setting("segment.bus_max_speed_mps", 18.0, float, "rule bus: 95th-percentile speed up to this"),
    Setting("segment.bus_max_median_mps", 6.5, float, "rule bus: median speed up to this"),
    Setting("segment.car_speed_mps", 9.0, float, "rule car: 95th-percentile speed from this"),
    Setting("segment.bike_max_speed_mps", 12.0, float, "rule bike: 95th-percentile speed below this"),
    Setting("segment.walk_median_mps", 2.2, float, "rules walk/bike: median walking speed limit"),
    # real-phone trip ends (issue 14, docs/real-days.md)
    Setting("segment.paused_gap_s", 180.0, float, "a gap before a recorder pause mark this long is examined"),
    Setting("segment.departure_speed_mps", 1.3, float, "speed dating a departure across a gap, if unseen"),
    Setting("segment.arrival_hint_max_s", 120.0, float, "stays start after moving activity hints this far in (0: off)"),
    Setting("segment.arrival_hint_min_conf", 0.5, float, "a motion activity this confident counts as moving"),
    Setting("segment.vehicle_stay_max_s", 600.0, float, "a stay this short the phone calls riding is travel"),
    Setting("segment.vehicle_stay_share", 0.5, float, "... when riding for at least this share of its time"),
    # leg smoothing and source evidence
    Setting("segment.min_leg_s", 60.0, float, "a leg shorter than this in time merges into a neighbour"),
    Setting("segment.min_leg_m", 150.0, float, "a leg shorter than this in distance merges into a neighbour"),
    Setting("segment.source_sparse_step_s", 60.0, float,
            "points further apart than this are too sparse to measure a path: a source segment's distance is used"),
    # emissions (mobco2.emissions)
    Setting("emissions.factors", "ademe-impactco2-2026-07", str, "factor set id or path"),
    Setting(
        "emissions.scope", "full", str, "full | usage | no-contrails", ("full", "usage", "no-contrails")
    ),
    Setting("emissions.baseline_mode", "car", str, "mode that savings are counted against"),
    Setting(
        "emissions.baseline_vehicle", "combustion medium", str, "energy and size of the baseline vehicle (driver alone)"
    ),
    Setting(
        "profile.car_energy",
        "combustion",
        str,
        "your car (combustion = ADEME's default, diesel)",
        ("combustion", "petrol", "diesel", "hybrid", "plug-in-hybrid", "electric"),
    ),
    Setting("profile.car_size", "medium", str, "your car's size", ("small", "medium", "large", "suv", "van")),
    Setting(
        "profile.bus_energy", "combustion", str, "your buses", ("combustion", "electric", "natural-gas")
    ),
    Setting("profile.moto_size", "large", str, "your motorbike", ("small", "large")),
    # where and when the user lives (reports, fmd)
    Setting("user.timezone", "", str, "IANA zone for 'last' month/year and local times; empty = this machine's"),
    Setting("places.home", [], list, "home as [lat, lon] (fmd); empty = detected by `mobco2 privacy suggest`"),
    Setting("places.work", [], list, "work as [lat, lon] (fmd); empty = detected by `mobco2 privacy suggest`"),
    # privacy zones: [[privacy.zones]] lat, lon, radius_m, action = "drop" | "blur"
    Setting("privacy.zones", [], list, "zones hidden from every export, map and attestation (never from the store)"),
    # cron (mobco2 update)
    Setting("sources.paths", [], list, "files and folders `mobco2 update` imports new files from"),
    # the territorial carbon cooperative (submit)
    Setting("cooperative.territory", "", str, "territory code sent with submissions (e.g. an INSEE/EPCI code)"),
    Setting("cooperative.participant_id", "", str, "id assigned by the cooperative; empty = HMAC pseudonym"),
    # report (mobco2.export.report_model)
    Setting("report.low_confidence_below", 0.6, float, "inferred legs below this confidence are listed to label"),
)
_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def env_name(key: str) -> str:
    return "MOBCO2_" + key.upper().replace(".", "_").replace("-", "_")


def home_dir() -> Path | None:
    home = os.environ.get("MOBCO2_HOME")
    return Path(home).expanduser() if home else None


def default_store_path() -> Path:
    """The store used without ``--store``: ``$MOBCO2_HOME`` or the platform's user data dir."""
    home = home_dir()
    return home if home else Path(platformdirs.user_data_dir(APP))


def config_path() -> Path:
    explicit = os.environ.get("MOBCO2_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = home_dir()
    return (home if home else Path(platformdirs.user_config_dir(APP))) / "config.toml"


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    try:
        if setting.type is list:
            # A list from the environment is JSON: MOBCO2_SOURCES_PATHS='["~/gpx"]'.
            out = json.loads(value) if isinstance(value, str) else value
            if not isinstance(out, list):
                raise ValueError(value)
            return out
        if setting.type is bool:
            if isinstance(value, bool):
                out: Any = value
            elif str(value).strip().lower() in {"1", "true", "yes", "on"}:
                out = True
            elif str(value).strip().lower() in {"0", "false", "no", "off"}:
                out = False
            else:
                raise ValueError(value)
        else:
            out = setting.type(value)
    except (TypeError, ValueError):  # json.JSONDecodeError is a ValueError
        raise ConfigError(
            f"{origin}: {setting.key} = {value!r} is not a valid {setting.type.__name__}",
            hint=setting.help,
        ) from None
    if setting.choices and out not in setting.choices:
        raise ConfigError(
            f"{origin}: {setting.key} = {out!r} is not allowed", hint="use one of: " + ", ".join(setting.choices)
        )
    return out


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and key not in _BY_KEY:
            yield from _flatten(v, key + ".")
        else:
            yield key, v


@dataclass(frozen=True)
class Value:
    key: str
    value: Any
    origin: str  # "flag", "env MOBCO2_…", "config /path", "default"


class Config:
    """Resolved settings. ``cfg["segment.radius_m"]`` → value; ``cfg.origin(key)`` → where from."""

    def __init__(self, values: dict[str, Value], path: Path) -> None:
        self._values = values
        self.path = path

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise ConfigError(f"unknown setting {key!r}", hint="see `mobco2 config show`")
        return self._values[key].value

    def origin(self, key: str) -> str:
        return self._values[key].origin

    def values(self) -> list[Value]:
        return [self._values[s.key] for s in SETTINGS]

    def section(self, prefix: str) -> dict[str, Any]:
        """``cfg.section("segment")`` → ``{"radius_m": 100.0, …}``."""
        p = prefix.rstrip(".") + "."
        return {k[len(p) :]: v.value for k, v in self._values.items() if k.startswith(p)}


def load(flags: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Resolve every setting. ``flags`` are command-line values (``None`` means not given)."""
    environ = os.environ if environ is None else environ
    path = config_path()
    file_values: dict[str, Any] = {}
    if path.exists():
        try:
            with open(path, "rb") as f:
                file_values = dict(_flatten(tomllib.load(f)))
        except (tomllib.TOMLDecodeError, OSError) as e:
            raise ConfigError(f"cannot read {path}: {e}", hint="fix or remove the file") from None
        unknown = sorted(set(file_values) - set(_BY_KEY))
        if unknown:
            raise ConfigError(
                f"{path}: unknown setting {unknown[0]!r}", hint="see `mobco2 config show` for valid keys"
            )
    flags = flags or {}
    values: dict[str, Value] = {}
    for s in SETTINGS:
        if flags.get(s.key) is not None:
            values[s.key] = Value(s.key, _coerce(s, flags[s.key], "flag"), "flag")
        elif env_name(s.key) in environ:
            origin = f"env {env_name(s.key)}"
            values[s.key] = Value(s.key, _coerce(s, environ[env_name(s.key)], origin), origin)
        elif s.key in file_values:
            origin = f"config {path}"
            values[s.key] = Value(s.key, _coerce(s, file_values[s.key], origin), origin)
        else:
            values[s.key] = Value(s.key, s.default, "default")
    return Config(values, path)
