"""What an export reads: the SQL over the store, streamed in Arrow batches, privacy zones applied.

Every renderer (:mod:`~mobco2.export.csvout`, :mod:`~mobco2.export.gpxout`,
:mod:`~mobco2.export.geo`) consumes :func:`export_batches`, so the columns, the emission method
columns and the privacy rules are the same in every format.

- **Emission columns.** Trip and leg rows carry ``co2e_kg``, ``baseline_co2e_kg``,
  ``saved_co2e_kg`` (``baseline − actual`` where positive, DESIGN §5), ``mode_source`` (a trip's is
  that of its longest leg), and the method the stored legs were computed with: ``factor_set_id``,
  ``factor_set_version`` and ``scope`` (from settings, which ``mobco2 segment`` keeps the stored
  legs in step with). Trips also get ``start_lat/lon`` and ``end_lat/lon`` from their first and
  last legs.
- **Paths.** With ``with_paths``, each leg row gets ``path``: the store's points from the leg's
  start to its finish, in time order; each trip row gets ``legs_path``: its legs (id, mode, path)
  in order.
- **Privacy zones** (:mod:`mobco2.privacy`) are applied here, never to the store: a point or stay
  inside a ``drop`` zone is removed, a trip/leg end inside one is blanked, and a path loses its
  points there (the renderers cut the line where it enters the zone); inside a ``blur`` zone the
  coordinates are replaced by the zone's blurred point.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import UsageError
from mobco2.privacy import Zone, apply

TABLES = ("points", "stays", "trips", "legs")
TIME_COLUMNS = {"points": ("ts",), "stays": ("started_at", "finished_at"), "trips": ("started_at", "finished_at"),
                "legs": ("started_at", "finished_at")}
COORDINATE_PAIRS = {"points": (("lat", "lon"),), "stays": (("lat", "lon"),),
                    "trips": (("start_lat", "start_lon"), ("end_lat", "end_lon")),
                    "legs": (("start_lat", "start_lon"), ("end_lat", "end_lon"))}
BATCH_ROWS = {"points": 65_536, "stays": 65_536, "trips": 2_048, "legs": 4_096}
"""Rows per streamed batch: trips and legs carry their whole path, so fewer of them at a time."""


@dataclass(frozen=True)
class Method:
    """The emission method echoed in trip and leg rows."""

    factor_set_id: str
    factor_set_version: str
    scope: str


def configured_method() -> Method:
    """The factor set and scope from settings (what ``mobco2 segment`` stored legs with)."""
    from mobco2.emissions.factors import load_factor_set
    from mobco2.emissions.profile import method_from_config

    m = method_from_config()
    fs = load_factor_set(m["factors"])
    return Method(str(fs.id), str(fs.version), str(m["scope"]))


@dataclass(frozen=True)
class Selection:
    """Which rows an export holds (days are UTC, inclusive, on the row's start time)."""

    user_id: str | None = None
    since: date | None = None
    until: date | None = None
    mode: str | None = None


def _where(table: str, sel: Selection, alias: str) -> tuple[str, list[object]]:
    tcol = f"{alias}.{TIME_COLUMNS[table][0]}"
    where, params = ["true"], []
    if sel.user_id:
        where.append(f"{alias}.user_id = ?")
        params.append(sel.user_id)
    if sel.since:
        where.append(f"{tcol} >= ?::TIMESTAMPTZ")
        params.append(sel.since.isoformat())
    if sel.until:
        where.append(f"{tcol} < (?::DATE + INTERVAL 1 DAY)::TIMESTAMPTZ")
        params.append(sel.until.isoformat())
    if sel.mode:
        if table not in ("trips", "legs"):
            raise UsageError("--mode applies to trips and legs only")
        where.append(f"{alias}.{'main_mode' if table == 'trips' else 'mode'} = ?")
        params.append(sel.mode)
    return " AND ".join(where), params


def _path_sql(legs_rel: str, part: Partition | None) -> str:
    """Each leg of ``legs_rel`` (user_id, leg_id, started_at, finished_at) with its points' path.

    With a partition, only the points of its month and the next are read (a trip starting in the
    month may end in the next one)."""
    near = ""
    if part is not None:
        ny, nm = (part.year + 1, 1) if part.month == 12 else (part.year, part.month + 1)
        near = (f" AND p.user_id = '{_sql_text(part.user_id)}' AND ((p.year = {part.year} AND p.month = {part.month})"
                f" OR (p.year = {ny} AND p.month = {nm}))")
    return f"""
        SELECT s.user_id, s.leg_id,
               list(struct_pack(lat := p.lat, lon := p.lon, ts := p.ts) ORDER BY p.ts, p.lat, p.lon) AS path
        FROM {legs_rel} s JOIN points p
          ON p.user_id = s.user_id AND p.ts >= s.started_at AND p.ts <= s.finished_at{near}
        GROUP BY s.user_id, s.leg_id"""


@dataclass(frozen=True)
class Partition:
    """One user's UTC month of a table: exports run partition by partition, so that DuckDB sorts
    and joins a month at a time (bounded memory however large the store)."""

    user_id: str
    year: int
    month: int


def partitions(con: Any, table: str, sel: Selection) -> list[Partition]:
    """The (user, year, month) partitions of ``table`` the selection may touch, in export order."""
    where, params = _where(table, sel, "x")
    rows = con.execute(
        f"SELECT DISTINCT user_id, year, month FROM {table} x WHERE {where} "
        "ORDER BY user_id, year = 0, year, month", params
    ).fetchall()
    return [Partition(u, int(y), int(m)) for u, y, m in rows]


def export_sql(
    table: str, sel: Selection, method: Method | None, with_paths: bool, part: Partition | None = None,
) -> tuple[str, list[object]]:
    """The SQL (and parameters) of an export of ``table`` (one partition of it, when given): raw
    timestamps, unrounded numbers."""
    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}", hint="use one of: " + ", ".join(TABLES))
    where, params = _where(table, sel, "x")
    if part is not None:
        where += f" AND x.user_id = ? AND x.year = {part.year} AND x.month = {part.month}"
        params.append(part.user_id)
    tcol = TIME_COLUMNS[table][0]
    order = f"ORDER BY user_id, {tcol}" + {"points": ", lat, lon", "stays": ", stay_id", "trips": ", trip_id",
                                           "legs": ", leg_id"}[table]
    if table in ("points", "stays"):
        return f"SELECT * EXCLUDE (year, month) FROM {table} x WHERE {where} {order}", params
    assert method is not None
    consts = (f"'{_sql_text(method.factor_set_id)}' AS factor_set_id, "
              f"'{_sql_text(method.factor_set_version)}' AS factor_set_version, '{_sql_text(method.scope)}' AS scope")
    if table == "legs":
        base = f"""
            SELECT x.* EXCLUDE (year, month, tz, factor_id),
                   CASE WHEN x.co2e_kg IS NOT NULL
                        THEN greatest(x.baseline_co2e_kg - x.co2e_kg, 0.0) END AS saved_co2e_kg,
                   x.factor_id, {consts}, x.tz
            FROM legs x WHERE {where}"""
        if not with_paths:
            return f"SELECT * FROM ({base}) {order}", params
        return f"""
            WITH sel AS ({base}), paths AS ({_path_sql("sel", part)})
            SELECT sel.*, paths.path FROM sel LEFT JOIN paths USING (user_id, leg_id) {order}""", params
    legs_of = "SELECT l.* FROM legs l SEMI JOIN sel ON l.user_id = sel.user_id AND l.trip_id = sel.trip_id"
    agg = """
        SELECT user_id, trip_id,
               sum(baseline_co2e_kg) AS baseline_co2e_kg,
               sum(CASE WHEN co2e_kg IS NOT NULL THEN greatest(baseline_co2e_kg - co2e_kg, 0.0) END) AS saved_co2e_kg,
               arg_max(mode_source, distance_m) AS mode_source,
               arg_min(start_lat, started_at) AS start_lat, arg_min(start_lon, started_at) AS start_lon,
               arg_max(end_lat, finished_at) AS end_lat, arg_max(end_lon, finished_at) AS end_lon
        FROM tl GROUP BY user_id, trip_id"""
    paths = ""
    path_col = ""
    if with_paths:
        paths = f""", lp AS ({_path_sql("tl", part)}),
            tp AS (SELECT tl.user_id, tl.trip_id,
                          list(struct_pack(leg_id := tl.leg_id, mode := tl.mode, path := lp.path)
                               ORDER BY tl.started_at, tl.leg_id) AS legs_path
                   FROM tl LEFT JOIN lp USING (user_id, leg_id) GROUP BY tl.user_id, tl.trip_id)"""
        path_col = ", tp.legs_path"
    sql = f"""
        WITH sel AS (SELECT x.* EXCLUDE (year, month) FROM trips x WHERE {where}),
             tl AS ({legs_of}), agg AS ({agg}){paths}
        SELECT sel.* EXCLUDE (co2e_kg, tz),
               agg.start_lat, agg.start_lon, agg.end_lat, agg.end_lon,
               sel.co2e_kg, agg.baseline_co2e_kg, agg.saved_co2e_kg, agg.mode_source, {consts},
               sel.tz{path_col}
        FROM sel LEFT JOIN agg USING (user_id, trip_id)
        {"LEFT JOIN tp USING (user_id, trip_id)" if with_paths else ""}
        {order}"""
    return sql, params


