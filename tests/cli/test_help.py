"""Every command documents itself with an example, and docs/cli.md is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mobco2_cli import docs
from mobco2_cli.main import app

COMMANDS = [path for path, _ in docs.commands()]


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(["mobco2", *p]))
def test_help_has_an_example(path):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output, f"`mobco2 {' '.join(path)} --help` has no Example: block"
    assert "mobco2" in result.output.split("Example:", 1)[1]


def test_the_commands_the_design_promises_exist():
    names = {p[0] for p in COMMANDS if p}
    assert {"import", "sql", "demo", "config", "store"} <= names


def test_docs_cli_md_is_current():
    path = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
    assert path.read_text() == docs.render(), "docs/cli.md is stale: run `make docs`"


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("mobco2 ")


def test_starting_the_command_line_loads_no_data_library():
    """``mobco2 --help`` and argument errors answer at once: DuckDB, pyarrow, numpy and pandas
    load when a command runs (they took ~0.7 s of a 1.3 s ``--help``)."""
    import subprocess
    import sys

    code = (
        "import sys; from mobco2_cli.main import app; "
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'numpy', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
