"""``mobco2 privacy suggest``."""

from __future__ import annotations

from typing import Annotated

import typer

from mobco2_cli.common import JsonOpt, render, store
from mobco2_cli.tables_cmds import UserOpt

privacy_app = typer.Typer(
    help="Privacy zones: places hidden from every export, map and attestation.\n\nExample:\n\n"
         "    mobco2 privacy suggest >> ~/.config/mobco2/config.toml",
    no_args_is_help=True,
)


@privacy_app.command("suggest")
def privacy_suggest(
    user: UserOpt = None,
    radius_m: Annotated[float, typer.Option("--radius-m", help="Radius of each suggested zone, metres.",
                                            min=1, max=100_000)] = 300.0,
    action: Annotated[str, typer.Option("--action", help="drop (remove points) or blur (coarsen them).")] = "drop",
    json_: JsonOpt = False,
) -> None:
    """Propose home and work zones from your most frequent night and weekday stays, as TOML to
    paste into config.toml (also [places] home/work, which `mobco2 fmd` uses). Nothing is written.

    Home is the place where most nights (03:00 local) were spent; work the other place holding
    most weekdays with 3 hours or more between 10:00 and 16:00.

    Example:

        mobco2 privacy suggest --radius-m 400
    """
    from mobco2.errors import UsageError
    from mobco2.privacy import ACTIONS, detect_places, suggestion_toml

    if action not in ACTIONS:
        raise UsageError(f"--action {action!r} is not allowed", hint="use drop or blur")
    places = detect_places(store(), user_id=user)
    if json_:
        render([{**p.__dict__, "radius_m": radius_m, "action": action} for p in places], "json")
    else:
        typer.echo(suggestion_toml(places, radius_m=radius_m, action=action), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
