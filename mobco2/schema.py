"""Arrow schemas of every stored table and the canonical mode vocabulary (DESIGN §3, §4).

Units are in column names (``distance_m``, ``co2e_kg``); every time is UTC
``timestamp[us, tz=UTC]``; a local offset, where the source gives one, is kept beside it
in ``tz_offset_min``.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

SCHEMA_VERSION = 1
"""Version of the machine-readable output (``schema_version`` in JSON output)."""


class Mode(StrEnum):
    """Canonical travel modes. Occupancy and energy are properties of a leg, not modes."""

    WALK = "walk"
    RUN = "run"
    BIKE = "bike"
    EBIKE = "ebike"
    ESCOOTER = "escooter"
    SCOOTER = "scooter"
    MOTO = "moto"
    CAR = "car"
    BUS = "bus"
    COACH = "coach"
    TRAM = "tram"
    METRO = "metro"
    TRAIN = "train"
    RER = "rer"
    INTERCITY = "intercity"
    HSR = "hsr"
    PLANE = "plane"
    FERRY = "ferry"
    OTHER = "other"
    UNKNOWN = "unknown"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)

MODE_SOURCES = ("label", "source", "inferred")
"""Which evidence decided a leg's mode, strongest first (DESIGN §3): the user's label, the source's
own mode (a mode the user confirmed in the source app, or the source's sensed or semantic guess),
or inference from the speed profile. Segmentation ranks the source's confirmed mode above its
sensed one (DESIGN §4, :data:`EVIDENCE_PRIORITY`); both are stored as ``source``, and
``segment --explain`` says which."""

EVIDENCE_PRIORITY = ("label", "source (confirmed)", "source (sensed)", "inferred")
"""The priority of evidence for a leg's mode, strongest first (DESIGN §4)."""

TS = pa.timestamp("us", tz="UTC")

POINTS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("ts", TS),  # null for GPX points without <time>: geometry only
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("accuracy_m", pa.float32()),
        pa.field("altitude_m", pa.float32()),
        pa.field("speed_mps", pa.float32()),
        pa.field("heading_deg", pa.float32()),
        pa.field("tz_offset_min", pa.int16()),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("import_id", pa.string(), nullable=False),
        pa.field("mode_hint", pa.string()),
        pa.field("mode_hint_conf", pa.float32()),
        pa.field("segment_start", pa.bool_()),  # first point of a source track segment
    ]
)

SOURCE_SEGMENTS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("finished_at", TS, nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("raw_mode", pa.string()),
        pa.field("confidence", pa.float32()),
        pa.field("confirmed", pa.bool_()),  # the user confirmed it in the source app
        pa.field("distance_m", pa.float64()),
        pa.field("start_lat", pa.float64()),
        pa.field("start_lon", pa.float64()),
        pa.field("end_lat", pa.float64()),
        pa.field("end_lon", pa.float64()),
        pa.field("tz_offset_min", pa.int16()),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("import_id", pa.string(), nullable=False),
    ]
)

SOURCE_VISITS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("finished_at", TS, nullable=False),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("place_id", pa.string()),
        pa.field("name", pa.string()),
        pa.field("semantic_type", pa.string()),
        pa.field("confidence", pa.float32()),
        pa.field("tz_offset_min", pa.int16()),
        pa.field("origin", pa.string(), nullable=False),
        pa.field("import_id", pa.string(), nullable=False),
    ]
)

LABELS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("started_at", TS),
        pa.field("finished_at", TS),
        pa.field("trip_id", pa.string()),
        pa.field("leg_id", pa.string()),
        pa.field("mode", pa.string()),
        pa.field("raw_mode", pa.string()),
        pa.field("occupancy", pa.int16()),
        pa.field("vehicle", pa.string()),
        pa.field("purpose", pa.string()),
        pa.field("origin", pa.string(), nullable=False),  # "user" or the source format
        pa.field("set_at", TS, nullable=False),
    ]
)

