"""Days known only from a source's own segments (Google semantic history) still give trips and
legs with the source's modes and distances; real files, parsed by the real parser module."""

from __future__ import annotations

import importlib

import numpy as np
import pyarrow as pa
import pytest

from mobco2.ingest.base import ParseContext, Source
from mobco2.schema import POINTS, SOURCE_SEGMENTS, conform
from mobco2.segment import segment_points


def parse_real(path, module: str, user: str = "me") -> tuple[pa.Table, pa.Table | None]:
    """Points and source segments of a real sample, through the format module's ``parse``."""
    mod = importlib.import_module(f"mobco2.ingest.{module}")
    batches = list(mod.parse(Source.from_path(path), ParseContext(str(path))))

    def gather(name, schema):
        parts = [getattr(b, name) for b in batches if getattr(b, name) is not None and getattr(b, name).num_rows]
        if not parts:
            return None
        table = pa.concat_tables([p.select([c for c in p.column_names if c != "record"]) for p in parts],
                                 promote_options="permissive")
        n = table.num_rows
        for col, value in (("user_id", user), ("import_id", "test"), ("source_format", module)):
            if col in schema.names and col not in table.column_names:
                table = table.append_column(col, pa.array([value] * n, pa.string()))
        return conform(table, schema)

    points = gather("points", POINTS)
    return (points if points is not None else POINTS.empty_table()), gather("source_segments", SOURCE_SEGMENTS)


@pytest.fixture(scope="module")
def semantic(samples):
    return samples / "google-semantic"


def test_a_day_with_only_semantic_segments_gives_trips_and_legs(semantic):
    _, segs = parse_real(semantic / "dawarich_semantic_history.json", "google_semantic")
    res = segment_points(POINTS.empty_table(), segs, user_id="me")
    legs = res.legs.to_pandas()
    assert res.trips.num_rows == 1
    assert legs["mode"].tolist() == ["walk", "car", "walk"]
    assert set(legs.mode_source) == {"source"}
    # the source's own distances, not straight lines between the ends
    seg = segs.to_pandas().sort_values("started_at")
    assert np.allclose(legs.distance_m.to_numpy(), seg.distance_m.to_numpy())
    trip = res.trips.to_pandas().iloc[0]
    assert trip.main_mode == "car" and trip.distance_m == pytest.approx(seg.distance_m.sum())


def test_a_month_of_semantic_history_with_its_raw_path_points(semantic):
    points, segs = parse_real(semantic / "gpsbabel_2013_MAY.json", "google_semantic")
    res = segment_points(points, segs, user_id="me")
    legs = res.legs.to_pandas()
    trips = res.trips.to_pandas()
    # segments whose ends are unknown are not invented; every other segment's time is in a leg
    known = segs.to_pandas().dropna(subset=["start_lat", "end_lat"])
    known = known[known["mode"] != "unknown"]
    assert len(trips) >= 20 and len(legs) >= len(trips)
    covered = 0
    for s, e in zip(known.started_at, known.finished_at, strict=True):
        covered += ((legs.started_at < e) & (legs.finished_at > s)).any()
    assert covered / len(known) >= 0.9
    assert {"walk", "bike", "car"} <= set(legs["mode"])
    assert (legs.mode_source.isin(["source", "inferred"])).all()
    assert (trips.distance_m > 0).all()