def _sql_text(s: str) -> str:
    return s.replace("'", "''")


class ExportStream:
    """``table``'s export rows as a stream of Arrow batches, privacy zones applied (module
    docstring); ``schema`` is known before the first batch (a header for an empty export)."""

    def __init__(
        self, con: Any, table: str, sel: Selection, zones: Sequence[Zone], *, with_paths: bool = False,
        method: Method | None = None, mark_cuts: bool = False,
    ) -> None:
        if table in ("trips", "legs") and method is None:
            method = configured_method()
        self.con, self.sel, self.method, self.with_paths = con, sel, method, with_paths
        self.table = table
        self.zones = tuple(zones)
        self.mark_cuts = mark_cuts and table == "points"
        self.parts = partitions(con, table, sel)
        sql, params = export_sql(table, sel, method, with_paths)
        empty = con.sql(f"SELECT * FROM ({sql}) LIMIT 0", params=params or None)
        self.schema: pa.Schema = empty.to_arrow_table().schema

    def _batches(self) -> Iterator[pa.RecordBatch]:
        for part in self.parts:
            sql, params = export_sql(self.table, self.sel, self.method, self.with_paths, part)
            yield from self.con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS[self.table])

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        dropped_before = False  # a point was dropped since the last one kept (across batches)
        for batch in self._batches():
            if not batch.num_rows:
                continue
            if self.mark_cuts:
                batch, dropped_before = self._with_cuts(batch, dropped_before)
            out = hide(batch, self.table, self.zones)
            if out.num_rows:
                yield out

    def _with_cuts(self, batch: pa.RecordBatch, dropped_before: bool) -> tuple[pa.RecordBatch, bool]:
        """Add ``cut_before``: True on a kept point that follows dropped ones (a track is cut there)."""
        lat = batch.column("lat").to_numpy(zero_copy_only=False)
        lon = batch.column("lon").to_numpy(zero_copy_only=False)
        keep = apply(lat, lon, self.zones)[0] if self.zones else np.ones(len(lat), dtype=bool)
        kept_so_far = np.cumsum(keep)
        dropped = ~keep
        # number of the last kept point before each dropped point; a kept point is cut when a
        # dropped point sits between it and the previous kept one
        last_drop_group = np.maximum.accumulate(np.where(dropped, kept_so_far + 1, 0))
        cut = keep & (last_drop_group == kept_so_far)
        if dropped_before and keep.any():
            cut[int(np.argmax(keep))] = True
        tail_dropped = bool(dropped[-1]) or (dropped_before and not keep.any())
        return batch.append_column("cut_before", pa.array(cut)), tail_dropped


