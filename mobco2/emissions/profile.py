"""The user's vehicles and the savings baseline: which variant of a mode a leg gets.

A leg's ``vehicle`` (from a label: ``"electric small"``) wins over the :class:`Profile`
(``profile.*`` settings), which gives the energy and size of cars, buses and motorbikes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mobco2.emissions.factors import ENERGIES, NO_FACTOR_MODES, SIZES
from mobco2.errors import UsageError
from mobco2.schema import MODES

# Which profile setting gives the energy / size of a mode when the leg's vehicle does not.
_PROFILE_ENERGY = {"car": "car_energy", "bus": "bus_energy"}
_PROFILE_SIZE = {"car": "car_size", "moto": "moto_size"}

_SYNONYMS = {
    "thermal": "combustion",
    "ice": "combustion",
    "gasoline": "petrol",
    "gas": "petrol",
    "essence": "petrol",
    "ev": "electric",
    "bev": "electric",
    "phev": "plug-in-hybrid",
    "plugin-hybrid": "plug-in-hybrid",
    "hev": "hybrid",
    "cng": "natural-gas",
    "gnv": "natural-gas",
    "lng": "natural-gas",
    "sedan": "large",
    "compact": "medium",
    "city": "small",
    "motorhome": "camper",
    "camping-car": "camper",
}


def parse_vehicle(text: str | None) -> tuple[str | None, str | None, list[str]]:
    """``"electric, small"`` → ``("electric", "small", [])``; the third item lists unknown words.

    A vehicle is words separated by commas, spaces or ``+``: at most one energy
    (:data:`~mobco2.emissions.factors.ENERGIES`) and one size (:data:`~mobco2.emissions.factors.SIZES`).
    A few common synonyms are accepted (``ev``, ``phev``, ``gnv``, ``sedan``…).
    """
    energy = size = None
    unknown: list[str] = []
    if not text:
        return None, None, unknown
    for word in text.replace(",", " ").replace("+", " ").replace(";", " ").lower().split():
        word = _SYNONYMS.get(word, word)
        if word in ENERGIES and energy is None:
            energy = word
        elif word in SIZES and size is None:
            size = word
        else:
            unknown.append(word)
    return energy, size, unknown


@dataclass(frozen=True)
class Profile:
    """The user's vehicles: the variant a leg gets when its ``vehicle`` says nothing.

    Defaults match ``mobco2.config`` (``profile.*``): a medium combustion car, combustion buses,
    a large motorbike.
    """

    car_energy: str = "combustion"
    car_size: str = "medium"
    bus_energy: str = "combustion"
    moto_size: str = "large"

    @classmethod
    def from_config(cls, cfg: Any = None) -> Profile:
        """The profile from settings (``profile.*``): flag > env > config.toml > default."""
        if cfg is None:
            from mobco2 import config

            cfg = config.load()
        return cls.coerce(cfg.section("profile"))

    @classmethod
    def coerce(cls, value: Profile | Mapping[str, str] | None) -> Profile:
        if value is None:
            return cls()
        if isinstance(value, Profile):
            return value
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        prof = cls(**known)
        for key in ("car_energy", "bus_energy"):
            if getattr(prof, key) not in ENERGIES:
                raise UsageError(
                    f"profile.{key} {getattr(prof, key)!r} is not an energy", hint="use one of: " + ", ".join(ENERGIES)
                )
        for key in ("car_size", "moto_size"):
            if getattr(prof, key) not in SIZES:
                raise UsageError(
                    f"profile.{key} {getattr(prof, key)!r} is not a size", hint="use one of: " + ", ".join(SIZES)
                )
        return prof

    def variant(self, mode: str) -> tuple[str | None, str | None]:
        """(energy, size) this profile gives a leg of ``mode``."""
        e = _PROFILE_ENERGY.get(mode)
        s = _PROFILE_SIZE.get(mode)
        return (getattr(self, e) if e else None, getattr(self, s) if s else None)

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Baseline:
    """What a leg is compared with: ``mode`` by ``vehicle``, driver alone (default: combustion car)."""

    mode: str = "car"
    vehicle: str = "combustion medium"

    def variant(self) -> tuple[str | None, str | None]:
        energy, size, unknown = parse_vehicle(self.vehicle)
        if self.mode not in MODES or self.mode in NO_FACTOR_MODES or unknown:
            raise UsageError(
                f"baseline {self.mode!r} by {self.vehicle!r} is not a mode and vehicle mobco2 knows",
                hint="set emissions.baseline_mode to a mode such as car, bus or train",
            )
        return energy, size


def method_from_config(factors: str | None = None, scope: str | None = None, cfg: Any = None) -> dict[str, Any]:
    """Factor set, scope, profile and baseline from settings (flag > env > config.toml > default).

    ``factors``/``scope`` are command-line values (None = not given). The result is keyword
    arguments for :func:`compute`, :func:`apply` and :func:`~mobco2.emissions.footprint`.
    """
    if cfg is None:
        from mobco2 import config

        cfg = config.load({"emissions.factors": factors, "emissions.scope": scope})
    return {
        "factors": cfg["emissions.factors"],
        "scope": cfg["emissions.scope"],
        "profile": Profile.from_config(cfg),
        "baseline": Baseline(mode=cfg["emissions.baseline_mode"], vehicle=cfg["emissions.baseline_vehicle"]),
    }
