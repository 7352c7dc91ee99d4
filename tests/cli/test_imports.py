"""No command pays at start-up for a heavy module it does not use (issue 13).

Every command found in the command tree (so a command added later is covered without editing
this file) is asked for ``--help`` in a fresh interpreter; then ``import``, ``segment`` and
``footprint`` really run on a small store. The modules loaded are read from ``sys.modules`` as
the process ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mobco2_cli import docs
from tests.builders import walk, write_gpx

HEAVY = ("pandas", "geopandas", "matplotlib", "dask", "distributed", "httpx", "starlette", "uvicorn",
         "cryptography", "weasyprint")

NEEDS: dict[str, set[str]] = {
    # a command that genuinely needs a heavy module names it here, with the reason
}
"""Heavy modules a command's --help may load (none do today)."""

_PROBE = """
import json, runpy, sys
heavy = json.loads(sys.argv[1])
sys.argv = ["mobco2", *sys.argv[2:]]
try:
    runpy.run_module("mobco2", run_name="__main__")
except SystemExit as e:
    code = e.code or 0
else:
    code = 0
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}), file=sys.stderr)
"""


def loaded(*args: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
        env={**os.environ, "COLUMNS": "100"},
    )
    out = json.loads(proc.stderr.strip().splitlines()[-1])
    assert out["code"] == 0, proc.stderr[-2000:]
    return out["loaded"]


TOP = sorted({path[0] for path, _ in docs.commands() if path})


def test_every_command_is_found():
    assert {"import", "segment", "footprint", "sql"} <= set(TOP)


@pytest.mark.parametrize("command", TOP)
def test_help_of_each_command_loads_no_heavy_module(command):
    assert set(loaded(command, "--help")) <= NEEDS.get(command, set())


def test_root_help_loads_no_heavy_module():
    assert loaded("--help") == []


def test_import_runs_without_pandas_or_any_heavy_module(tmp_path):
    folder = tmp_path / "gpx"
    folder.mkdir()
    for i in range(3):
        write_gpx(folder / f"t{i}.gpx", walk(20))
    assert loaded("--store", str(tmp_path / "s"), "-q", "import", str(folder), "--user", "me") == []


def test_footprint_runs_without_pandas_and_segment_loads_nothing_beyond_it(tmp_path):
    store = str(tmp_path / "s")
    loaded("--store", store, "-q", "import", str(write_gpx(tmp_path / "a.gpx", walk(200))), "--user", "me")
    allowed = {"pandas"}  # the segmentation kernels (mobco2/segment) still use pandas in places
    assert set(loaded("--store", store, "-q", "segment")) <= allowed
    assert loaded("--store", store, "footprint", "--by", "month") == []
    assert loaded("--store", store, "footprint", "--by", "mode", "--json") == []
    assert set(loaded("--store", store, "-q", "segment")) <= allowed


def test_lazy_pandas_leaves_pyarrow_working_with_pandas(tmp_path):
    code = (
        "import sys; from mobco2_cli import lazy_pandas; lazy_pandas.install()\n"
        "import pyarrow as pa\n"
        "pa.array([1, 2]); assert 'pandas' not in sys.modules\n"
        "df = pa.table({'a': [1, 2]}).to_pandas(); assert list(df.a) == [1, 2]\n"
        "import pandas as pd\n"
        "assert pa.array(pd.Series([1.5, None])).null_count == 1\n"
        "assert pa.Table.from_pandas(pd.DataFrame({'x': [3]})).column('x').to_pylist() == [3]\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.strip() == "ok", proc.stderr


def test_root_help_does_not_read_package_metadata():
    # importlib.metadata (~40 ms) is loaded for --version only, not for every command's start-up
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(["importlib.metadata"]), "--help"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
    )
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"code": 0, "loaded": []}
