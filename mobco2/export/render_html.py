"""The report as one self-contained HTML file: inline CSS, inline SVG charts and map, no script,
no external resource, so it opens offline in any browser and can be mailed as it is."""

from __future__ import annotations

from html import escape
from typing import Any

from mobco2.export import report_words as w
from mobco2.export.charts import chart_svg, mode_color

CSS = """
:root { --ink: #1f2933; --muted: #52606d; --line: #e4e7eb; --bg: #ffffff; --soft: #f5f7fa; --accent: #0b7285; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--soft); color: var(--ink);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
header { padding: 8px 0 16px; }
h1 { font-size: 1.1rem; font-weight: 600; color: var(--muted); margin: 0; letter-spacing: .02em; }
.headline { font-size: 3.2rem; font-weight: 700; line-height: 1.1; margin: 6px 0 4px; color: var(--accent); }
.headline small { font-size: 1.3rem; color: var(--ink); font-weight: 600; }
.sub { font-size: 1.1rem; color: var(--muted); margin: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; margin: 16px 0; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
.card b { display: block; font-size: 1.5rem; }
.card span { color: var(--muted); font-size: .92rem; }
section { background: var(--bg); border: 1px solid var(--line); border-radius: 12px; padding: 16px 20px;
  margin: 16px 0; }
h2 { font-size: 1.2rem; margin: 0 0 12px; }
.pair { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 4fr); gap: 20px; align-items: start; }
.pair table { font-size: .9rem; }
@media (max-width: 800px) { .pair { grid-template-columns: 1fr; } .headline { font-size: 2.4rem; } }
figure { margin: 0; }
.maps { display: grid; gap: 20px; }
figure svg { width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: 6px; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); font-size: .9rem; padding-bottom: 4px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; }
th { font-weight: 600; }
td.n, th.n { text-align: right; }
tfoot td { font-weight: 700; border-top: 2px solid var(--line); }
.scroll { max-height: 320px; overflow: auto; }
.sw { display: inline-block; width: .8em; height: .8em; border-radius: 2px; margin-right: .45em;
  vertical-align: baseline; }
.note { color: var(--muted); }
code { background: var(--soft); padding: 1px 5px; border-radius: 4px; font-size: .92em; }
.empty { text-align: center; padding: 40px 10px; color: var(--muted); }
footer { color: var(--muted); font-size: .88rem; margin-top: 24px; }
"""


def _table(caption: str, header: list[tuple[str, bool]], rows: list[list[str]], foot: list[str] | None = None,
           raw: set[int] | None = None) -> str:
    """A table; cells are escaped except the columns in ``raw`` (already HTML)."""
    raw = raw or set()
    head = "".join(f'<th scope="col"{" class=n" if num else ""}>{escape(h)}</th>' for h, num in header)

    def cells(r: list[str], tag: str = "td") -> str:
        return "".join(f'<{tag}{" class=n" if header[i][1] else ""}>{c if i in raw else escape(c)}</{tag}>'
                       for i, c in enumerate(r))

    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    tfoot = f"<tfoot><tr>{cells(foot)}</tr></tfoot>" if foot else ""
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            f"{tfoot}</table>")


def _mode_cell(mode: str) -> str:
    return f'<span class="sw" style="background:{mode_color(mode)}"></span>{escape(w.mode_name(mode))}'


