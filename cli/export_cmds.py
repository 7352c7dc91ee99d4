"""``mobco2 export``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import say, store
from mobco2_cli.tables_cmds import SinceOpt, UntilOpt, UserOpt, parse_day


def export_cmd(
    table: Annotated[str, typer.Argument(help="points, stays, trips or legs.", show_default=False)],
    format: Annotated[str, typer.Option("--format", help="csv, parquet, geojson, gpx or jsonl.")] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output file (default: stdout).", show_default=False)
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    user: UserOpt = None,
    mode: Annotated[str | None, typer.Option("--mode", help="Only trips/legs of this mode.")] = None,
    simplify_m: Annotated[
        float | None,
        typer.Option("--simplify-m", help="Thin trip/leg lines to this tolerance in metres (geojson, gpx, parquet).",
                     show_default=False),
    ] = None,
) -> None:
    """Export points, stays, trips or legs, with privacy zones applied.

    Trip and leg rows carry co2e_kg, baseline_co2e_kg, saved_co2e_kg, mode_source, the factor set
    and scope. CSV is RFC 4180 with units in column names, ISO 8601 times with the local offset
    and one rounding per column (1e-7 degrees, 1 m, 1 g). GPX gives one track per trip and one
    segment per leg; GeoJSON and Parquet (GeoParquet) give each trip and leg the full path of
    its points. Points inside a [[privacy.zones]] drop zone never leave the store; blur zones
    move them to a coarse point.

    Example:

        mobco2 export trips --format geojson --since 2025-09-01 --out trips.geojson
        mobco2 export legs --format gpx --mode bike --out bike.gpx
        mobco2 export points --format csv > points.csv
    """
    from mobco2.export.tables import export_table

    n = export_table(store(), table, format, out, user_id=user, since=parse_day(since, "--since"),
                     until=parse_day(until, "--until"), mode=mode, simplify_m=simplify_m)
    if out is not None:
        say(f"{n} {table} written to {out}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
