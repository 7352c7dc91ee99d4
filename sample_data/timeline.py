"""The demo person's three weeks around La Rochelle: places, routes and the day-by-day timeline.

This is *what the person does*: where they go, by which route and mode, at what local time.
``generate.py`` hands :func:`build_timeline` to :func:`mobco2.simulate.simulate_trajectory` and
then records the motion as the demo files (loggers, GPX, the TraceMob dump, ``ground_truth.json``).
To change the demo data, edit the timeline here and regenerate (see ``README.md``).

Local times are Europe/Paris (:data:`PARIS_TZ`); coordinates are WGS 84 degrees, elevations metres,
speeds km/h in the ``*_KMH`` lists and the rail tables, m/s once they are in a :class:`~mobco2.simulate.Leg`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from mobco2.simulate import Leg, ModeProfile, Place, Stay, Trip

TZ_NAME = "Europe/Paris"
PARIS_TZ = ZoneInfo(TZ_NAME)
FIRST_DAY = date(2025, 9, 1)  # a Monday
N_DAYS = 21


# ---------------------------------------------------------------- places (WGS 84, elevation m)
HOME = Place("home", 46.18300, -1.15600, 12, 12)  # a house in Lagord, north of La Rochelle
WORK = Place("work", 46.14230, -1.15320, 4, 40)  # La Rochelle Université, Les Minimes
CANTEEN = Place("canteen", 46.14470, -1.15530, 4, 20)  # university restaurant
BAKERY = Place("bakery", 46.18620, -1.15400, 14, 8)  # Lagord centre
SHOPS = Place("shops", 46.17550, -1.11150, 16, 80)  # Beaulieu shopping centre, Puilboreau
OLD_PORT = Place("old_port", 46.15680, -1.15370, 3, 15)  # a restaurant on the old port
PARIS_VENUE = Place("paris_venue", 48.84670, 2.35650, 35, 50)  # Sorbonne Université, Jussieu campus
PARIS_HOTEL = Place("paris_hotel", 48.84450, 2.35450, 40, 15)
PARIS_DINNER = Place("paris_restaurant", 48.84150, 2.34970, 55, 10)  # rue Mouffetard
PLACES = (HOME, WORK, CANTEEN, BAKERY, SHOPS, OLD_PORT, PARIS_VENUE, PARIS_HOTEL, PARIS_DINNER)
PLACE_NAMES = {
    "home": "Home, Lagord", "work": "La Rochelle Université, Les Minimes", "canteen": "University restaurant",
    "bakery": "Bakery, Lagord", "shops": "Beaulieu shopping centre, Puilboreau",
    "old_port": "Restaurant on the old port (Vieux-Port)", "paris_venue": "Sorbonne Université, Jussieu campus, Paris",
    "paris_hotel": "Hotel, Paris 5e", "paris_restaurant": "Restaurant, rue Mouffetard, Paris",
}  # fmt: skip


def _at(p: Place) -> tuple[float, float]:
    return (p.lat, p.lon)


# ---------------------------------------------------------------- routes: (lat, lon) waypoints
# the waypoint tables keep several points a line, which the formatter would undo
# fmt: off
BIKE_HOME_PORT = [_at(HOME), (46.1812, -1.1548), (46.1776, -1.1536), (46.1735, -1.1552), (46.1690, -1.1580),
                  (46.1652, -1.1598), (46.1622, -1.1560), (46.1600, -1.1528), (46.1579, -1.1522)]
BIKE_HOME_WORK = [*BIKE_HOME_PORT, (46.1568, -1.1500), (46.1553, -1.1484), (46.1538, -1.1493),
                  (46.1515, -1.1508), (46.1480, -1.1517), (46.1450, -1.1524), _at(WORK)]
PORT_STROLL = [(46.1579, -1.1522), (46.1575, -1.1533), (46.1562, -1.1541), (46.1553, -1.1538),
               (46.1563, -1.1542), _at(OLD_PORT)]
WALK_WORK_CANTEEN = [_at(WORK), (46.1435, -1.1540), _at(CANTEEN)]
WALK_HOME_BAKERY = [_at(HOME), (46.1840, -1.1552), (46.1852, -1.1545), _at(BAKERY)]
STOP_LAGORD, STOP_GARE, STOP_UNIV = (46.1848, -1.1572), (46.1538, -1.1463), (46.1432, -1.1545)
WALK_HOME_STOP = [_at(HOME), (46.1838, -1.1566), STOP_LAGORD]
WALK_STOP_WORK = [STOP_UNIV, (46.1428, -1.1538), _at(WORK)]
BUS_LAGORD_GARE = [STOP_LAGORD, (46.1825, -1.1585), (46.1790, -1.1590), (46.1745, -1.1592), (46.1700, -1.1590),
                   (46.1660, -1.1600), (46.1625, -1.1562), (46.1608, -1.1510), (46.1590, -1.1478),
                   (46.1560, -1.1462), STOP_GARE]
BUS_LAGORD_UNIV = [*BUS_LAGORD_GARE, (46.1520, -1.1490), (46.1490, -1.1510), (46.1460, -1.1525), STOP_UNIV]
STATION_LR = (46.1531, -1.1453)  # Gare de La Rochelle-Ville
WALK_STOP_STATION = [STOP_GARE, (46.1534, -1.1458), STATION_LR]
CAR_HOME_SHOPS = [_at(HOME), (46.1818, -1.1515), (46.1808, -1.1440), (46.1795, -1.1360), (46.1787, -1.1290),
                  (46.1778, -1.1210), (46.1770, -1.1165), (46.1760, -1.1140), _at(SHOPS)]
CAR_HOME_SHOPS_KMH = [30, 50, 50, 50, 90, 90, 50, 30]
CAR_HOME_WORK = [_at(HOME), (46.1812, -1.1548), (46.1776, -1.1536), (46.1735, -1.1500), (46.1690, -1.1450),
                 (46.1640, -1.1420), (46.1590, -1.1405), (46.1550, -1.1410), (46.1515, -1.1440),
                 (46.1485, -1.1480), (46.1455, -1.1510), (46.1430, -1.1522), _at(WORK)]
CAR_HOME_WORK_KMH = [30, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 30]
# La Rochelle-Ville → Poitiers on the classic line: (lat, lon, ele m, km/h to the next waypoint, station)
RAIL_LR_POITIERS = [
    (46.1531, -1.1453, 4, 60, "La Rochelle-Ville"), (46.1545, -1.1330, 5, 140, None),
    (46.1420, -1.0700, 15, 160, None), (46.1290, -1.0090, 20, 160, "La Jarrie"),
    (46.1350, -0.9330, 25, 160, "Aigrefeuille-Le Thou"), (46.1200, -0.8400, 30, 160, None),
    (46.1085, -0.7525, 35, 140, "Surgères"), (46.1500, -0.7000, 30, 160, None),
    (46.1960, -0.6720, 30, 160, "Mauzé-sur-le-Mignon"), (46.2530, -0.5400, 25, 140, "Frontenay-Rohan-Rohan"),
    (46.2950, -0.5100, 25, 100, None), (46.3176, -0.4693, 25, 120, "Niort"), (46.3350, -0.3900, 60, 140, None),
    (46.3630, -0.3000, 80, 160, "La Crèche"), (46.3950, -0.2600, 85, 140, None),
    (46.4134, -0.2043, 90, 160, "Saint-Maixent"), (46.4200, -0.1300, 100, 160, None),
    (46.4018, -0.0550, 110, 140, "Pamproux"), (46.4200, 0.0400, 130, 160, "Rouillé"),
    (46.4351, 0.1210, 120, 140, "Lusignan"), (46.4900, 0.1900, 130, 120, "Coulombiers"),
    (46.5150, 0.2400, 120, 100, None), (46.5600, 0.3000, 100, 60, None), (46.5822, 0.3339, 80, 0, "Poitiers"),
]  # fmt: skip
RAIL_POITIERS_PARIS = [  # then the LGV Sud Europe Atlantique and the LGV Atlantique
    (46.5822, 0.3339, 80, 60, "Poitiers"), (46.6100, 0.3300, 100, 160, None), (46.6500, 0.3500, 110, 300, None),
    (46.8200, 0.5800, 100, 300, None), (47.1000, 0.6700, 110, 300, None), (47.2800, 0.6500, 90, 300, None),
    (47.3900, 0.8300, 60, 300, None), (47.5800, 0.9800, 100, 300, None), (47.8227, 1.0440, 110, 300, None),
    (48.0800, 1.1300, 170, 300, None), (48.2300, 1.3400, 160, 300, None), (48.3700, 1.5800, 150, 300, None),
    (48.5600, 1.9200, 160, 270, None), (48.6500, 2.0900, 120, 220, None), (48.7100, 2.2300, 90, 120, None),
    (48.7700, 2.2750, 80, 80, None), (48.8050, 2.2950, 70, 60, None), (48.8250, 2.3050, 60, 60, None),
    (48.8412, 2.3200, 60, 0, "Paris Montparnasse"),
]  # fmt: skip
TER = ModeProfile("train", 38.0, 0.04, 0.5, 0.6, noise_factor=2.0)
"""A regional train (TER): slower to accelerate than a TGV, 140 km/h at most on this line."""
METRO_MONTPARNASSE_JUSSIEU = [(48.8430, 2.3238), (48.8469, 2.3272), (48.8512, 2.3306), (48.8535, 2.3339),
                              (48.8520, 2.3403), (48.8510, 2.3448), (48.8501, 2.3484), (48.8467, 2.3513),
                              (48.8462, 2.3547)]  # line 4 to Odéon, then line 10
WALK_MONTPARNASSE_METRO = [(48.8412, 2.3200), (48.8422, 2.3215), (48.8430, 2.3238)]
WALK_JUSSIEU_VENUE = [(48.8462, 2.3547), (48.8465, 2.3556), _at(PARIS_VENUE)]
WALK_VENUE_HOTEL = [_at(PARIS_VENUE), (48.8458, 2.3560), (48.8450, 2.3552), _at(PARIS_HOTEL)]
WALK_HOTEL_DINNER = [_at(PARIS_HOTEL), (48.8437, 2.3530), (48.8428, 2.3510), (48.8420, 2.3500), _at(PARIS_DINNER)]
# fmt: on


def _rev(path: list) -> list:
    return path[::-1]


def _rail(rows: list, stations: set[str], dwell_s: float, reverse: bool = False, max_kmh: float = 320) -> dict:
    """Path with elevations, per-segment speeds (m/s) and scheduled stops for a train leg."""
    if reverse:
        # a segment's speed belongs to the segment, whichever way it is run
        speeds = [r[3] for r in rows[:-1]][::-1]
        rows = rows[::-1]
    else:
        speeds = [r[3] for r in rows[:-1]]
    path = [(r[0], r[1], float(r[2])) for r in rows]
    stops = [(k, dwell_s + (60.0 if rows[k][4] in ("Niort", "Poitiers") else 0.0))
             for k in range(1, len(rows) - 1) if rows[k][4] in stations]  # fmt: skip
    return {"path": path, "speeds_mps": [min(v, max_kmh) / 3.6 for v in speeds], "stops": stops}


def _kmh(values: list[float]) -> list[float]:
    return [v / 3.6 for v in values]


class _Plan:
    """Builds the timeline: stays and trips alternate; local wall-clock times with a little jitter."""

    def __init__(self, start: Place, seed: int) -> None:
        self.items: list[Stay | Trip] = []
        self.place = start
        self.rng = np.random.default_rng([seed, 0])

    def until(self, day: date, hhmm: str, jitter_min: float = 0.0) -> None:
        h, m = map(int, hhmm.split(":"))
        t = datetime(day.year, day.month, day.day, h, m, tzinfo=PARIS_TZ)
        t += timedelta(seconds=round(float(self.rng.uniform(-jitter_min, jitter_min)) * 60.0))
        self.items.append(Stay(self.place, until=t.astimezone(UTC)))

    def go(self, dest: Place, *legs: Leg, purpose: str | None = None, label: str | None = None) -> None:
        self.items.append(Trip(legs, purpose, label))
        self.place = dest

    def wait(self, lo: float, hi: float) -> float:
        return round(float(self.rng.uniform(lo, hi)))


def _bike(path: list) -> Leg:
    return Leg("bike", path)


def _walk(path: list, wait: float = 0.0) -> Leg:
    return Leg("walk", path, wait_before_s=wait)


def _commute_bike(p: _Plan, day: date, leave: str, back: str, lunch: bool) -> None:
    p.until(day, leave, 10)
    p.go(WORK, _bike(BIKE_HOME_WORK), purpose="work")
    if lunch:
        p.until(day, "12:10", 8)
        p.go(CANTEEN, _walk(WALK_WORK_CANTEEN), purpose="meal")
        p.until(day, "12:55", 5)
        p.go(WORK, _walk(_rev(WALK_WORK_CANTEEN)), purpose="work")
    p.until(day, back, 15)
    p.go(HOME, _bike(_rev(BIKE_HOME_WORK)), purpose="home")


def _bus_commute(p: _Plan, day: date, label_morning: bool) -> None:
    p.until(day, "07:55", 3)
    note = "Yélo city bus"
    p.go(WORK, _walk(WALK_HOME_STOP), Leg("bus", BUS_LAGORD_UNIV, wait_before_s=p.wait(150, 360), note=note),
         _walk(WALK_STOP_WORK), purpose="work", label="bus" if label_morning else None)  # fmt: skip
    p.until(day, "17:30", 10)
    p.go(HOME, _walk(_rev(WALK_STOP_WORK)), Leg("bus", _rev(BUS_LAGORD_UNIV), wait_before_s=p.wait(150, 420),
         note=note), _walk(_rev(WALK_HOME_STOP)), purpose="home")  # fmt: skip


def _carpool(p: _Plan, day: date, label_morning: bool) -> None:
    note = "carpool: a colleague drives"
    kmh = _kmh(CAR_HOME_WORK_KMH)
    p.until(day, "08:05", 3)
    p.go(WORK, Leg("car", CAR_HOME_WORK, speeds_mps=kmh, occupancy=2, note=note), purpose="work",
         label="shared_ride" if label_morning else None)  # fmt: skip
    p.until(day, "17:45", 10)
    p.go(HOME, Leg("car", _rev(CAR_HOME_WORK), speeds_mps=kmh[::-1], occupancy=2, note=note), purpose="home")


def _shopping(p: _Plan, day: date, leave: str, back: str) -> None:
    kmh = _kmh(CAR_HOME_SHOPS_KMH)
    p.until(day, leave, 10)
    p.go(SHOPS, Leg("car", CAR_HOME_SHOPS, speeds_mps=kmh, occupancy=1), purpose="shopping")
    p.until(day, back, 10)
    p.go(HOME, Leg("car", _rev(CAR_HOME_SHOPS), speeds_mps=kmh[::-1], occupancy=1), purpose="home")


def _bakery(p: _Plan, day: date, leave: str) -> None:
    p.until(day, leave, 10)
    p.go(BAKERY, _walk(WALK_HOME_BAKERY), purpose="shopping")
    p.items.append(Stay(BAKERY, duration_s=p.wait(360, 540)))
    p.go(HOME, _walk(_rev(WALK_HOME_BAKERY)), purpose="home")


def _old_port(p: _Plan, day: date) -> None:
    p.until(day, "11:40", 10)
    p.go(OLD_PORT, _bike(BIKE_HOME_PORT), _walk(PORT_STROLL, wait=p.wait(30, 90)), purpose="meal")
    p.until(day, "14:00", 15)
    p.go(HOME, _walk(_rev(PORT_STROLL)), Leg("bike", _rev(BIKE_HOME_PORT), wait_before_s=p.wait(30, 90)),
         purpose="home")  # fmt: skip


def _paris_out(p: _Plan, day: date) -> None:
    p.until(day, "06:35", 2)
    tgv = _rail(RAIL_LR_POITIERS[:-1] + RAIL_POITIERS_PARIS, {"Surgères", "Niort", "Poitiers"}, 120)
    metro_stops = [(k, 240.0 if k == 4 else 25.0) for k in range(1, len(METRO_MONTPARNASSE_JUSSIEU) - 1)]
    p.go(PARIS_VENUE,
         _walk(WALK_HOME_STOP),
         Leg("bus", BUS_LAGORD_GARE, wait_before_s=p.wait(120, 300), note="Yélo city bus"),
         _walk(WALK_STOP_STATION),
         Leg("hsr", **tgv, wait_before_s=p.wait(600, 900), gaps_m=[(40_000, 48_000), (215_000, 235_000)],
             note="TGV La Rochelle-Ville → Paris Montparnasse (classic line to Poitiers, then LGV)"),
         _walk(WALK_MONTPARNASSE_METRO),
         Leg("metro", METRO_MONTPARNASSE_JUSSIEU, stops=metro_stops, underground=True, wait_before_s=p.wait(60, 180),
             note="Paris metro, line 4 then line 10 (underground: no GPS)"),
         _walk(WALK_JUSSIEU_VENUE), purpose="work")  # fmt: skip
    p.until(day, "18:00", 10)
    p.go(PARIS_HOTEL, _walk(WALK_VENUE_HOTEL), purpose="home")
    p.until(day, "19:40", 5)
    p.go(PARIS_DINNER, _walk(WALK_HOTEL_DINNER), purpose="meal")
    p.until(day, "21:30", 10)
    p.go(PARIS_HOTEL, _walk(_rev(WALK_HOTEL_DINNER)), purpose="home")


def _paris_back(p: _Plan, day: date) -> None:
    p.until(day, "08:40", 5)
    p.go(PARIS_VENUE, _walk(_rev(WALK_VENUE_HOTEL)), purpose="work")
    p.until(day, "14:35", 3)
    metro = _rev(METRO_MONTPARNASSE_JUSSIEU)
    metro_stops = [(k, 240.0 if k == 4 else 25.0) for k in range(1, len(metro) - 1)]
    tgv = _rail(RAIL_POITIERS_PARIS, set(), 0, reverse=True)
    ter_stations = {r[4] for r in RAIL_LR_POITIERS[1:-1] if r[4]}  # the stopping service
    ter = _rail(RAIL_LR_POITIERS, ter_stations, 50, reverse=True, max_kmh=140)
    p.go(HOME,
         _walk(_rev(WALK_JUSSIEU_VENUE)),
         Leg("metro", metro, stops=metro_stops, underground=True, wait_before_s=p.wait(60, 240),
             note="Paris metro, line 10 then line 4 (underground: no GPS)"),
         _walk(_rev(WALK_MONTPARNASSE_METRO)),
         Leg("hsr", **tgv, wait_before_s=p.wait(900, 1200), gaps_m=[(120_000, 140_000)],
             note="TGV Paris Montparnasse → Poitiers (LGV)"),
         Leg("train", **ter, profile=TER, wait_before_s=p.wait(1200, 1500),
             note="TER Nouvelle-Aquitaine Poitiers → La Rochelle"),
         _walk(_rev(WALK_STOP_STATION)),
         Leg("bus", _rev(BUS_LAGORD_GARE), wait_before_s=p.wait(180, 480), note="Yélo city bus"),
         _walk(_rev(WALK_HOME_STOP)), purpose="home")  # fmt: skip


def build_timeline(seed: int) -> list[Stay | Trip]:
    """The person's three weeks, 2025-09-01 to 2025-09-21 (Europe/Paris).

    ``seed``: the data set's seed; wall-clock jitter, transfer waits and short stay lengths come from it.
    """
    p = _Plan(HOME, seed)
    d = [FIRST_DAY + timedelta(days=k) for k in range(N_DAYS)]
    # week 1 (GPX): cycling commutes, groceries by car on Saturday, the old port on Sunday
    _commute_bike(p, d[0], "08:15", "17:40", lunch=False)
    _bakery(p, d[0], "18:45")
    _commute_bike(p, d[1], "08:10", "17:50", lunch=True)
    _commute_bike(p, d[2], "08:20", "17:30", lunch=False)
    _commute_bike(p, d[3], "08:10", "17:45", lunch=True)
    _commute_bike(p, d[4], "08:15", "16:45", lunch=False)
    _shopping(p, d[5], "10:00", "11:15")
    _bakery(p, d[6], "09:00")
    _old_port(p, d[6])
    # week 2 (TraceMob): a rainy day on the bus, a carpool with a colleague
    _commute_bike(p, d[7], "08:15", "17:40", lunch=False)
    _bus_commute(p, d[8], label_morning=True)
    _carpool(p, d[9], label_morning=True)
    _commute_bike(p, d[10], "08:10", "17:45", lunch=True)
    _commute_bike(p, d[11], "08:15", "16:50", lunch=False)
    _shopping(p, d[12], "15:00", "16:10")
    _bakery(p, d[13], "09:30")
    _old_port(p, d[13])
    # week 3 (GPX): a two-day work trip to Paris by TGV, back by TGV and TER
    _commute_bike(p, d[14], "08:15", "17:40", lunch=True)
    _commute_bike(p, d[15], "08:10", "17:45", lunch=False)
    _commute_bike(p, d[16], "08:15", "17:35", lunch=False)
    _shopping(p, d[16], "18:30", "19:15")
    _paris_out(p, d[17])
    _paris_back(p, d[18])
    _bakery(p, d[19], "10:30")
    _old_port(p, d[20])
    p.until(d[20] + timedelta(days=1), "00:00")
    return p.items
