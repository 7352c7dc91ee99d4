"""``mobco2 update``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import JsonOpt, render, stderr, store
from mobco2_cli.tables_cmds import UserOpt


def update_cmd(
    report_dir: Annotated[
        Path | None, typer.Option("--report-dir", help="Write mobco2-YYYY-MM.html and .json here for each "
                                  "month whose report changed.", show_default=False)
    ] = None,
    user: UserOpt = None,
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="Exit 0 even if some records of a source were rejected.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """For cron: import every new file under [sources] paths, segment what changed, and with
    --report-dir write the reports of the months that changed. Never prompts; writes every file
    atomically; prints one summary line; a second run with nothing new changes nothing.

    Exit codes: 0 done (also when nothing was new), 2 no [sources] paths configured, 65 records
    rejected or a file unreadable (the rest is still imported and reported), 66 a source path is
    missing, 73 a report cannot be written, 75 the store is locked by another run.

    Example:

        # crontab: every night at 02:30
        30 2 * * *  mobco2 -q update --report-dir ~/mobco2-reports
    """
    from mobco2.update import update

    summary = update(store(), report_dir=report_dir, user_id=user, allow_rejects=allow_rejects)
    if json_:
        render([summary.as_dict()], "json")
    else:
        typer.echo(summary.line())
    if summary.exit_code and not (allow_rejects and summary.exit_code == 65):
        stderr.print("Error: some source records were rejected or files failed — run `mobco2 import` on "
                     "them with -v for details", highlight=False, markup=False)
        raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("update")(update_cmd)