def hide(batch: pa.RecordBatch, table: str, zones: Sequence[Zone]) -> pa.RecordBatch:
    """``batch`` with privacy zones applied to its coordinates and paths (module docstring)."""
    if not zones:
        return batch
    cols = {name: batch.column(name) for name in batch.schema.names}
    keep_rows = np.ones(batch.num_rows, dtype=bool)
    for lat_name, lon_name in COORDINATE_PAIRS[table]:
        lat = _rounded(cols[lat_name])
        lon = _rounded(cols[lon_name])
        keep, lat2, lon2 = apply(lat, lon, zones)
        if table in ("points", "stays"):
            keep_rows &= keep
        gone = ~keep | np.isnan(lat)
        cols[lat_name] = pa.array(lat2, mask=gone, type=pa.float64())
        cols[lon_name] = pa.array(lon2, mask=gone, type=pa.float64())
    if "path" in cols:
        cols["path"] = _hide_path(cols["path"], zones)
    if "legs_path" in cols:
        cols["legs_path"] = _hide_legs_path(cols["legs_path"], zones)
    out = pa.RecordBatch.from_arrays(list(cols.values()), names=list(cols))
    if not keep_rows.all():
        out = out.filter(pa.array(keep_rows))
    return out


def _rounded(values: pa.Array) -> np.ndarray:
    """Coordinates rounded to the 1e-7° every export writes, so that zones are tested on exactly
    the values that leave the store (a point 5 mm outside a zone cannot round into it)."""
    return np.round(values.to_numpy(zero_copy_only=False).astype(np.float64), 7)


