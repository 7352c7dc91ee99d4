"""The report as Markdown (GitHub-flavoured tables), for a wiki, an issue or an e-mail."""

from __future__ import annotations

from typing import Any

from mobco2.export import report_words as w


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return [_row(header), "|" + "|".join(rule) + "|", *(_row(r) for r in rows)]


def _trips(trips: list[Any]) -> list[str]:
    return table(["date", "from → to", "km", "mode", "kgCO2e"],
                 [[t.date, f"{t.started_local} → {t.finished_local}", w.km(t.km), w.mode_name(t.mode),
                   w.kg(t.co2e_kg, 2)] for t in trips], {2, 4})


def render_md(r: Any) -> str:
    who = f" · {r.user_id}" if r.user_id else ""
    out = [f"# mobco2 report — {w.title(r)}{who}", "", f"**{w.headline(r)}**", ""]
    if r.empty:
        out += [f"Coverage: {w.coverage(r)}.", "", f"_Method: {w.method(r)}._", ""]
        return "\n".join(out)
    bound = w.bounds(r)
    if bound:
        out += [f"- {bound}."]
    out += [f"- {w.savings(r)}.", f"- Change: {w.change(r.previous)}."]
    if r.year_before is not None or r.period.kind == "month":
        out += [f"- A year before: {w.change(r.year_before)}."]
    out += ["", "## By mode", ""]
    rows = [[w.mode_name(m.mode), w.km(m.km), w.pct(m.km_share), str(m.trips), w.kg(m.co2e_kg, 2),
             w.pct(m.co2e_share), w.kg(m.saved_co2e_kg)] for m in r.modes]
    rows.append(["**total**", w.km(r.totals.km), "", str(r.totals.trips), w.kg(r.totals.co2e_kg, 2), "",
                 w.kg(r.savings.saved_co2e_kg)])
    out += table(["mode", "km", "share of km", "trips", "kgCO2e", "share of CO2e", "saved kg"], rows,
                 {1, 2, 3, 4, 5, 6})
    unit = "Day" if r.period.kind == "month" else "Month"
    out += ["", f"## {unit} by {unit.lower()}", ""]
    out += table([unit.lower(), "trips", "km", "kgCO2e"],
                 [[b.key, str(b.trips), w.km(b.km), w.kg(b.co2e_kg, 2)] for b in r.bars if b.trips], {1, 2, 3})
    out += ["", "## Last 12 months", ""]
    out += table(["month", "trips", "km", "kgCO2e"],
                 [[b.key, str(b.trips), w.km(b.km), w.kg(b.co2e_kg, 2)] for b in r.trend], {1, 2, 3})
    out += ["", "## Most emitting trips", "", *_trips(r.top_trips)]
    out += ["", "## Longest trips", "", *_trips(r.longest_trips)]
    low = r.low_confidence
    out += ["", "## To check", ""]
    if low.legs:
        out.append(f"{low.legs} leg(s), {w.km(low.km)} km, have an uncertain mode. Label each with "
                   f"`{low.command}`:")
        out.append("")
        out += [f"- {leg.date} {leg.started_local}, {w.mode_name(leg.mode)}, {w.km(leg.km)} km: `{leg.command}`"
                for leg in low.listed]
    else:
        out.append("Every leg's mode is labelled or inferred with confidence.")
    out += ["", "## Coverage and method", "", f"- Coverage: {w.coverage(r)}."]
    for g in r.coverage.largest_gaps:
        out.append(f"- No data from {g.first_day} to {g.last_day} ({g.days} day{'s' if g.days != 1 else ''}).")
    out += [f"- Method: {w.method(r)}.", ""]
    return "\n".join(out)
