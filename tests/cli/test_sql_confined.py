"""`mobco2 sql` reads the store's tables and nothing else on the machine (issue: it read /etc/passwd)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mobco2.demo import sample_files
from mobco2_cli.main import app


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sql") / "store"
    res = CliRunner().invoke(app, ["--store", str(root), "import", str(sample_files()[0]), "--user", "me"])
    assert res.exit_code == 0, res.output
    return root


def sql(store_path: Path, query: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(store_path), "sql", query, "--csv"])


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A readable file beside the store, in every format the escapes try."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.csv").write_text("secret\nhunter2\n")
    import duckdb

    duckdb.sql(f"copy (select 'hunter2' as secret) to '{folder / 'secret.parquet'}'")
    return folder


ESCAPES = [
    "select * from read_csv('{o}/secret.csv')",
    "select * from read_csv_auto('{o}/secret.csv')",
    "select * from read_text('{o}/secret.csv')",
    "select * from read_blob('{o}/secret.csv')",
    "select * from read_parquet('{o}/secret.parquet')",
    "select * from '{o}/secret.parquet'",
    "select * from glob('{o}/*')",
    "select * from read_text('{store}/catalog.duckdb')",
    "select * from settings",
    "select * from parquet_files",
    "attach '{o}/other.duckdb' as other",
    "copy points to '{o}/points.csv'",
    "copy (select 1) to '{o}/one.csv'",
    "install httpfs",
    "load httpfs",
    "set enable_external_access = true",
    "select 1; select * from read_csv('{o}/secret.csv')",
    "select count(*) from points; select 2",
    "create table t as select 1",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_every_escape_is_refused_in_one_line(store_path: Path, outside: Path, template: str) -> None:
    res = sql(store_path, template.format(o=outside, store=store_path))
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "hunter2" not in res.output
    assert not (outside / "points.csv").exists() and not (outside / "one.csv").exists()


def test_queries_over_the_store_still_work(store_path: Path) -> None:
    res = sql(store_path, "select count(*) as n from points")
    assert res.exit_code == 0, res.output
    n = int(res.output.splitlines()[1])
    assert n > 1000
    joined = "select count(*) as n from imports join (select distinct import_id from points) using (import_id)"
    res = sql(store_path, joined)
    assert res.exit_code == 0 and res.output.splitlines()[1] == "1", res.output
    res = sql(store_path, "with x as (select max(ts) as t from points) select count(*) as n from x, labels")
    assert res.exit_code == 0, res.output
