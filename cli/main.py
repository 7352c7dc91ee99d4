"""The ``mobco2`` command: global options, command registration, and the one place errors become
exit codes (DESIGN §6)."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

from mobco2_cli import lazy_pandas

lazy_pandas.install()  # before anything can import pyarrow

import typer  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from mobco2.errors import EXIT_FAILURE, Mobco2Error  # noqa: E402
from mobco2_cli.common import STATE, stderr  # noqa: E402


class Mobco2Group(TyperGroup):
    """Translates mobco2 errors into one line on stderr and the documented exit code."""

    def invoke(self, ctx: typer.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except Mobco2Error as e:
            if STATE.verbose:
                traceback.print_exc()
            stderr.print(f"Error: {e.one_line()}", highlight=False, markup=False)
            ctx.exit(e.exit_code)
        except BrokenPipeError:
            # The reader of our stdout went away (`mobco2 export … | head`): not an error.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)
        except KeyboardInterrupt:
            stderr.print("Interrupted: the store is as it was before this run.", markup=False)
            ctx.exit(130)
        except Exception as e:  # a bug: say so in one line, full traceback with -v
            if type(e).__module__.startswith("typer"):  # usage errors, Exit, Abort: typer reports them
                raise
            if STATE.verbose:
                traceback.print_exc()
            stderr.print(
                f"Error: unexpected failure: {type(e).__name__}: {e} — run with -v for the traceback "
                "and please report it",
                highlight=False,
                markup=False,
            )
            ctx.exit(EXIT_FAILURE)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: typer.Context, cmd_name: str):  # type: ignore[no-untyped-def]
        """A command's module is imported when that command is asked for, not before."""
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self._load(COMMANDS[cmd_name])
        return super().get_command(ctx, cmd_name)

    def _load(self, module_name: str) -> None:
        import importlib

        module = importlib.import_module(f"mobco2_cli.{module_name}")
        sub = typer.Typer(add_completion=False, **_SETTINGS)
        module.register(sub)
        for name, command in typer.main.get_group(sub).commands.items():
            self.add_command(command, name)


_SETTINGS: dict = {
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,
    "context_settings": {"help_option_names": ["-h", "--help"], "max_content_width": 100},
}
app = typer.Typer(
    name="mobco2",
    cls=Mobco2Group,
    no_args_is_help=True,
    add_completion=True,
    **_SETTINGS,
    help="""Personal mobility carbon accounting from your own location history, on your machine.

Import exports (Google Takeout and Timeline, GPX, TraceMob/e-mission, OwnTracks, GeoJSON, KML,
FIT, TCX, CSV) into a local store, cut them into trips and legs, give each leg a mode, and
count its kgCO2e with ADEME's factors.

Example:

\b
    mobco2 import ~/Downloads/takeout.zip track.gpx
    mobco2 segment
    mobco2 footprint --by month
""",
)


def _version(value: bool) -> None:
    if value:
        from mobco2 import __version__

        typer.echo(f"mobco2 {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Store folder (default: $MOBCO2_HOME or your user data folder).",
                      show_default=False),
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress or narration on stderr.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Tracebacks and details on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Global options, set before any command runs."""
    STATE.store_path = store
    STATE.quiet = quiet
    STATE.verbose = verbose


COMMANDS: dict[str, str] = {}
"""Command name → the module of ``mobco2_cli`` whose ``register(app)`` adds it."""


def _lazy(module: str, *names: str) -> None:
    for name in names:
        COMMANDS[name] = module


def _register() -> None:
    """One line per module of commands: the module, then the commands its ``register`` adds.

    Only the module of the command being run is imported (``--help`` reads them all);
    tests/cli/test_imports.py checks that no command path pays for a module it does not use.
    """
    _lazy("ingest", "import")
    _lazy("store_cmds", "sql", "store", "config")
    _lazy("tables_cmds", "trips")
    _lazy("export_cmds", "export")
    _lazy("demo", "demo")
    _lazy("emissions", "footprint", "factors")
    _lazy("segment", "segment")
    _lazy("report", "report")
    _lazy("privacy_cmds", "privacy")
    _lazy("fmd", "fmd")
    _lazy("update", "update")
    _lazy("keys", "keys")
    _lazy("submit", "submit")
    _lazy("aggregate", "aggregate")
    _lazy("cohort", "cohort")


_register()


def run() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="mobco2"))
