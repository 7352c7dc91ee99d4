"""Explicit maps from every source's mode vocabulary onto :class:`mobco2.schema.Mode`.

Nothing is dropped silently: :func:`map_mode` returns ``unknown`` for a value it does not know
and the parser counts it (``ParseContext.unmapped``) so the import summary shows it.
Values that mean "not moving" or "no idea" (``STILL``, ``TILTING``, ``NONE``) map to ``None``:
they are not modes of travel, so they are not hints.

Sources: ``../shared/reference/input-formats.md`` §1, §2.7 and ``coachco2-emission.md`` §1.3, §2.3.
"""

from __future__ import annotations

from collections.abc import Mapping

from mobco2.schema import Mode

NOT_A_MODE = None

# Google Takeout Records.json per-sample activity (Android Activity Recognition).
GOOGLE_RECORDS: Mapping[str, Mode | None] = {
    "IN_VEHICLE": Mode.CAR,
    "IN_ROAD_VEHICLE": Mode.CAR,
    "IN_CAR": Mode.CAR,
    "IN_FOUR_WHEELER_VEHICLE": Mode.CAR,
    "IN_TWO_WHEELER_VEHICLE": Mode.MOTO,
    "IN_BUS": Mode.BUS,
    "IN_RAIL_VEHICLE": Mode.TRAIN,
    "EXITING_VEHICLE": Mode.CAR,
    "ON_BICYCLE": Mode.BIKE,
    "ON_FOOT": Mode.WALK,
    "WALKING": Mode.WALK,
    "RUNNING": Mode.RUN,
    "STILL": NOT_A_MODE,
    "TILTING": NOT_A_MODE,
    "UNKNOWN": NOT_A_MODE,
}

# Google Semantic Location History and on-device Timeline activity types (38 values).
GOOGLE_SEMANTIC: Mapping[str, Mode | None] = {
    "IN_PASSENGER_VEHICLE": Mode.CAR,
    "IN_VEHICLE": Mode.CAR,
    "IN_ROAD_VEHICLE": Mode.CAR,
    "IN_TAXI": Mode.CAR,
    "DRIVING": Mode.CAR,
    "MOTORCYCLING": Mode.MOTO,
    "IN_BUS": Mode.BUS,
    "IN_TRAIN": Mode.TRAIN,
    "IN_RAIL_VEHICLE": Mode.TRAIN,
    "IN_SUBWAY": Mode.METRO,
    "IN_TRAM": Mode.TRAM,
    "IN_FERRY": Mode.FERRY,
    "IN_CABLECAR": Mode.OTHER,
    "IN_FUNICULAR": Mode.OTHER,
    "IN_GONDOLA_LIFT": Mode.OTHER,
    "FLYING": Mode.PLANE,
    "BOATING": Mode.FERRY,
    "SAILING": Mode.OTHER,
    "KAYAKING": Mode.OTHER,
    "ROWING": Mode.OTHER,
    "KITESURFING": Mode.OTHER,
    "SURFING": Mode.OTHER,
    "SWIMMING": Mode.OTHER,
    "CYCLING": Mode.BIKE,
    "ON_BICYCLE": Mode.BIKE,
    "WALKING": Mode.WALK,
    "ON_FOOT": Mode.WALK,
    "WALKING_NORDIC": Mode.WALK,
    "HIKING": Mode.WALK,
    "RUNNING": Mode.RUN,
    "IN_WHEELCHAIR": Mode.WALK,
    "HORSEBACK_RIDING": Mode.OTHER,
    "SKIING": Mode.OTHER,
    "SNOWBOARDING": Mode.OTHER,
    "SNOWSHOEING": Mode.WALK,
    "SNOWMOBILE": Mode.OTHER,
    "SLEDDING": Mode.OTHER,
    "SKATING": Mode.OTHER,
    "SKATEBOARDING": Mode.OTHER,
    "PARAGLIDING": Mode.OTHER,
    "CATCHING_POKEMON": Mode.WALK,
    "STILL": NOT_A_MODE,
    "UNKNOWN_ACTIVITY_TYPE": Mode.UNKNOWN,
    "UNKNOWN": Mode.UNKNOWN,
}

