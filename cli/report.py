"""``mobco2 report``: the month's or year's report as text, Markdown, HTML or JSON."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import say, store


def report_cmd(
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM, or last (the last complete month).", show_default=False)
    ] = None,
    year: Annotated[
        str | None, typer.Option("--year", help="YYYY, or last (the last complete year).", show_default=False)
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text | md | html | json.")] = "text",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (atomically) instead of stdout.", show_default=False),
    ] = None,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Also write the charts here as PNG and SVG.", show_default=False)
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user (default: everyone).")] = None,
) -> None:
    """Your month or year: kgCO2e and km by mode, day by day, the trend, savings against driving alone,
    the biggest trips, what is uncertain and how to fix it, data coverage and the method.

    Periods are local (user.timezone, else each trip's zone); "last" is the last complete month or
    year. The HTML report is one file with its charts and a map, opening offline; privacy zones
    apply to the map. The same store always gives the same bytes.

    Example:

        mobco2 report --month last --format html --out ~/mobco2-last-month.html
    """
    from mobco2.export.render import check_format, render
    from mobco2.export.report_model import report

    check_format(fmt)
    r = report(store(), month=month, year=year, user_id=user)
    width = 80 if out is not None or not sys.stdout.isatty() else min(typer.get_terminal_size()[0], 100)
    text = render(r, fmt, width=width, color=out is None and fmt == "text" and sys.stdout.isatty())
    if charts is not None:
        from mobco2.export.charts import write_charts

        written = write_charts(r, charts)
        say(f"charts: {len(written)} files in {charts}")
    if out is None:
        sys.stdout.write(text)
        return
    from mobco2.export.atomic import write_atomic

    write_atomic(out, text)
    say(f"report: {out}")


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
