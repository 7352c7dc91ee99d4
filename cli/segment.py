"""``mobco2 segment``: stays, trips and legs from the store's points, and why a leg got its mode."""

from __future__ import annotations

from typing import Annotated

import typer

from mobco2_cli.common import CsvOpt, JsonlOpt, JsonOpt, output_format, render, say, show_progress, store


def segment_cmd(
    user: Annotated[str | None, typer.Option("--user", help="Only this user (default: every user).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="First UTC day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last UTC day, YYYY-MM-DD (included).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute months whose inputs did not change.")] = False,
    explain_trip: Annotated[
        str | None,
        typer.Option(
            "--explain",
            metavar="TRIP_ID",
            help="Show the rules that started and ended this trip and why each leg got its mode; writes nothing.",
        ),
    ] = None,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Cut points into stays, trips and single-mode legs, and give each leg its mode.

    Only months whose points, source segments or labels changed (or whose settings changed) are
    recomputed; IDs are stable, so your labels stay attached. Modes follow the priority: your
    label > the source's confirmed label > the source's sensed mode > inference from speed.

    Example:

    \b
        mobco2 segment
        mobco2 segment --user me --since 2024-01-01 --until 2024-06-30
        mobco2 segment --explain t_3f9a2c1b7d4e --json
    """
    from mobco2.segment import explain, segment

    fmt = output_format(json_, jsonl, csv_)
    if explain_trip:
        why = explain(store(), explain_trip)
        if fmt == "json":
            render([why], "json")
            return
        rows = [
            {
                "leg_id": leg["leg_id"],
                "mode": leg["mode"],
                "mode_source": leg["mode_source"],
                "mode_conf": leg["mode_conf"],
                "reason": leg["reason"],
                "distance_m": leg["features"]["distance_m"],
                "distance_from": leg.get("distance_from"),
                "speed_median_mps": leg["features"]["speed_median_mps"],
                "speed_p95_mps": leg["features"]["speed_p95_mps"],
                "stops_per_km": leg["features"]["stops_per_km"],
            }
            for leg in why["legs"]
        ]
        ends = {k: why[k] for k in ("started_by", "ended_by") if k in why}
        render(rows, fmt, meta={"trip_id": why["trip_id"], "main_mode": why["main_mode"], **ends})
        return
    summary = segment(
        store(), user_id=user, since=since, until=until, force=force, progress=say if show_progress() else None
    )
    say(summary.line())
    if fmt != "table":
        render([summary.as_dict()], fmt)


def register(app: typer.Typer) -> None:
    app.command("segment")(segment_cmd)