def _trips_table(caption: str, trips: list[Any]) -> str:
    rows = [[t.date, f"{t.started_local} → {t.finished_local}", w.km(t.km), _mode_cell(t.mode), w.kg(t.co2e_kg, 2)]
            for t in trips]
    return _table(caption, [("date", False), ("from → to (local)", False), ("km", True), ("mode", False),
                            ("kgCO2e", True)], rows, raw={3})


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def render_html(r: Any) -> str:
    from mobco2.export.svgmap import maps

    name = w.title(r)
    who = f" · {r.user_id}" if r.user_id else ""
    t = r.totals
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>mobco2 report — {escape(name)}{escape(who)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<header><h1>mobco2 report — {escape(name)}{escape(who)}</h1>",
    ]
    if r.empty:
        parts += [f'<p class="headline">0 <small>kgCO2e</small></p><p class="sub">{escape(w.headline(r))}</p>',
                  "</header>", '<section class="empty"><h2>Nothing to show yet</h2>',
                  "<p>Import location history with <code>mobco2 import PATH</code>, then run "
                  "<code>mobco2 segment</code>, and this report fills in.</p>",
                  f"<p>Coverage: {escape(w.coverage(r))}.</p></section>", _footer(r), "</main></body></html>"]
        return "\n".join(parts) + "\n"
    s = "" if t.trips == 1 else "s"
    parts += [
        f'<p class="headline">{escape(w.kg(t.co2e_kg))} <small>kgCO2e</small></p>',
        f'<p class="sub">{escape(w.km(t.km))} km in {t.trips} trip{s} over {t.days_with_data} day'
        f'{"s" if t.days_with_data != 1 else ""} with data</p></header>',
        '<div class="cards">',
        _card(f"{w.kg(r.savings.saved_co2e_kg)} kg", "saved against driving alone"),
        _card(f"{w.kg(r.savings.baseline_co2e_kg)} kg", "the same trips by car, driver alone"),
        _card(w.delta(r.previous), f"vs {r.previous.period}" if r.previous else "no previous period to compare"),
    ]
    if r.period.kind == "month":
        parts.append(_card(w.delta(r.year_before),
                           f"vs {r.year_before.period}" if r.year_before else "no data a year before"))
    if r.unknown.legs or r.unknown.no_factor_legs:
        parts.append(_card(f"{w.kg(r.unknown.co2e_low_kg)}–{w.kg(r.unknown.co2e_high_kg)} kg",
                           f"total range: {w.km(r.unknown.km + r.unknown.no_factor_km)} km of uncertain mode"))
    parts.append("</div>")

    mode_rows = [[_mode_cell(m.mode), w.km(m.km), w.pct(m.km_share), str(m.trips), w.kg(m.co2e_kg, 2),
                  w.pct(m.co2e_share)] for m in r.modes]
    foot = ["total", w.km(t.km), "", str(t.trips), w.kg(t.co2e_kg, 2), ""]
    parts.append(_pair("By mode", chart_svg(r, "modes", f"kgCO2e and km by mode, {name}"),
                       "Bars: kgCO2e (left) and km (right) per mode.",
                       _table("kgCO2e and km by mode", [("mode", False), ("km", True), ("km %", True), ("trips", True),
                                                         ("kgCO2e", True), ("CO2e %", True)], mode_rows, foot, {0})))
    unit = "day" if r.period.kind == "month" else "month"
    bar_rows = [[b.key, str(b.trips), w.km(b.km), w.kg(b.co2e_kg, 2)] for b in r.bars if b.trips]
    parts.append(_pair(f"{unit.capitalize()} by {unit}", chart_svg(r, "days", f"kgCO2e per {unit}, {name}"),
                       f"kgCO2e per local {unit}, stacked by mode.",
                       '<div class="scroll">' + _table(f"{unit}s with trips", [(unit, False), ("trips", True),
                                                       ("km", True), ("kgCO2e", True)], bar_rows) + "</div>"))
    trend_rows = [[b.key, str(b.trips), w.km(b.km), w.kg(b.co2e_kg, 1)] for b in r.trend]
    parts.append(_pair("Last 12 months", chart_svg(r, "trend", f"kgCO2e per month, last 12 months to {name}"),
                       "kgCO2e per month; this period is the dark bar.",
                       _table("kgCO2e per month", [("month", False), ("trips", True), ("km", True),
                                                   ("kgCO2e", True)], trend_rows)))
    geo = r.geometry()
    hidden = f" Privacy zones hide {geo.hidden_points} points." if geo is not None and geo.hidden_points else ""
    figures = "".join(f"<figure>{svg}<figcaption>{escape(caption)} Drawn from your own data, no map tiles."
                      f"{escape(hidden)}</figcaption></figure>" for caption, svg in maps(r))
    parts.append(f'<section><h2>Map</h2><div class="maps">{figures}</div></section>')
    parts.append('<section><h2>Biggest trips</h2>'
                 f'{_trips_table("Most emitting trips", r.top_trips)}<p></p>'
                 f'{_trips_table("Longest trips", r.longest_trips)}</section>')
    parts.append(_check(r))
    parts += [_footer(r), "</main></body></html>"]
    return "\n".join(parts) + "\n"


def _pair(title: str, svg: str, caption: str, table: str) -> str:
    return (f'<section><h2>{escape(title)}</h2><div class="pair"><figure>{svg}<figcaption>{escape(caption)}'
            f"</figcaption></figure><div>{table}</div></div></section>")


def _check(r: Any) -> str:
    low = r.low_confidence
    out = ["<section><h2>What to check</h2>"]
    bound = w.bounds(r)
    if bound:
        out.append(f"<p>{escape(bound)}.</p>")
    if low.legs:
        out.append(f"<p>{low.legs} leg{'s' if low.legs != 1 else ''} ({escape(w.km(low.km))} km) have a mode "
                   f"guessed with low confidence. Label each with <code>{escape(low.command)}</code>:</p>")
        rows = [[leg.date, leg.started_local, _mode_cell(leg.mode), w.km(leg.km), f"<code>{escape(leg.command)}</code>"]
                for leg in low.listed]
        out.append(_table("legs to label", [("date", False), ("start", False), ("mode", False), ("km", True),
                                            ("command", False)], rows, raw={2, 4}))
    else:
        out.append("<p>Every leg's mode is labelled or inferred with confidence.</p>")
    c = r.coverage
    out.append(f"<p>Coverage: {escape(w.coverage(r))}.</p>")
    if c.largest_gaps:
        rows = [[g.first_day, g.last_day, str(g.days)] for g in c.largest_gaps]
        out.append(_table("largest gaps without data", [("from", False), ("to", False), ("days", True)], rows))
    out.append("</section>")
    return "".join(out)


def _footer(r: Any) -> str:
    return (f"<footer><p>Method: {escape(w.method(r))}. Periods are local days ({escape(r.coverage.time_zone)}); "
            "each trip counts on the day it started. Savings count, for every leg, the same distance by a "
            "combustion car with the driver alone, minus what the leg emitted, where positive.</p></footer>")
