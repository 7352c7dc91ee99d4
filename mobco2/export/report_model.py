"""The report of a month or a year: one typed object, rendered as text, Markdown, HTML or JSON.

Everything is counted the way ``mobco2 footprint`` counts it: each leg belongs to the local day
on which its trip started (in the trip's time zone), and its emissions are recomputed from its
mode, distance, occupancy and vehicle with the configured factor set, scope, profile and
baseline (:func:`mobco2.emissions.compute.leg_emissions`, the same arrays ``footprint`` totals),
so the report and ``footprint`` never disagree. Legs of unknown mode add their low/high bound.

Only figures go into :meth:`Report.to_dict` (the JSON document): no coordinates. The map's
geometry is read on demand (:meth:`Report.geometry`), with the privacy zones applied.

Example::

    from mobco2.export import report
    r = report(Store("~/mobco2"), month="2025-09")
    r.totals.co2e_kg, r.to_dict()["modes"][0]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from mobco2.export.periods import Period, add_months, resolve
from mobco2.export.report_types import (
    Bar,
    Comparison,
    Coverage,
    Gap,
    LowConfidence,
    LowConfidenceLeg,
    Method,
    ModeRow,
    PeriodInfo,
    Report,
    Savings,
    Totals,
    TripRow,
    Unknown,
)

__all__ = [
    "Bar", "Comparison", "Coverage", "Gap", "LowConfidence", "LowConfidenceLeg", "Method", "ModeRow",
    "PeriodInfo", "Report", "Savings", "Totals", "TripRow", "Unknown", "months_with_data", "report",
]

TOP_N = 5
LOW_CONFIDENCE_LISTED = 10


class _Settings(dict):
    """Settings as a mapping: the loaded configuration with overrides on top."""

    def section(self, prefix: str) -> dict[str, Any]:
        p = prefix.rstrip(".") + "."
        return {k[len(p):]: v for k, v in self.items() if k.startswith(p)}


def _settings(config: Any) -> Mapping[str, Any]:
    from mobco2 import config as config_mod

    if config is not None and hasattr(config, "origin"):
        return config
    loaded = config_mod.load()
    out = _Settings({s.key: loaded[s.key] for s in config_mod.SETTINGS})
    out.update(dict(config or {}))
    return out


def report(
    store: Any,
    *,
    month: str | None = None,
    year: int | str | None = None,
    user_id: str | None = None,
    config: Any = None,
    today: date | None = None,
) -> Report:
    """The report of a local ``month`` (``"2025-09"`` or ``"last"``) or ``year`` (``2025`` or ``"last"``).

    Parameters
    ----------
    store : a :class:`mobco2.store.Store`.
    month, year : exactly one of them; ``"last"`` is the last complete one in ``user.timezone``.
    user_id : one user, or None for everyone in the store.
    config : a :class:`mobco2.config.Config` or a mapping of settings over the loaded ones
        (``emissions.*``, ``profile.*``, ``user.timezone``, ``privacy.zones``, ``report.*``).
    today : the day ``"last"`` is counted from (default: today in ``user.timezone``).
    """
    from mobco2 import __version__
    from mobco2.emissions.factors import load_factor_set
    from mobco2.emissions.profile import method_from_config
    from mobco2.export import report_data
    from mobco2.schema import SCHEMA_VERSION

    cfg = _settings(config)
    period = resolve(month, year, tz=cfg["user.timezone"], today=today)
    method = method_from_config(cfg=cfg)
    fs = load_factor_set(method["factors"])
    threshold = float(cfg["report.low_confidence_below"])
    window = Period(period.kind, add_months(period.start, -12), period.end)
    data = report_data.read(store, window, user_id, fs, method, cfg["user.timezone"], period)

    base = method["baseline"]
    totals_all = data.totals(period)
    unknown = data.unknown(period)
    modes = data.modes(period)
    top, longest = data.trips(period, TOP_N)
    low = data.low_confidence(period, threshold, LOW_CONFIDENCE_LISTED)
    coverage = data.coverage
    result = Report(
        period=PeriodInfo(period.kind, period.label, period.start.isoformat(),
                          (period.end - timedelta(days=1)).isoformat(), period.days),
        user_id=user_id,
        totals=Totals(totals_all["co2e_kg"], unknown.co2e_low_kg, unknown.co2e_high_kg, totals_all["km"],
                      totals_all["trips"], totals_all["legs"], coverage.days_with_data),
        modes=modes,
        bars=data.bars(period),
        trend=data.month_bars(Period("month", add_months(period.end, -12), period.end)),
        previous=_compare(totals_all, data.totals(period.previous()), period.previous()),
        year_before=(_compare(totals_all, data.totals(period.year_before()), period.year_before())
                     if period.kind == "month" else None),
        savings=Savings(base.mode, base.vehicle, 1, totals_all["baseline_co2e_kg"], totals_all["saved_co2e_kg"]),
        top_trips=top,
        longest_trips=longest,
        unknown=unknown,
        low_confidence=low,
        coverage=coverage,
        method=Method(fs.id, str(fs.version), fs.source, method["scope"], method["profile"].as_dict(),
                      f"{base.mode} ({base.vehicle}), driver alone", __version__, SCHEMA_VERSION, threshold),
    )
    zones = cfg["privacy.zones"]
    result._geometry_loader = lambda given: data.geometry(period, zones if given is None else given)
    return result


def _compare(this: Mapping[str, Any], other: Mapping[str, Any], period: Period) -> Comparison | None:
    if not other["legs"]:
        return None
    base = other["co2e_kg"]
    pct = (this["co2e_kg"] - base) / base * 100.0 if base > 0 else None
    return Comparison(period.label, base, other["km"], other["trips"], this["co2e_kg"] - base,
                      this["km"] - other["km"], pct)


def months_with_data(store: Any, user_id: str | None = None) -> list[str]:
    """Local months (``"YYYY-MM"``) holding a trip or a stay, in order: the months a report exists for."""
    from mobco2.export import report_data

    return report_data.months_with_data(store, user_id)
