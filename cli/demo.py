"""``mobco2 demo``: the whole pipeline on the bundled sample data, in a temporary store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import say


def demo_cmd(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Build the demo store here and keep it.", show_default=False)
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Write the HTML report here (default: the temporary folder).", show_default=False),
    ] = None,
) -> None:
    """Run import → segment → report on the bundled La Rochelle sample: prints the month's report
    and writes it as HTML, with charts and a map, to a file whose path it prints last.

    Nothing touches your own store: the demo works in a temporary folder unless --keep names one.

    Example:

        mobco2 demo --keep /tmp/mobco2-demo
    """
    from mobco2.demo import run_demo

    report = run_demo(keep, narrate=say, html=html)
    typer.echo(report)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