def _hide_path(path: pa.Array, zones: Sequence[Zone]) -> pa.Array:
    """A list<struct<lat, lon, ts>> column with dropped points marked by a null lat/lon, blurred
    points moved. Dropped points stay as null markers so a renderer knows where to cut the line."""
    if isinstance(path, pa.ChunkedArray):
        path = path.combine_chunks()
    flat = pc.list_flatten(path)
    if len(flat) == 0:
        return path
    keep, lat2, lon2 = apply(_rounded(flat.field("lat")), _rounded(flat.field("lon")), zones)
    structs = pa.StructArray.from_arrays(
        [pa.array(lat2, mask=~keep), pa.array(lon2, mask=~keep), flat.field("ts")], names=["lat", "lon", "ts"]
    )
    return _relist(path, structs)


def _hide_legs_path(legs_path: pa.Array, zones: Sequence[Zone]) -> pa.Array:
    if isinstance(legs_path, pa.ChunkedArray):
        legs_path = legs_path.combine_chunks()
    legs = pc.list_flatten(legs_path)
    if len(legs) == 0:
        return legs_path
    hidden = _hide_path(legs.field("path"), zones)
    structs = pa.StructArray.from_arrays([legs.field("leg_id"), legs.field("mode"), hidden],
                                         names=["leg_id", "mode", "path"])
    return _relist(legs_path, structs)


def _relist(lists: pa.ListArray, values: pa.Array) -> pa.ListArray:
    """``lists`` with its flattened values replaced by ``values`` (same length)."""
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.ListArray.from_arrays(offsets, values, mask=lists.is_null())


@dataclass
class FlatPaths:
    """A batch's paths as flat numpy arrays: row ``i`` owns ``[offsets[i], offsets[i+1])``;
    a dropped point has NaN coordinates; ``ts_us`` is microseconds since the epoch (UTC)."""

    offsets: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    ts_us: np.ndarray

    @classmethod
    def of(cls, path: pa.Array) -> FlatPaths:
        if isinstance(path, pa.ChunkedArray):
            path = path.combine_chunks()
        offsets = pc.subtract(path.offsets, path.offsets[0]).to_numpy()
        flat = pc.list_flatten(path)
        lat = flat.field("lat").to_numpy(zero_copy_only=False).astype(np.float64)
        lon = flat.field("lon").to_numpy(zero_copy_only=False).astype(np.float64)
        ts = flat.field("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
        return cls(offsets, lat, lon, ts)

    def pieces(self, i: int) -> list[tuple[int, int]]:
        """Row ``i``'s path cut into the ``(start, end)`` runs of points that remain: a line is cut
        where it enters a drop zone."""
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        if hi <= lo:
            return []
        ok = ~np.isnan(self.lat[lo:hi])
        if ok.all():
            return [(lo, hi)]
        edges = np.flatnonzero(np.diff(np.concatenate(([False], ok, [False])).astype(np.int8)))
        return [(lo + int(a), lo + int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def iso_utc(ts_us: np.ndarray, fraction: bool) -> np.ndarray:
    """ISO 8601 UTC strings (``…Z``) of microsecond epoch times, vectorised."""
    return np.char.add(np.datetime_as_string(ts_us.astype("datetime64[us]"), unit="us" if fraction else "s"), "Z")
