"""Words and numbers every report renderer shares, so text, Markdown and HTML say the same thing."""

from __future__ import annotations

from datetime import date
from typing import Any

MODE_NAMES = {
    "walk": "walking", "run": "running", "bike": "bike", "ebike": "e-bike", "escooter": "e-scooter",
    "scooter": "scooter", "moto": "motorbike", "car": "car", "bus": "bus", "coach": "coach", "tram": "tram",
    "metro": "metro", "train": "train", "rer": "RER", "intercity": "intercity train", "hsr": "high-speed train",
    "plane": "plane", "ferry": "ferry", "other": "other", "unknown": "unknown",
}

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def mode_name(mode: str) -> str:
    return MODE_NAMES.get(mode, mode)


def title(r: Any) -> str:
    """``September 2025`` or ``2025``."""
    p = r.period
    if p.kind == "month":
        d = date.fromisoformat(p.first_day)
        return f"{MONTHS[d.month - 1]} {d.year}"
    return p.label


def kg(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if abs(value) < 10 ** -digits and value != 0:
        return f"{value:.{digits + 2}f}"
    return f"{value:,.{digits}f}"


def km(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def pct(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def delta(c: Any) -> str:
    """``+12.3 kg (+8%)``: this period minus the other one."""
    if c is None:
        return "—"
    sign = "+" if c.change_co2e_kg >= 0 else "−"
    rel = "" if c.change_pct is None else f" ({sign}{abs(c.change_pct):.0f}%)"
    return f"{sign}{abs(c.change_co2e_kg):,.1f} kg{rel}"


def change(c: Any) -> str:
    """``+12.3 kg (+8%) vs 2025-08 (40.1 kg)``."""
    if c is None:
        return "no data to compare with"
    return f"{delta(c)} vs {c.period} ({kg(c.co2e_kg)} kg)"


def headline(r: Any) -> str:
    """One sentence for the top of the report."""
    t = r.totals
    if r.empty:
        return f"No trips recorded in {title(r)}."
    s = "" if t.trips == 1 else "s"
    return f"{kg(t.co2e_kg)} kgCO2e over {km(t.km)} km in {t.trips} trip{s}."


def bounds(r: Any) -> str | None:
    """The honest range when legs of unknown mode exist."""
    u = r.unknown
    if not u.legs and not u.no_factor_legs:
        return None
    parts = []
    if u.legs:
        parts.append(f"{km(u.km)} km of unknown mode ({u.legs} leg{'s' if u.legs != 1 else ''})")
    if u.no_factor_legs:
        parts.append(f"{km(u.no_factor_km)} km by a mode without a factor")
    return "; ".join(parts) + f": the total lies between {kg(u.co2e_low_kg)} and {kg(u.co2e_high_kg)} kg"


def savings(r: Any) -> str:
    s = r.savings
    return (f"{kg(s.saved_co2e_kg)} kg saved against driving alone; the same trips by car "
            f"({s.baseline_vehicle}) would have emitted {kg(s.baseline_co2e_kg)} kg")


def method(r: Any) -> str:
    m = r.method
    return (f"factors {m.factor_set_id} v{m.factor_set_version}, scope {m.scope}, baseline {m.baseline}, "
            f"car {m.profile.get('car_energy', '?')} {m.profile.get('car_size', '?')}, "
            f"mobco2 {m.mobco2_version}, schema {m.schema_version}")


def coverage(r: Any) -> str:
    c = r.coverage
    if not c.days:
        return "no data yet"
    text = f"{c.days_with_data} of {c.days} days with data ({c.time_zone})"
    if c.largest_gaps:
        g = c.largest_gaps[0]
        span = g.first_day if g.days == 1 else f"{g.first_day} → {g.last_day}"
        text += f"; longest gap {g.days} day{'s' if g.days != 1 else ''} ({span})"
    return text


def period_key(r: Any) -> str:
    return "--month" if r.period.kind == "month" else "--year"
