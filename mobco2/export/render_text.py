"""The report for a terminal (rich): fits ``width`` columns; no colour unless asked for."""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mobco2.export import report_words as w

BLOCKS = " ▁▂▃▄▅▆▇█"
MODE_STYLE = {"walk": "green", "run": "green", "bike": "green", "ebike": "green", "escooter": "green",
              "bus": "cyan", "tram": "cyan", "metro": "cyan", "train": "blue", "rer": "blue", "intercity": "blue",
              "hsr": "blue", "car": "red", "moto": "red", "scooter": "red", "plane": "magenta",
              "ferry": "magenta"}


def sparkline(values: list[float]) -> str:
    top = max(values, default=0.0)
    if top <= 0:
        return "·" * len(values)
    return "".join("·" if v <= 0 else BLOCKS[max(1, round(v / top * 8))] for v in values)


def _table(*columns: tuple[str, str]) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name, justify in columns:
        t.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    return t


def _trips(title: str, trips: list[Any]) -> Table:
    t = _table(("date", "left"), ("from → to", "left"), ("km", "right"), ("mode", "left"), ("kgCO2e", "right"))
    t.title, t.title_justify, t.title_style = title, "left", "bold"
    for trip in trips:
        t.add_row(trip.date, f"{trip.started_local} → {trip.finished_local}", w.km(trip.km),
                  w.mode_name(trip.mode), w.kg(trip.co2e_kg, 2))
    return t


def render_text(r: Any, *, width: int = 80, color: bool = False) -> str:
    out = io.StringIO()
    con = Console(file=out, width=width, force_terminal=color, color_system="standard" if color else None,
                  no_color=not color, highlight=False, emoji=False, soft_wrap=False)
    who = f" · {r.user_id}" if r.user_id else ""
    con.print(Text(f"mobco2 report — {w.title(r)}{who}", style="bold"))
    con.print(Text(w.headline(r), style="bold green" if not r.empty else "bold"))
    if r.empty:
        con.print(f"Coverage: {w.coverage(r)}.")
        con.print(f"Import data with `mobco2 import`, then `mobco2 segment`. Method: {w.method(r)}.")
        return _finish(out)
    bound = w.bounds(r)
    if bound:
        con.print(Text(bound + "."))
    con.print(w.savings(r) + ".")
    con.print(f"Change: {w.change(r.previous)}" + (f"; {w.change(r.year_before)}" if r.year_before else "") + ".")
    con.print()

    modes = _table(("mode", "left"), ("km", "right"), ("km %", "right"), ("trips", "right"),
                   ("kgCO2e", "right"), ("CO2 %", "right"), ("saved kg", "right"))
    for m in r.modes:
        modes.add_row(Text(w.mode_name(m.mode), style=MODE_STYLE.get(m.mode, "")), w.km(m.km), w.pct(m.km_share),
                      str(m.trips), w.kg(m.co2e_kg, 2), w.pct(m.co2e_share), w.kg(m.saved_co2e_kg))
    modes.add_row(Text("total", style="bold"), w.km(r.totals.km), "", str(r.totals.trips), w.kg(r.totals.co2e_kg, 2),
                  "", w.kg(r.savings.saved_co2e_kg))
    con.print(modes)
    con.print()

    unit = "day" if r.period.kind == "month" else "month"
    values = [b.co2e_kg for b in r.bars]
    top = max(values, default=0.0)
    con.print(Text(f"kgCO2e per {unit} (max {w.kg(top, 2)})", style="bold"))
    con.print(f"  {r.bars[0].key} {sparkline(values)} {r.bars[-1].key}")
    trend = [b.co2e_kg for b in r.trend]
    con.print(Text(f"last 12 months (max {w.kg(max(trend, default=0.0), 1)} kg)", style="bold"))
    con.print(f"  {r.trend[0].key} {sparkline(trend)} {r.trend[-1].key}")
    con.print()

    con.print(_trips("Most emitting trips", r.top_trips))
    con.print()
    con.print(_trips("Longest trips", r.longest_trips))
    con.print()

    low = r.low_confidence
    if low.legs:
        con.print(Text(f"{low.legs} leg{'s' if low.legs != 1 else ''} ({w.km(low.km)} km) with an uncertain mode; "
                       f"check and label them:", style="bold yellow" if color else ""))
        for leg in low.listed[:5]:
            con.print(f"  {leg.date} {leg.started_local} {w.mode_name(leg.mode)} {w.km(leg.km)} km: {leg.command}")
        if low.legs > 5:
            con.print(f"  … and {low.legs - 5} more (`mobco2 trips list`)")
    else:
        con.print("Every leg's mode is labelled or inferred with confidence.")
    con.print(f"Coverage: {w.coverage(r)}.")
    con.print(Text(f"Method: {w.method(r)}.", style="dim"))
    return _finish(out)


def _finish(out: io.StringIO) -> str:
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
