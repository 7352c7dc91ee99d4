"""`trips list` and `trips show` as a new user meets them: ids with or without prefix, 80 columns."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from mobco2.demo import sample_files
from mobco2_cli.main import app


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("trips") / "store"
    runner = CliRunner()
    res = runner.invoke(app, ["--store", str(root), "import", *map(str, sample_files()), "--user", "demo"])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["--store", str(root), "segment"]).exit_code == 0
    return root


def run(store_path, *args, columns: str = "80"):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(store_path), *args], env={"COLUMNS": columns})


def _trip_ids(store_path) -> list[str]:
    res = run(store_path, "trips", "list", "--json")
    return [r["trip_id"] for r in json.loads(res.stdout)["rows"]]


def test_trips_list_and_show_fit_80_columns(store_path):
    listing = run(store_path, "trips", "list")
    assert listing.exit_code == 0, listing.output
    lines = listing.stdout.splitlines()
    assert len(lines) > 30 and max(map(len, lines)) <= 80
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", listing.stdout)  # local start to the minute
    shown = run(store_path, "trips", "show", _trip_ids(store_path)[0])
    assert shown.exit_code == 0, shown.output
    assert max(map(len, shown.stdout.splitlines())) <= 80
    assert "mode_source" in shown.stdout


def test_wide_shows_every_column(store_path):
    res = run(store_path, "trips", "list", "--wide")
    assert res.exit_code == 0
    assert "origin_stay_id" in res.stdout and max(map(len, res.stdout.splitlines())) > 80


def test_ids_work_with_or_without_their_prefix(store_path):
    trip_id = _trip_ids(store_path)[0]
    assert trip_id.startswith("t_")
    bare = run(store_path, "trips", "show", trip_id[2:], "--json")
    full = run(store_path, "trips", "show", trip_id, "--json")
    assert bare.exit_code == full.exit_code == 0, bare.output
    assert json.loads(bare.stdout) == json.loads(full.stdout)
    assert json.loads(bare.stdout)["rows"][0]["trip_id"] == trip_id
    leg_id = json.loads(full.stdout)["rows"][0]["legs"][0]["leg_id"]
    labelled = run(store_path, "trips", "label", leg_id[2:], "--purpose", "work", "--json")
    assert labelled.exit_code == 0, labelled.output
    assert json.loads(labelled.stdout)["rows"][0]["target"] == "leg"


def test_the_help_example_of_trips_show_is_a_bare_id(store_path):
    res = run(store_path, "trips", "show", "--help")
    example = re.search(r"Example:\s+mobco2 trips show (\S+)", res.stdout)
    assert example is not None and not example.group(1).startswith("t_")
    missing = run(store_path, "trips", "show", example.group(1))
    assert missing.exit_code == 66 and "no trip 't_" in missing.output  # read with its prefix
