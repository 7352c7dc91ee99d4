"""``mobco2 fmd``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import say, store
from mobco2_cli.tables_cmds import UserOpt


def fmd_cmd(
    year: Annotated[int, typer.Option("--year", help="Calendar year of the attestation.", show_default=False)],
    format: Annotated[str, typer.Option("--format", help="md, html or pdf (pdf needs mobco2[pdf]).")] = "md",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: stdout; required for pdf).",
                                  show_default=False)
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Date written on the attestation, YYYY-MM-DD (default: today).",
                                 show_default=False)
    ] = None,
    user: UserOpt = None,
) -> None:
    """Forfait mobilités durables attestation: the days you commuted home <-> work by bike, e-bike,
    e-scooter or carpool (a car with 2+ aboard, from `trips label --occupancy`), each day with its
    trips, the rule used, and home/work blurred to 500 m. Home and work come from places.home and
    places.work in config.toml, else are detected from your stays (check them: `mobco2 privacy
    suggest`). The output is the same for the same data, except the date you give with --date.

    Example:

        mobco2 fmd --year 2025 --format html --date 2026-01-05 --out fmd-2025.html
    """
    from mobco2.errors import UsageError
    from mobco2.export.atomic import write_atomic
    from mobco2.export.fmd import attestation

    if format == "pdf" and out is None:
        raise UsageError("PDF is binary: name a file with --out")
    doc = attestation(store(), year, format, date=date, user_id=user)
    if out is None:
        typer.echo(doc, nl=False)
        return
    write_atomic(out, doc)
    say(f"FMD attestation {year} written to {out}")


def register(app: typer.Typer) -> None:
    app.command("fmd")(fmd_cmd)
