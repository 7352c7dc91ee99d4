"""What every command shares: global state, the store, output options and rendering."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from mobco2.errors import UsageError

if TYPE_CHECKING:  # the library loads when a command runs, not for --help
    import pyarrow as pa

    from mobco2.store import Store


@dataclass
class State:
    store_path: Path | None = None
    quiet: bool = False
    verbose: bool = False


STATE = State()

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def store() -> Store:
    """The store chosen by ``--store``, else ``MOBCO2_HOME``, else the platform default."""
    from mobco2.store import Store

    return Store(STATE.store_path)


def say(message: str) -> None:
    """Narration on stderr, silenced by --quiet."""
    if not STATE.quiet:
        stderr.print(message, highlight=False)


def show_progress() -> bool:
    return not STATE.quiet and sys.stderr.isatty()


JsonOpt = Annotated[bool, typer.Option("--json", help="Output one JSON document.")]
JsonlOpt = Annotated[bool, typer.Option("--jsonl", help="Output one JSON object per line.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Output CSV with a header row.")]


def output_format(json_: bool, jsonl: bool, csv_: bool) -> str:
    chosen = [n for n, v in (("json", json_), ("jsonl", jsonl), ("csv", csv_)) if v]
    if len(chosen) > 1:
        raise UsageError("use just one of --json, --jsonl or --csv")
    return chosen[0] if chosen else "table"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _is_arrow(data: object) -> bool:
    return type(data).__module__.startswith("pyarrow")


def rows_of(data: pa.Table | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if _is_arrow(data):
        return data.to_pylist()
    return [dict(r) for r in data]


def render(
    data: pa.Table | Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    meta: Mapping[str, Any] | None = None,
    title: str | None = None,
    out: io.TextIOBase | None = None,
    wide: bool = False,
) -> None:
    """Write rows to stdout as a table, JSON, JSON lines or CSV.

    A table fits :func:`table_width` (``$COLUMNS``, the terminal, or 80 columns off a terminal):
    columns that do not fit are left out from the right and named on stderr, unless ``wide``.

    JSON carries ``schema_version`` and ``meta`` (factor set, scope, units…) beside ``rows``;
    each JSON line carries ``schema_version`` too.
    """
    from mobco2.schema import SCHEMA_VERSION

    rows = rows_of(data)
    columns = list(data.column_names) if _is_arrow(data) else _columns(rows)
    meta = dict(meta or {})
    target = out or sys.stdout
    if fmt == "json":
        doc = {"schema_version": SCHEMA_VERSION, **_plain(meta), "rows": [_plain(r) for r in rows]}
        target.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "jsonl":
        for r in rows:
            target.write(json.dumps({"schema_version": SCHEMA_VERSION, **_plain(r)}, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        w = csv.writer(target, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else _plain(r.get(c)) for c in columns])
    else:
        console = stdout if out is None else Console(file=out, soft_wrap=True)
        width = table_width(console)
        shown = columns
        table = _table(rows, shown, title)
        natural = _natural_width(console, table)
        if natural > width and wide:
            width = natural
        if natural > width and not wide:  # columns with nothing in them go first
            shown = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)] or columns[:1]
            table = _table(rows, shown, title)
            natural = _natural_width(console, table)
        while natural > width and len(shown) > 1:  # then from the right: the first columns matter most
            shown = shown[:-1]
            table = _table(rows, shown, title)
            natural = _natural_width(console, table)
        console = Console(file=console.file, soft_wrap=True, width=max(width, natural), no_color=console.no_color,
                          force_terminal=console.is_terminal)
        console.print(table)
        if meta:
            console.print("  ".join(f"{k}: {v}" for k, v in meta.items()), style="dim", highlight=False)
        hidden = [c for c in columns if c not in shown]
        if hidden:
            say(f"{len(hidden)} column{'s' if len(hidden) != 1 else ''} not shown at {width} columns "
                f"({', '.join(hidden)}): --wide shows every column, --csv or --json every value")


WideOpt = Annotated[bool, typer.Option("--wide", help="Show every column, however wide the table gets.")]


def table_width(console: Console | None = None) -> int:
    """Columns a table may use: ``$COLUMNS`` when set, else the terminal's width, else 80."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) >= 20:
        return int(env)
    console = console or stdout
    return console.width if console.is_terminal else 80


def _table(rows: list[dict[str, Any]], columns: list[str], title: str | None) -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    cells = [_column_cells(c, [r.get(c) for r in rows]) for c in columns]
    for c, (_, numeric) in zip(columns, cells, strict=True):
        table.add_column(c, overflow="fold", justify="right" if numeric else "left")
    for i in range(len(rows)):
        table.add_row(*[col[i] for col, _ in cells])
    return table


def _natural_width(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update(max_width=_WIDEST), table).maximum


_WIDEST = 1000
"""Widest table measured (columns)."""

DECIMALS = {"_kg": 3, "_km": 1, "_m": 0, "_s": 0, "_mps": 1, "_deg": 1, "_pct": 1, "_share": 3, "_conf": 2}
"""Decimals of a number column, by the unit its name ends in (``co2e_kg`` → grams): one format per
column, whatever the values of the day."""
_COORDINATES = {"lat": 6, "lon": 6, "start_lat": 6, "start_lon": 6, "end_lat": 6, "end_lon": 6}


def format_value(name: str, value: Any) -> str:
    """One value as a table shows it in column ``name`` (its unit's decimals, thousands separators)."""
    places = column_decimals(name)
    if isinstance(value, float) and places is not None:
        return _number(value, places)
    return _cell(value)


def column_decimals(name: str) -> int | None:
    """The fixed number of decimals of column ``name``, or None when its unit does not say."""
    if name in _COORDINATES:
        return _COORDINATES[name]
    for suffix, places in DECIMALS.items():
        if name.endswith(suffix) or name == suffix[1:]:
            return places
    return None


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def _column_cells(name: str, values: list[Any]) -> tuple[list[str], bool]:
    """A table column's texts, and whether it is numeric (then right-aligned).

    A column whose name carries a unit gets that unit's decimals (:func:`column_decimals`); other
    numbers in a column that holds fractions all get the same number of decimals (the most any of
    them needs, at most 3), so that they line up.
    """
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    places = column_decimals(name) if numeric else None
    if places is not None and any(isinstance(v, float) for v in present):
        return [_number(v, places) for v in values], True
    if not numeric or not any(isinstance(v, float) for v in present):
        return [_cell(v) for v in values], numeric
    finite = [v for v in present if math.isfinite(v) and abs(v) < 1e6]
    places = max((len(f"{v:.3f}".rstrip("0").split(".")[1]) for v in finite), default=0)
    return [_number(v, places) for v in values], True


def _number(value: Any, places: int) -> str:
    if value is None:
        return ""
    if not math.isfinite(value) or abs(value) >= 1e6:
        return _cell(float(value))
    return f"{value:,.{places}f}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)
