"""The report's typed parts: what :func:`mobco2.export.report_model.report` returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from mobco2.export.periods import days_between

REPORT_KIND = "mobco2.report"


@dataclass
class ModeRow:
    mode: str
    km: float
    trips: int
    legs: int
    co2e_kg: float
    co2e_low_kg: float
    co2e_high_kg: float
    saved_co2e_kg: float
    km_share: float | None
    co2e_share: float | None


@dataclass
class Bar:
    """One day (month report) or one month (year report, and the 12-month trend)."""

    key: str
    km: float
    trips: int
    co2e_kg: float
    co2e_by_mode_kg: dict[str, float] = field(default_factory=dict)


@dataclass
class Totals:
    co2e_kg: float
    co2e_low_kg: float
    co2e_high_kg: float
    km: float
    trips: int
    legs: int
    days_with_data: int


@dataclass
class Comparison:
    """This period against ``period``: ``change_*`` is this minus that."""

    period: str
    co2e_kg: float
    km: float
    trips: int
    change_co2e_kg: float
    change_km: float
    change_pct: float | None  # of kgCO2e; None when the other period had none


@dataclass
class Savings:
    baseline_mode: str
    baseline_vehicle: str
    baseline_occupancy: int
    baseline_co2e_kg: float  # what the period would have cost by the baseline, driver alone
    saved_co2e_kg: float  # sum over legs of max(baseline - actual, 0) (DESIGN §5)


@dataclass
class TripRow:
    trip_id: str
    date: str
    started_local: str  # HH:MM in the trip's zone
    finished_local: str
    km: float
    mode: str
    co2e_kg: float
    legs: int


@dataclass
class Unknown:
    km: float
    legs: int
    share_of_km: float | None
    co2e_low_kg: float  # the whole period's total, counting unknown legs at their cheapest
    co2e_high_kg: float  # …and at their dearest plausible mode
    no_factor_km: float
    no_factor_legs: int


@dataclass
class LowConfidenceLeg:
    leg_id: str
    trip_id: str
    date: str
    started_local: str
    mode: str
    mode_conf: float | None
    km: float
    command: str


@dataclass
class LowConfidence:
    threshold: float
    legs: int
    km: float
    listed: list[LowConfidenceLeg]
    command: str


@dataclass
class Gap:
    first_day: str
    last_day: str
    days: int


@dataclass
class Coverage:
    time_zone: str
    days: int  # days of the period up to the last day with data in the store
    days_with_data: int
    days_without_data: int
    first_day_with_data: str | None
    last_day_with_data: str | None
    largest_gaps: list[Gap]


@dataclass
class Method:
    factor_set_id: str
    factor_set_version: str
    factor_set_source: str
    scope: str
    profile: dict[str, str]
    baseline: str
    mobco2_version: str
    schema_version: int
    low_confidence_below: float


@dataclass
class PeriodInfo:
    kind: str
    label: str
    first_day: str
    last_day: str
    days: int


@dataclass
class Report:
    """The report; :meth:`to_dict` is the JSON document (``mobco2/schemas/report.schema.json``)."""

    period: PeriodInfo
    user_id: str | None
    totals: Totals
    modes: list[ModeRow]
    bars: list[Bar]
    trend: list[Bar]
    previous: Comparison | None
    year_before: Comparison | None
    savings: Savings
    top_trips: list[TripRow]
    longest_trips: list[TripRow]
    unknown: Unknown
    low_confidence: LowConfidence
    coverage: Coverage
    method: Method
    _geometry_loader: Callable[[Any], Any] | None = field(default=None, repr=False, compare=False)
    _geometry: Any = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return self.totals.legs == 0

    def geometry(self, zones: Any = None) -> Any:
        """The period's legs and stays for the map (:class:`mobco2.export.report_geo.Geometry`),
        with the configured privacy zones applied (or ``zones``: ``[[privacy.zones]]`` tables);
        read from the store on first call."""
        if self._geometry_loader is None:
            return None
        if zones is not None:
            return self._geometry_loader(zones)
        if self._geometry is None:
            self._geometry = self._geometry_loader(None)
        return self._geometry

    def to_dict(self) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        return _rounded({"schema_version": self.method.schema_version, "kind": REPORT_KIND, **doc})


def _rounded(value: Any) -> Any:
    # a milligram, a millimetre: beyond any meaning, and it keeps the document byte-stable
    if isinstance(value, float):
        return round(value, 6) + 0.0
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value



def gaps_of(days_with_data: set[date], start: date, end: date, n: int = 3) -> list[Gap]:
    """The ``n`` longest runs of days without data between ``start`` and ``end`` (excluded), longest
    first, then earliest."""
    runs: list[tuple[date, date]] = []
    run_start: date | None = None
    for d in days_between(start, end):
        if d in days_with_data:
            if run_start is not None:
                runs.append((run_start, d - timedelta(days=1)))
                run_start = None
        elif run_start is None:
            run_start = d
    if run_start is not None:
        runs.append((run_start, end - timedelta(days=1)))
    runs.sort(key=lambda r: (-(r[1] - r[0]).days, r[0]))
    return [Gap(a.isoformat(), b.isoformat(), (b - a).days + 1) for a, b in runs[:n]]


def local_hhmm(value: datetime | None) -> str:
    return "" if value is None else f"{value:%H:%M}"
