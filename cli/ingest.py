"""``mobco2 import``: files, folders and archives into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mobco2_cli.common import (
    STATE,
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
    from mobco2.ingest.importer import FileResult, ImportSummary


class _RichProgress:
    """One bar over every file and its bytes on stderr (TTY only, never with --quiet)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[files]}"),
            DownloadColumn(), TransferSpeedColumn(), transient=True, console=stderr,
        )
        self._task = self._progress.add_task("", total=None, files="")
        self._files = 0
        self._planned = 0
        self._base = 0

    def plan(self, files: int, total_bytes: int) -> None:
        self._planned = files
        self._progress.update(self._task, total=total_bytes or None, files=f"0/{files} files")
        self._progress.start()

    def start(self, name: str, total_bytes: int | None) -> None:
        self._progress.update(self._task, description=Path(name).name[-30:])

    def advance(self, done_bytes: int) -> None:
        self._progress.update(self._task, completed=self._base + done_bytes)

    def finish(self) -> None:
        pass

    def file_done(self, nbytes: int | None) -> None:
        self._files += 1
        self._base += nbytes or 0
        self._progress.update(self._task, completed=self._base, files=f"{self._files}/{self._planned} files")

    def close(self) -> None:
        self._progress.stop()


FEW = 3
"""Up to this many files, each gets its own line; up to this many failures, each is shown."""


def _file_lines(result: FileResult) -> list[str]:
    lines = []
    if result.status == "imported":
        text = f"{result.name}: {result.format}, {result.added} points added, {result.duplicate} duplicate"
        if result.rejected:
            text += f", {result.rejected} rejected"
        if result.skipped:
            text += f", {result.skipped} records skipped"
        if result.segments_added or result.visits_added or result.labels_added:
            text += (f", {result.segments_added} segments, {result.visits_added} visits, "
                     f"{result.labels_added} labels")
        lines.append(text)
    elif result.status == "failed":
        lines.append(f"Error: {result.message}")
    elif result.message:
        lines.append(f"{result.name}: {result.status} — {result.message}")
    lines += [f"{result.name}: warning: {w}" for w in result.warnings]
    if result.unmapped_modes:
        listing = ", ".join(f"{k} ×{v}" for k, v in sorted(result.unmapped_modes.items()))
        lines.append(f"{result.name}: unmapped modes stored as unknown: {listing}")
    return lines


def _narrate(summary: ImportSummary, verbose: bool) -> None:
    """Per-file lines for a few files (or with -v); for many, only the failures when they are few."""
    files = summary.files
    if verbose or len(files) <= FEW:
        for f in files:
            for line in _file_lines(f):
                say(line)
    else:
        failed = [f for f in files if f.status == "failed"]
        if len(failed) <= FEW:
            for f in failed:
                say(f"Error: {f.message}")
        else:
            say(f"{len(failed)} files failed, the first: {failed[0].message} (-v lists each, --json gives details)")
        warned = sum(len(f.warnings) + bool(f.unmapped_modes) for f in files)
        if warned:
            say(f"{warned} warnings about {sum(bool(f.warnings or f.unmapped_modes) for f in files)} files "
                "(-v shows them)")
    say(summary.line())
    if len(files) > 1 and (detail := summary.format_line()):
        say(detail)


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
    Ends with a one-line count on stderr (and, for several files, what was skipped, failed or
    rejected per format); each file gets its own line when there are a few, or with -v, and each
    failure when few failed. A progress bar over files and bytes shows on a terminal.
    --json/--jsonl/--csv print per-file results on stdout.

    Example:

        mobco2 import ~/Downloads/takeout-20240601.zip ~/gpx/ --user alice
    """
    from mobco2.ingest import import_paths

    fmt = output_format(json_, jsonl, csv_)
    progress = _RichProgress() if show_progress() else None
    try:
        summary = import_paths(
            store(), paths, user_id=user, format=format, force=force, dry_run=dry_run,
            allow_rejects=allow_rejects, low_memory=low_memory or None, progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    if fmt != "table":
        rows = [
            {k: v for k, v in vars(f).items() if k not in ("warnings",)} for f in summary.files
        ]
        render(rows, fmt)
    _narrate(summary, STATE.verbose)
    raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
