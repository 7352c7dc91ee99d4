"""Store-level commands: ``sql``, ``store info``, ``store check``, ``config show``."""

from __future__ import annotations

from typing import Annotated

import typer

from mobco2 import config
from mobco2.errors import StoreError
from mobco2_cli.common import CsvOpt, JsonlOpt, JsonOpt, output_format, render, say, store


def sql_cmd(
    query: Annotated[str, typer.Argument(help="One SELECT over the store's views.", show_default=False)],
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Run a read-only SQL query over the store (DuckDB dialect).

    Views: points, source_segments, source_visits, stays, trips, legs, imports, labels.

    Example:

        mobco2 sql "select year, month, count(*) as n from points group by all order by all" --csv
    """
    render(store().sql(query), output_format(json_, jsonl, csv_))


store_app = typer.Typer(help="Inspect the store.\n\nExample:\n\n    mobco2 store info", no_args_is_help=True)


@store_app.command("info")
def info_cmd(json_: JsonOpt = False) -> None:
    """Where the store is and how much it holds.

    Example:

        mobco2 --store ~/mobco2 store info --json
    """
    data = store().info()
    rows = [{"key": k, "value": ", ".join(v) if isinstance(v, list) else v} for k, v in data.items()]
    if json_:
        render([data], "json")
    else:
        render(rows, "table")


@store_app.command("check")
def check_cmd() -> None:
    """Verify the store: every listed file present with its row count, no leftovers, journal consistent.

    Exits 0 when sound, 1 with one line per problem otherwise.

    Example:

        mobco2 store check
    """
    problems = store().check()
    if problems:
        for p in problems:
            say(p)
        raise StoreError(f"{len(problems)} integrity problem(s) found", hint="see the lines above")
    say("store is sound")


config_app = typer.Typer(help="Settings and where they come from.\n\nExample:\n\n    mobco2 config show",
                         no_args_is_help=True)


@config_app.command("show")
def config_show(json_: JsonOpt = False, csv_: CsvOpt = False) -> None:
    """Every setting, its value and where it came from (flag, env, config file or default).

    Example:

        MOBCO2_SEGMENT_RADIUS_M=150 mobco2 config show
    """
    cfg = config.load()
    rows = [
        {"key": v.key, "value": v.value, "origin": v.origin, "env": config.env_name(v.key)} for v in cfg.values()
    ]
    render(rows, output_format(json_, False, csv_), meta={"config_file": str(cfg.path)})


def register(app: typer.Typer) -> None:
    app.command("sql")(sql_cmd)
    app.add_typer(store_app, name="store")
    app.add_typer(config_app, name="config")
