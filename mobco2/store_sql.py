"""``mobco2 sql``: one user-written SELECT over the store's views, confined to the store.

The query runs on an in-memory connection of its own. The catalog is attached just long enough
to list the Parquet files and copy the two catalog tables users may read (``imports``,
``labels``); then DuckDB's file system access is limited to the Parquet tables' folders,
extensions cannot load, and the configuration is locked, so ``read_csv('/etc/passwd')``,
``glob``, ``attach``, ``copy`` and ``install`` are refused, as is anything that would write.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from mobco2 import schema
from mobco2.errors import UsageError
from mobco2.store import VIEWS

if TYPE_CHECKING:
    from mobco2.store import Store


def run_user_query(store: Store, query: str) -> pa.Table:
    """The result of ``query`` (one SELECT or EXPLAIN) over ``store``'s views; UsageError (exit 2) else."""
    if store._writer is not None:
        raise RuntimeError("Store.sql runs user queries on a connection of its own, not inside a writer")
    store._ensure()
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        with store._locked(exclusive=False):
            # The catalog is attached only long enough to list the Parquet files and copy the
            # two catalog tables users may read; the query sees nothing else of it.
            path = str(store.catalog_path).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS store_catalog (READ_ONLY)")
            con.execute("USE store_catalog")
            store._refresh_views(con)
            for table in ("imports", "labels"):
                con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM store_catalog.{table}")
            con.execute("USE memory")
            con.execute("DETACH store_catalog")
        _confine(con, [store.root / t for t in schema.PARQUET_TABLES])
        return _user_select(con, query)
    finally:
        con.close()


def _confine(con: duckdb.DuckDBPyConnection, folders: list[Path]) -> None:
    """No file outside ``folders``, no extension, no setting change for the rest of ``con``'s life."""
    listing = ", ".join("'" + (str(f) + os.sep).replace("'", "''") + "'" for f in folders)
    con.execute(f"SET allowed_directories = [{listing}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")


def _user_select(con: duckdb.DuckDBPyConnection, query: str) -> pa.Table:
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as e:
        raise UsageError(f"SQL error: {_first_line(e)}", hint="check the query") from None
    allowed = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
    if len(statements) != 1 or statements[0].type not in allowed:
        raise UsageError(
            "only one read-only SELECT query is allowed",
            hint="the store changes only through mobco2 commands",
        )
    try:
        return con.sql(query).to_arrow_table()
    except duckdb.PermissionException:
        raise UsageError(
            "the query reads outside the store", hint="mobco2 sql reads only the store's tables: " + ", ".join(VIEWS)
        ) from None
    except duckdb.Error as e:
        raise UsageError(f"SQL error: {_first_line(e)}", hint="tables: " + ", ".join(VIEWS)) from None


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
