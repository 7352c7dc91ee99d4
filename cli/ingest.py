"""``mobco2 import``: files, folders and archives into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mobco2_cli.common import (
    CsvOpt,
    JsonlOpt,
    JsonOpt,
    output_format,
    render,
    say,
    show_progress,
    stderr,
    store,
)

if TYPE_CHECKING:
    from mobco2.ingest.importer import FileResult


class _RichProgress:
    """Byte-based progress on stderr (TTY only, never with --quiet)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            transient=True, console=stderr,
        )
        self._task = None

    def start(self, name: str, total_bytes: int | None) -> None:
        self._progress.start()
        self._task = self._progress.add_task(Path(name).name[-40:], total=total_bytes)

    def advance(self, done_bytes: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done_bytes)

    def finish(self) -> None:
        self._progress.stop()
        self._task = None


def _narrate(result: FileResult) -> None:
    if result.status == "imported":
        text = f"{result.name}: {result.format}, {result.added} points added, {result.duplicate} duplicate"
        if result.rejected:
            text += f", {result.rejected} rejected"
        if result.segments_added or result.visits_added or result.labels_added:
            text += (f", {result.segments_added} segments, {result.visits_added} visits, "
                     f"{result.labels_added} labels")
        say(text)
    elif result.status == "failed":
        say(f"Error: {result.message}")
    elif result.message:
        say(f"{result.name}: {result.status} — {result.message}")
    for w in result.warnings:
        say(f"{result.name}: warning: {w}")
    if result.unmapped_modes:
        listing = ", ".join(f"{k} ×{v}" for k, v in sorted(result.unmapped_modes.items()))
        say(f"{result.name}: unmapped modes stored as unknown: {listing}")


def import_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or .zip archives.", show_default=False)],
    user: Annotated[str | None, typer.Option("--user", help="Whose data this is (default: user.default_id).")] = None,
    format: Annotated[str, typer.Option("--format", help="auto, or a format id to skip detection.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Import files already in the journal again.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Parse and count, store nothing.")] = False,
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="Store the valid records of a file that has invalid ones.")
    ] = False,
    low_memory: Annotated[
        bool, typer.Option("--low-memory", help="Stream big JSON files in constant memory (slower).")
    ] = False,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Import location-history files into the store, detecting each format by content.

    Re-importing a file already imported does nothing (same sha256); overlapping files add only
    the new points. A file with invalid records is rolled back whole unless --allow-rejects.
    Ends with a one-line count on stderr; --json/--jsonl/--csv print per-file results on stdout.

    Example:

        mobco2 import ~/Downloads/takeout-20240601.zip ~/gpx/ --user alice
    """
    from mobco2.ingest import import_paths

    fmt = output_format(json_, jsonl, csv_)
    summary = import_paths(
        store(), paths, user_id=user, format=format, force=force, dry_run=dry_run,
        allow_rejects=allow_rejects, low_memory=low_memory or None,
        progress=_RichProgress() if show_progress() else None, on_file=_narrate,
    )
    if fmt != "table":
        rows = [
            {k: v for k, v in vars(f).items() if k not in ("warnings",)} for f in summary.files
        ]
        render(rows, fmt)
    say(summary.line())
    raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