# e-mission MotionTypes (sensed, per sample; also section "sensed_mode" in processed trips).
EMISSION_MOTION: Mapping[str, Mode | None] = {
    "IN_VEHICLE": Mode.CAR,
    "BICYCLING": Mode.BIKE,
    "ON_FOOT": Mode.WALK,
    "STILL": NOT_A_MODE,
    "UNKNOWN": Mode.UNKNOWN,
    "TILTING": NOT_A_MODE,
    "WALKING": Mode.WALK,
    "RUNNING": Mode.RUN,
    "NONE": NOT_A_MODE,
    "STOPPED_WHILE_IN_VEHICLE": Mode.CAR,
    "AIR_OR_HSR": Mode.PLANE,  # refined to hsr by speed/path in segmentation
}
EMISSION_MOTION_BY_INT: Mapping[int, str] = {
    0: "IN_VEHICLE",
    1: "BICYCLING",
    2: "ON_FOOT",
    3: "STILL",
    4: "UNKNOWN",
    5: "TILTING",
    7: "WALKING",
    8: "RUNNING",
    9: "NONE",
    10: "STOPPED_WHILE_IN_VEHICLE",
    11: "AIR_OR_HSR",
}

# e-mission PredictedModeTypes (server-inferred sections).
EMISSION_PREDICTED: Mapping[str, Mode | None] = {
    "UNKNOWN": Mode.UNKNOWN,
    "WALKING": Mode.WALK,
    "BICYCLING": Mode.BIKE,
    "BUS": Mode.BUS,
    "TRAIN": Mode.TRAIN,
    "CAR": Mode.CAR,
    "AIR_OR_HSR": Mode.PLANE,
    "SUBWAY": Mode.METRO,
    "TRAM": Mode.TRAM,
    "LIGHT_RAIL": Mode.TRAM,
}
EMISSION_PREDICTED_BY_INT: Mapping[int, str] = {
    0: "UNKNOWN",
    1: "WALKING",
    2: "BICYCLING",
    3: "BUS",
    4: "TRAIN",
    5: "CAR",
    6: "AIR_OR_HSR",
    7: "SUBWAY",
    8: "TRAM",
    9: "LIGHT_RAIL",
}

# e-mission / TraceMob user labels (manual/mode_confirm). Occupancy and energy ride along.
EMISSION_LABEL: Mapping[str, tuple[Mode, int | None, str | None]] = {
    # label: (mode, occupancy, vehicle energy)
    "walk": (Mode.WALK, None, None),
    "run": (Mode.RUN, None, None),
    "bike": (Mode.BIKE, None, None),
    "bikeshare": (Mode.BIKE, None, None),
    "e-bike": (Mode.EBIKE, None, None),
    "e_bike": (Mode.EBIKE, None, None),
    "scootershare": (Mode.ESCOOTER, None, None),
    "e-scooter": (Mode.ESCOOTER, None, None),
    "moped": (Mode.SCOOTER, None, None),
    "motorcycle": (Mode.MOTO, None, None),
    "drove_alone": (Mode.CAR, 1, None),
    "shared_ride": (Mode.CAR, 2, None),
    "e_car_drove_alone": (Mode.CAR, 1, "electric"),
    "e_car_shared_ride": (Mode.CAR, 2, "electric"),
    "hybrid_drove_alone": (Mode.CAR, 1, "hybrid"),
    "hybrid_shared_ride": (Mode.CAR, 2, "hybrid"),
    "taxi": (Mode.CAR, 1, None),
    "carpool": (Mode.CAR, 2, None),
    "bus": (Mode.BUS, None, None),
    "free_shuttle": (Mode.BUS, None, None),
    "train": (Mode.TRAIN, None, None),
    "tram": (Mode.TRAM, None, None),
    "light_rail": (Mode.TRAM, None, None),
    "subway": (Mode.METRO, None, None),
    "air": (Mode.PLANE, None, None),
    "plane": (Mode.PLANE, None, None),
    "ferry": (Mode.FERRY, None, None),
    "boat": (Mode.FERRY, None, None),
    "other": (Mode.OTHER, None, None),
}
EMISSION_NOT_A_TRIP = frozenset({"not_a_trip", "no_travel"})

# Coach CO2 section modes (cozy/coachCO2 src/constants.js), with occupancy and energy.
COACHCO2: Mapping[str, tuple[Mode, int | None, str | None]] = {
    "AIR_OR_HSR": (Mode.PLANE, None, None),
    "BICYCLING": (Mode.BIKE, None, None),
    "BICYCLING_ELECTRIC": (Mode.EBIKE, None, None),
    "BUS": (Mode.BUS, None, "combustion"),
    "BUS_ELECTRIC": (Mode.BUS, None, "electric"),
    "CAR": (Mode.CAR, 1, "combustion"),
    "CAR_ELECTRIC": (Mode.CAR, 1, "electric"),
    "IN_VEHICLE": (Mode.CAR, None, None),
    "CARPOOL": (Mode.CAR, 2, "combustion"),
    "CARPOOL_ELECTRIC": (Mode.CAR, 2, "electric"),
    "MOTO_INF_250": (Mode.MOTO, None, "small"),
    "MOTO_SUP_250": (Mode.MOTO, None, None),
    "SCOOTER_ELECTRIC": (Mode.ESCOOTER, None, None),
    "MOPED": (Mode.SCOOTER, None, None),
    "SUBWAY": (Mode.METRO, None, None),
    "TRAIN": (Mode.TRAIN, None, None),
    "TRAMWAY": (Mode.TRAM, None, None),
    "WALKING": (Mode.WALK, None, None),
    "ON_FOOT": (Mode.WALK, None, None),
    "RUNNING": (Mode.RUN, None, None),
    "UNKNOWN": (Mode.UNKNOWN, None, None),
}

