"""``mobco2 cohort``: many participants into one store, their status, and the researchers' tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import STATE, CsvOpt, JsonlOpt, JsonOpt, output_format, render, say, show_progress, stderr
from mobco2_cli.common import store as default_store

cohort_app = typer.Typer(
    help="Process a cohort of participants' exports into one store, on a local pool or a Dask cluster.\n\n"
    "Example:\n\n    mobco2 cohort run exports/ --store cohort-store --workers 4",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="The cohort store (same as the global --store).", show_default=False),
]


def _store(path: Path | None):  # type: ignore[no-untyped-def]
    if path is not None:
        STATE.store_path = path
    return default_store()


class _Bar:
    """One bar over participants on stderr (TTY only, never with --quiet)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("participants"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), transient=True, console=stderr,
        )
        self._task = None

    def start(self, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("", total=total)

    def advance(self, participant_id: str, status: str) -> None:
        if self._task is not None:
            text = f"{participant_id} {status}" if participant_id else ""
            self._progress.update(self._task, advance=1, description=text)

    def note(self, message: str) -> None:
        self._progress.console.print(message, highlight=False, markup=False)

    def stop(self) -> None:
        self._progress.stop()


class _Narrator:
    """Without a bar: only the dashboard address (the one thing a user must see at once)."""

    def start(self, total: int) -> None:
        pass

    def advance(self, participant_id: str, status: str) -> None:
        pass

    def note(self, message: str) -> None:
        say(message)

    def stop(self) -> None:
        pass


@cohort_app.command("run")
def run_cmd(
    cohort: Annotated[
        Path, typer.Argument(help="A folder with one folder or archive per participant, or a manifest CSV.",
                             show_default=False),
    ],
    store_path: StoreOpt = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Local worker processes (default: one per core).",
                                 show_default=False),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", metavar="tcp://HOST:PORT",
                                 help="Run on this existing Dask scheduler instead of local processes.",
                                 show_default=False),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Import, segment and count emissions for every participant, in parallel, into one store.

    A manifest CSV has the header participant_id,path[,consent,territory]; participants without
    consent are skipped, counted, and their data removed. Re-running skips participants already
    done whose inputs (sha256) and method (factors, scope, algorithm version) did not change, so a
    run that was interrupted picks up where it stopped. With --scheduler the store must be on a
    filesystem every Dask worker sees. Exits 0 when every participant succeeded, 65 when some
    failed (listed at the end; `mobco2 cohort status` gives the reasons).

    Example:

    \b
        mobco2 cohort run exports/manifest.csv --store cohort-store --workers 2
        mobco2 cohort run exports/ --store /shared/cohort-store --scheduler tcp://10.0.0.5:8786
    """
    from mobco2.cohort import run_cohort

    if workers is not None and scheduler is not None:
        from mobco2.errors import UsageError

        raise UsageError("use --workers or --scheduler, not both")
    progress = _Bar() if show_progress() else _Narrator()
    try:
        summary = run_cohort(_store(store_path), cohort, workers=workers, scheduler=scheduler, progress=progress)
    finally:
        progress.stop()
    if json_:
        render([summary.as_dict()], "json")
    for pid, reason in summary.failed:
        stderr.print(f"failed: {pid}: {reason}", highlight=False, markup=False)
    say(summary.line())
    raise typer.Exit(summary.exit_code)


@cohort_app.command("status")
def status_cmd(
    store_path: StoreOpt = None,
    runs: Annotated[bool, typer.Option("--runs", help="List the runs and what each did instead.")] = False,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Each participant's state (done, failed, no-consent), points, trips, attempts and reason.

    Example:

    \b
        mobco2 cohort status --store cohort-store
        mobco2 cohort status --store cohort-store --runs --json
    """
    from mobco2.cohort import cohort_status

    status = cohort_status(_store(store_path))
    render(status.runs if runs else status.participants, output_format(json_, jsonl, csv_))
    say(status.line())


@cohort_app.command("report")
def report_cmd(
    store_path: StoreOpt = None,
    format: Annotated[str, typer.Option("--format", help="json (one document), csv or parquet (a file per table).")]
    = "json",
    out: Annotated[
        Path | None, typer.Option("--out", help="File (json) or folder (csv, parquet); json goes to stdout without it.",
                                  show_default=False),
    ] = None,
    keep_ids: Annotated[
        bool, typer.Option("--keep-ids", help="Keep participant ids instead of HMAC pseudonyms.")
    ] = False,
) -> None:
    """The cohort's tables: participant × month × mode, distributions, data quality.

    Participant ids are pseudonymised with HMAC-SHA256 under the store's cohort secret
    (cohort.secret, created 0600 on first use) unless --keep-ids. Every output carries the method:
    factor set, scope, algorithm version and mobco2 version.

    Example:

    \b
        mobco2 cohort report --store cohort-store > report.json
        mobco2 cohort report --store cohort-store --format parquet --out tables/
    """
    from mobco2.cohort.report import write_cohort_report

    written = write_cohort_report(_store(store_path), format, out, keep_ids=keep_ids)
    for path in written:
        say(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(cohort_app, name="cohort")
