"""Report periods: a local calendar month or year, and the periods a report compares it with.

``"last"`` is the last complete month (year) in the user's time zone (``user.timezone``; empty
means this machine's zone), which is what a monthly cron job wants on the 1st.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mobco2.errors import ConfigError, UsageError

_MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
YEARS = (1900, 2999)
"""Years a report can be asked for; anything else is a typo."""


@dataclass(frozen=True)
class Period:
    """Local days ``start`` (included) to ``end`` (excluded) of a ``month`` or a ``year``."""

    kind: str
    start: date
    end: date

    @property
    def label(self) -> str:
        y, m = self.start.year, self.start.month
        return f"{y:04d}-{m:02d}" if self.kind == "month" else f"{y:04d}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def shift(self, months: int) -> Period:
        """The period of the same kind starting ``months`` months earlier (negative) or later."""
        return period_of(self.kind, add_months(self.start, months))

    def previous(self) -> Period:
        return self.shift(-1 if self.kind == "month" else -12)

    def year_before(self) -> Period:
        return self.shift(-12)


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    k = day.year * 12 + day.month - 1 + months
    return date(k // 12, k % 12 + 1, 1)


def period_of(kind: str, start: date) -> Period:
    if kind == "month":
        first = date(start.year, start.month, 1)
        return Period("month", first, add_months(first, 1))
    first = date(start.year, 1, 1)
    return Period("year", first, date(start.year + 1, 1, 1))


def zone(name: str | None) -> tzinfo:
    """The zone called ``name``; empty or None is this machine's local zone."""
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"user.timezone {name!r} is not a time zone", hint="use an IANA name like Europe/Paris"
        ) from None


def resolve(
    month: str | None = None, year: int | str | None = None, *, tz: str | None = None, today: date | None = None
) -> Period:
    """The period asked for: ``month="2025-09"`` or ``"last"``, or ``year=2025`` or ``"last"``.

    Example::

        resolve(month="last", tz="Europe/Paris", today=date(2025, 10, 1)).label  # "2025-09"
    """
    if (month is None) == (year is None):
        raise UsageError("give a month or a year", hint="e.g. --month 2025-09, --month last or --year 2025")
    if today is None and (month == "last" or str(year) == "last"):
        today = datetime.now(zone(tz)).date()
    if month is not None:
        text = str(month).strip()
        if text == "last":
            assert today is not None
            return period_of("month", add_months(today, -1))
        m = _MONTH_RE.match(text)
        if not m or not 1 <= int(m.group(2)) <= 12 or not YEARS[0] <= int(m.group(1)) <= YEARS[1]:
            raise UsageError(f"--month {text!r} is not a month", hint="use YYYY-MM (2025-09) or last")
        return period_of("month", date(int(m.group(1)), int(m.group(2)), 1))
    text = str(year).strip()
    if text == "last":
        assert today is not None
        return period_of("year", date(today.year - 1, 1, 1))
    if not re.fullmatch(r"[0-9]{4}", text) or not YEARS[0] <= int(text) <= YEARS[1]:
        raise UsageError(f"--year {text!r} is not a year", hint="use YYYY (2025) or last")
    return period_of("year", date(int(text), 1, 1))


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` (included) to ``end`` (excluded)."""
    return [start + timedelta(days=i) for i in range((end - start).days)]