# Overland (iOS) properties.motion values.
OVERLAND_MOTION: Mapping[str, Mode | None] = {
    "driving": Mode.CAR,
    "automotive": Mode.CAR,
    "walking": Mode.WALK,
    "running": Mode.RUN,
    "cycling": Mode.BIKE,
    "stationary": NOT_A_MODE,
}

# Free-text activity types in GPX <type>, TCX Sport, FIT sport, Arc, Strava, Google iOS
# (lower-case with spaces): matched after normalising to upper snake case.
FREE_TEXT: Mapping[str, Mode | None] = {
    **GOOGLE_SEMANTIC,
    **{k: v for k, v in GOOGLE_RECORDS.items() if k not in GOOGLE_SEMANTIC},
    "WALK": Mode.WALK,
    "HIKE": Mode.WALK,
    "RUN": Mode.RUN,
    "BIKE": Mode.BIKE,
    "BIKING": Mode.BIKE,
    "RIDE": Mode.BIKE,
    "CYCLE": Mode.BIKE,
    "E_BIKE": Mode.EBIKE,
    "EBIKE": Mode.EBIKE,
    "EBIKERIDE": Mode.EBIKE,
    "E_BIKE_RIDE": Mode.EBIKE,
    "CAR": Mode.CAR,
    "TAXI": Mode.CAR,  # Arc and other apps write <type>taxi</type>
    "AUTOMOTIVE": Mode.CAR,
    "DRIVE": Mode.CAR,
    "BUS": Mode.BUS,
    "TRAIN": Mode.TRAIN,
    "TRAM": Mode.TRAM,
    "METRO": Mode.METRO,
    "SUBWAY": Mode.METRO,
    "FERRY": Mode.FERRY,
    "BOAT": Mode.FERRY,
    "AIRPLANE": Mode.PLANE,
    "PLANE": Mode.PLANE,
    "MOTORCYCLE": Mode.MOTO,
    "SCOOTER": Mode.SCOOTER,
    "STATIONARY": NOT_A_MODE,
    "GENERIC": Mode.UNKNOWN,
    "OTHER": Mode.OTHER,
    # FIT sport values (Garmin profile) not covered above
    "E_BIKING": Mode.EBIKE,
    "MOUNTAINEERING": Mode.WALK,
    "PADDLING": Mode.OTHER,
    "INLINE_SKATING": Mode.OTHER,
    "CROSS_COUNTRY_SKIING": Mode.OTHER,
    "ALPINE_SKIING": Mode.OTHER,
    "TRANSITION": NOT_A_MODE,  # multisport changeover between two sports
}

_TABLES: dict[str, Mapping[str, Mode | None]] = {
    "google_records": GOOGLE_RECORDS,
    "google_semantic": GOOGLE_SEMANTIC,
    "emission_motion": EMISSION_MOTION,
    "emission_predicted": EMISSION_PREDICTED,
    "overland": OVERLAND_MOTION,
    "free_text": FREE_TEXT,
}


def normalise_key(raw: str) -> str:
    """``"in passenger vehicle"`` → ``"IN_PASSENGER_VEHICLE"``; strips e-mission enum prefixes."""
    text = raw.strip()
    for prefix in ("MotionTypes.", "PredictedModeTypes.", "motiontypes.", "predictedmodetypes."):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.replace("-", "_").replace(" ", "_").upper()


def map_mode(vocabulary: str, raw: str | None) -> tuple[Mode | None, bool]:
    """Map ``raw`` from ``vocabulary`` onto the canonical mode.

    Returns ``(mode, known)``: ``mode`` is ``None`` for "not a mode of travel" (STILL…), and
    ``known`` is False when the value was not in the table (the mode is then ``unknown`` and the
    caller counts it with ``ParseContext.unmapped``).
    """
    if raw is None or raw == "":
        return None, True
    table = _TABLES[vocabulary]
    key = normalise_key(raw) if vocabulary != "overland" else raw.strip().lower()
    if key in table:
        return table[key], True
    return Mode.UNKNOWN, False