STAYS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("stay_id", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("finished_at", TS, nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("n_points", pa.int32(), nullable=False),
        pa.field("tz", pa.string()),
    ]
)

TRIPS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("trip_id", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("finished_at", TS, nullable=False),
        pa.field("origin_stay_id", pa.string()),
        pa.field("dest_stay_id", pa.string()),
        pa.field("distance_m", pa.float64(), nullable=False),
        pa.field("main_mode", pa.string()),
        pa.field("n_legs", pa.int16()),
        pa.field("purpose", pa.string()),
        pa.field("co2e_kg", pa.float64()),
        pa.field("tz", pa.string()),
    ]
)

LEGS = pa.schema(
    [
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("trip_id", pa.string(), nullable=False),
        pa.field("leg_id", pa.string(), nullable=False),
        pa.field("started_at", TS, nullable=False),
        pa.field("finished_at", TS, nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("mode_source", pa.string(), nullable=False),
        pa.field("mode_conf", pa.float32()),
        pa.field("distance_m", pa.float64(), nullable=False),
        pa.field("occupancy", pa.int16()),  # people in the vehicle, driver included (labels)
        pa.field("vehicle", pa.string()),  # energy/size variant from a label or the profile
        pa.field("n_points", pa.int32()),
        pa.field("speed_median_mps", pa.float32()),
        pa.field("speed_p95_mps", pa.float32()),
        pa.field("start_lat", pa.float64()),
        pa.field("start_lon", pa.float64()),
        pa.field("end_lat", pa.float64()),
        pa.field("end_lon", pa.float64()),
        pa.field("co2e_kg", pa.float64()),
        pa.field("baseline_co2e_kg", pa.float64()),
        pa.field("factor_id", pa.string()),
        pa.field("tz", pa.string()),
    ]
)

PARQUET_TABLES: dict[str, pa.Schema] = {
    "points": POINTS,
    "source_segments": SOURCE_SEGMENTS,
    "source_visits": SOURCE_VISITS,
    "stays": STAYS,
    "trips": TRIPS,
    "legs": LEGS,
}
"""Tables stored as Hive-partitioned Parquet (user_id/year/month) under the store root."""

TIME_COLUMN: dict[str, str] = {
    "points": "ts",
    "source_segments": "started_at",
    "source_visits": "started_at",
    "stays": "started_at",
    "trips": "started_at",
    "legs": "started_at",
}
"""The column whose UTC year and month decide a row's partition."""

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "points": ("user_id", "ts", "lat", "lon"),
    "source_segments": ("user_id", "started_at", "finished_at", "mode", "origin"),
    "source_visits": ("user_id", "started_at", "finished_at", "origin"),
}
"""Rows equal on these columns are duplicates (lat/lon compared at 1e-6°)."""


ID_PREFIXES = {"trip": "t", "leg": "l", "stay": "s"}
"""Stays, trips and legs have ids ``s_…``, ``t_…`` and ``l_…`` (twelve hex digits, maybe ``-2``)."""


def with_prefix(id_text: str, kind: str) -> str:
    """The stored id for what a user typed: ``3f9c2a1b7e4d`` and ``t_3f9c2a1b7e4d`` name one trip.

    ``kind`` is ``"trip"``, ``"leg"`` or ``"stay"``. Surrounding blanks are ignored.
    """
    text = id_text.strip()
    prefix = ID_PREFIXES[kind] + "_"
    return text if text.startswith(prefix) else prefix + text


def empty_table(schema: pa.Schema) -> pa.Table:
    """An empty table of ``schema``."""
    return schema.empty_table()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast ``table`` to ``schema``: missing nullable columns become nulls, order is fixed.

    Raises ``ValueError`` if a non-nullable column is missing.
    """
    arrays = []
    n = table.num_rows
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            arrays.append(col)
        elif field.nullable:
            arrays.append(pa.nulls(n, field.type))
        else:
            raise ValueError(f"column {field.name!r} is required")
    return pa.Table.from_arrays(arrays, schema=schema)
