"""Emissions: factor sets, per-leg CO2e, baselines and savings, footprints (DESIGN §5).

Public API::

    from mobco2.emissions import apply, compute, footprint, load_factor_set, list_factor_sets, Profile

    legs = apply(legs)                       # fill co2e_kg, baseline_co2e_kg, factor_id (segmentation time)
    detail = compute(legs, scope="usage")    # + bounds, savings, status, factor g/km
    fp = footprint(store, by="month")        # totals in local time, recomputed on the fly
"""

from mobco2.emissions.compute import (
    PLAUSIBLE_BY_SPEED,
    apply,
    compute,
    factor_rows,
    great_circle_km,
    mode_factors,
)
from mobco2.emissions.factors import (
    DEFAULT_SET,
    ENERGIES,
    SCOPES,
    SIZES,
    FactorRow,
    FactorSet,
    list_factor_sets,
    load_factor_set,
)
from mobco2.emissions.footprint import BY, Footprint, footprint
from mobco2.emissions.profile import Baseline, Profile, method_from_config, parse_vehicle

__all__ = [
    "BY",
    "DEFAULT_SET",
    "ENERGIES",
    "PLAUSIBLE_BY_SPEED",
    "SCOPES",
    "SIZES",
    "Baseline",
    "FactorRow",
    "FactorSet",
    "Footprint",
    "Profile",
    "apply",
    "compute",
    "factor_rows",
    "footprint",
    "great_circle_km",
    "list_factor_sets",
    "load_factor_set",
    "method_from_config",
    "mode_factors",
    "parse_vehicle",
]
