"""``mobco2 trips list/show/label`` and ``mobco2 export``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from mobco2.errors import UsageError
from mobco2_cli.common import (
    CsvOpt,
    JsonlOpt,
    JsonOpt,
    WideOpt,
    format_value,
    output_format,
    render,
    say,
    store,
)

SinceOpt = Annotated[str | None, typer.Option("--since", help="First day, YYYY-MM-DD (UTC).", show_default=False)]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Last day, YYYY-MM-DD (UTC).", show_default=False)]
UserOpt = Annotated[str | None, typer.Option("--user", help="Only this user.", show_default=False)]


def parse_day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date", hint="write it as YYYY-MM-DD") from None


trips_app = typer.Typer(
    help="List, inspect and label trips.\n\nExample:\n\n    mobco2 trips list --since 2025-09-01 --mode car",
    no_args_is_help=True,
)

def _local_minute(iso: str | None) -> str:
    """``2025-09-01T08:18:24+02:00`` → ``2025-09-01 08:18`` (the trip's own local time)."""
    return "" if not iso else iso[:16].replace("T", " ")


def _list_row(r: dict) -> dict:
    """A trip as one line of the ``trips list`` table: what fits 80 columns, local times to the minute."""
    start, end = _local_minute(r.get("started_at")), _local_minute(r.get("finished_at"))
    km = r.get("distance_m")
    return {
        "trip_id": r.get("trip_id"),
        "start": start,
        "end": end[11:] if end[:10] == start[:10] else end,
        "km": None if km is None else km / 1000.0,
        "mode": r.get("main_mode"),
        "legs": r.get("n_legs"),
        "co2e_kg": r.get("co2e_kg"),
        "purpose": r.get("purpose"),
    }


@trips_app.command("list")
def trips_list(
    since: SinceOpt = None,
    until: UntilOpt = None,
    mode: Annotated[str | None, typer.Option("--mode", help="Only trips whose main mode is this.")] = None,
    user: UserOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many trips.")] = None,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
    wide: WideOpt = False,
) -> None:
    """List trips in local time, with distance, main mode and emissions.

    The table shows what fits the terminal (80 columns off one); --wide, --csv and --json show
    every column.

    Example:

        mobco2 trips list --since 2025-09-01 --until 2025-09-30 --csv
    """
    from mobco2.export.tables import list_rows

    fmt = output_format(json_, jsonl, csv_)
    rows = list_rows(store(), "trips", user_id=user, since=parse_day(since, "--since"),
                     until=parse_day(until, "--until"), mode=mode, limit=limit)
    if fmt == "table" and not wide:
        rows = [_list_row(r) for r in rows]
    render(rows, fmt, title="trips", wide=wide)


@trips_app.command("show")
def trips_show(
    trip_id: Annotated[
        str, typer.Argument(help="A trip id from `mobco2 trips list` (the t_ prefix is optional).", show_default=False)
    ],
    json_: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """One trip and each of its legs: mode, why (mode_source), distance, emissions.

    Example:

        mobco2 trips show 3f9c2a1b7e4d
    """
    from mobco2.export.tables import trip_detail

    trip = trip_detail(store(), trip_id)
    if json_:
        render([trip], "json")
        return
    legs = trip.pop("legs")
    fields = [{"field": k, "value": format_value(k, v)} for k, v in trip.items()]
    render(fields, "table", title=f"trip {trip['trip_id']}")
    if not wide:
        legs = [{k: leg.get(k) for k in _LEG_COLUMNS} | {"start": _local_minute(leg.get("started_at"))[11:],
                                                        "end": _local_minute(leg.get("finished_at"))[11:],
                                                        "km": (leg.get("distance_m") or 0.0) / 1000.0}
                for leg in legs]
        legs = [{k: leg[k] for k in ("leg_id", "start", "end", "mode", "mode_source", "km", "co2e_kg", "saved_co2e_kg")
                 if k in leg} for leg in legs]
    render(legs, "table", title="legs", wide=wide)


_LEG_COLUMNS = ("leg_id", "mode", "mode_source", "co2e_kg", "saved_co2e_kg")


@trips_app.command("label")
def trips_label(
    target: Annotated[str, typer.Argument(help="A trip id or leg id.", show_default=False)],
    mode: Annotated[str | None, typer.Option("--mode", help="walk, bike, car, bus, train, hsr, …")] = None,
    occupancy: Annotated[
        int | None, typer.Option("--occupancy", help="People in the vehicle, driver included.", min=1)
    ] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="work, shopping, leisure, …")] = None,
    vehicle: Annotated[
        str | None, typer.Option("--vehicle", help="Energy and/or size: electric, hybrid, petrol small, …")
    ] = None,
    user: UserOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Label a trip or a leg: its mode, occupancy, purpose or vehicle. Your label beats any inference,
    survives re-import and re-segmentation, and changes the footprint at once.

    Example:

        mobco2 trips label t_3f9c2a1b7e4d --mode car --occupancy 3 --purpose work
    """
    from mobco2.labels import set_label

    row = set_label(store(), target, mode=mode, occupancy=occupancy, purpose=purpose, vehicle=vehicle,
                    user_id=user)
    if json_:
        render([row], "json")
    else:
        say(f"labelled {target}: " + ", ".join(
            f"{k}={row[k]}" for k in ("mode", "occupancy", "vehicle", "purpose") if row.get(k) is not None
        ))


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
) -> None:
    """Export points, stays, trips or legs; times are ISO 8601 with the local offset.

    Example:

        mobco2 export trips --format jsonl --since 2025-09-01 --out trips.jsonl
    """
    from mobco2.export.tables import FORMATS, TABLES, export_table

    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}", hint="use one of: " + ", ".join(TABLES))
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}", hint="use one of: " + ", ".join(FORMATS))
    n = export_table(store(), table, format, out, user_id=user, since=parse_day(since, "--since"),
                     until=parse_day(until, "--until"), mode=mode)
    if out is not None:
        say(f"{n} {table} written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(trips_app, name="trips")
    app.command("export")(export_cmd)
