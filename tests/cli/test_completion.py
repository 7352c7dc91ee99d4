"""Shell completion: `--show-completion` prints a script, and the script's protocol completes commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mobco2_cli.main import app


def _console_script() -> str:
    found = Path(sys.executable).with_name("mobco2")
    return str(found) if found.exists() else shutil.which("mobco2") or "mobco2"


def test_show_completion_prints_a_script_for_the_shell():
    res = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="mobco2")
    assert res.exit_code == 0, res.output
    assert "_mobco2_completion" in res.output and "complete " in res.output


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_MOBCO2_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    out = subprocess.run([_console_script()], env=env, capture_output=True, text=True, timeout=120, check=False)
    return out.stdout.split()


def test_the_installed_script_completes_commands_and_subcommands():
    assert _complete("mobco2 tri", 1) == ["trips"]
    assert set(_complete("mobco2 trips l", 2)) == {"list", "label"}
    assert "--format" in _complete("mobco2 export trips --f", 3)
