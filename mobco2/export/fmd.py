"""The Forfait mobilités durables (FMD) attestation: the days a person commuted sustainably.

**Our rule.** A day counts when, on that local calendar day (the trip's own time zone), the user
made at least one *commute trip*: a trip starting within :data:`PLACE_RADIUS_M` of home and ending
within it of work, or the reverse, of which at least half the distance (:data:`MIN_SHARE`) was
covered by bike, e-bike, e-scooter or carpool (a car leg with an occupancy of 2 or more, driver
included, as labelled with ``mobco2 trips label --occupancy``). Walking to and from the bike does
not disqualify a trip; a car alone does. Each day is listed with the trips behind it.

**Why not Coach CO2's rule.** Coach CO2 counted bike (and e-scooter) trips only, with a purpose
``COMMUTE`` set by hand, and started a new day only when a trip was on another calendar day *and*
12 hours after the previous one; an evening ride home followed by an early ride to work less than
12 hours later lost a day. The FMD (Code du travail, L3261-3-1) pays per day of use and covers
carpooling too, so mobco2 counts calendar days, includes carpool, and recognises the commute by
its two places instead of a hand-set purpose. Listing every day and trip lets the employer check.

Place coordinates are shown blurred to a 500 m cell (and not at all when inside a privacy zone);
no coordinate of a trip appears. The document is deterministic but for its date (``date``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date as date_type
from typing import Any

from mobco2.errors import UsageError
from mobco2.privacy import Zone, inside, place_label

SUSTAINABLE_MODES = ("bike", "ebike", "escooter")
PLACE_RADIUS_M = 500.0
MIN_SHARE = 0.5
BLUR_CELL_M = 500.0
FORMATS = ("md", "html", "pdf")

RULE = (f"A day counts when at least one trip went from home to work or from work to home (start and end "
        f"within {PLACE_RADIUS_M:.0f} m of each place) with at least {MIN_SHARE:.0%} of its distance by bike, "
        "e-bike, e-scooter or carpool (a car with 2 or more people aboard, driver included). Days are local "
        "calendar days; each is counted once however many trips it holds.")


@dataclass
class FmdTrip:
    trip_id: str
    started_at: str  # local ISO time
    finished_at: str
    direction: str  # "home → work" or "work → home"
    modes: str
    distance_km: float
    sustainable_km: float


@dataclass
class FmdDay:
    day: str
    trips: list[FmdTrip] = field(default_factory=list)


@dataclass
class Attestation:
    year: int
    dated: str
    user_id: str | None
    home_shown: str
    work_shown: str
    places_source: str  # "config" or "detected"
    days: list[FmdDay]
    rule: str = RULE

    @property
    def n_days(self) -> int:
        return len(self.days)


def _shown(lat: float, lon: float, zones: list[Zone]) -> str:
    """A place as a 500 m cell, or the privacy zone's label when the place or its cell is inside one."""
    label = place_label(lat, lon, zones)
    if label is not None:
        return f"{label} (inside a privacy zone)"
    blat, blon = Zone(lat, lon, BLUR_CELL_M / 2, "blur").blurred_point()
    if inside([blat], [blon], zones)[0]:
        return "private zone (the 500 m cell overlaps a privacy zone)"
    return f"{blat:.3f}, {blon:.3f} (500 m cell)"


def _places(store: Any, user_id: str | None, home: Any, work: Any, cfg: Any) -> tuple[tuple, tuple, str]:
    if home is None and cfg is not None and cfg["places.home"]:
        home = cfg["places.home"]
    if work is None and cfg is not None and cfg["places.work"]:
        work = cfg["places.work"]
    source = "config"
    if home is None or work is None:
        from mobco2.privacy import detect_places

        found = {p.kind: (p.lat, p.lon) for p in detect_places(store, user_id)}
        source = "detected"
        home = home if home is not None else found.get("home")
        work = work if work is not None else found.get("work")
    if home is None or work is None:
        raise UsageError("no home or work place known for the FMD attestation",
                         hint="set places.home and places.work in config.toml (see `mobco2 privacy suggest`)")
    try:
        h = (float(home[0]), float(home[1]))
        w = (float(work[0]), float(work[1]))
    except (TypeError, ValueError, IndexError):
        raise UsageError("places.home and places.work must be [lat, lon]", hint="e.g. home = [46.16, -1.15]") from None
    return h, w, source


def fmd_days(
    store: Any, year: int, *, user_id: str | None = None, home: Any = None, work: Any = None,
    zones: list[Zone] | None = None, dated: str | None = None, cfg: Any = None,
) -> Attestation:
    """The attestation's content for ``year`` (module docstring for the rule).

    ``home``/``work`` are ``(lat, lon)``; by default ``places.home``/``places.work`` from settings,
    else detected from the stays (``places_source = "detected"``, to be confirmed by the user).
    ``dated`` is the attestation date (ISO), by default today.

    Example::

        att = fmd_days(Store("~/s"), 2025, home=(46.183, -1.156), work=(46.142, -1.153))
        print(att.n_days)
    """
    if cfg is None:
        from mobco2 import config

        cfg = config.load()
    if zones is None:
        from mobco2.privacy import zones_from_config

        zones = list(zones_from_config(cfg))
    if not 1970 <= int(year) <= 9999:
        raise UsageError(f"--year {year} is out of range", hint="e.g. --year 2025")
    dated = dated or date_type.today().isoformat()
    try:
        date_type.fromisoformat(dated)
    except ValueError:
        raise UsageError(f"--date {dated!r} is not a date", hint="write it as YYYY-MM-DD") from None
    h, w, source = _places(store, user_id, home, work, cfg)
    trips = _commute_trips(store, int(year), user_id, h, w)
    days: dict[str, FmdDay] = {}
    for t in trips:
        days.setdefault(t.started_at[:10], FmdDay(t.started_at[:10])).trips.append(t)
    return Attestation(int(year), dated, user_id, _shown(*h, list(zones)), _shown(*w, list(zones)), source,
                       [days[d] for d in sorted(days)])


_TRIPS_SQL = """
WITH l AS (
    SELECT l.*, l.mode IN ({modes}) OR (l.mode = 'car' AND coalesce(l.occupancy, 1) >= 2) AS ok
    FROM legs l WHERE {where}),
t AS (
    SELECT user_id, trip_id, min(started_at) AS started_at, max(finished_at) AS finished_at,
           arg_min(start_lat, started_at) AS slat, arg_min(start_lon, started_at) AS slon,
           arg_max(end_lat, finished_at) AS elat, arg_max(end_lon, finished_at) AS elon,
           sum(distance_m) AS distance_m, sum(CASE WHEN ok THEN distance_m ELSE 0 END) AS ok_m,
           string_agg(CASE WHEN mode = 'car' AND coalesce(occupancy, 1) >= 2
                           THEN 'carpool (' || occupancy || ')' ELSE mode END, ' + ' ORDER BY started_at) AS modes,
           any_value(tz) AS tz
    FROM l GROUP BY user_id, trip_id)
SELECT t.*, strftime(timezone(coalesce(t.tz, 'UTC'), t.started_at), '%Y-%m-%dT%H:%M') AS start_local,
       strftime(timezone(coalesce(t.tz, 'UTC'), t.finished_at), '%Y-%m-%dT%H:%M') AS end_local
FROM t WHERE ok_m > 0 AND ok_m >= ? * distance_m
ORDER BY started_at, trip_id
"""


def _commute_trips(store: Any, year: int, user_id: str | None, home: tuple, work: tuple) -> list[FmdTrip]:
    import numpy as np

    where = ["l.started_at >= ?::TIMESTAMPTZ - INTERVAL 1 DAY", "l.started_at < ?::TIMESTAMPTZ + INTERVAL 1 DAY"]
    params: list[object] = [f"{year}-01-01", f"{year + 1}-01-01"]
    if user_id:
        where.append("l.user_id = ?")
        params.append(user_id)
    sql = _TRIPS_SQL.format(modes=", ".join(f"'{m}'" for m in SUSTAINABLE_MODES), where=" AND ".join(where))
    with store.reader() as con:
        cur = con.execute(sql, [*params, MIN_SHARE])
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    rows = [r for r in rows if r["start_local"].startswith(f"{year}-") and None not in
            (r["slat"], r["slon"], r["elat"], r["elon"])]
    if not rows:
        return []
    hz, wz = [Zone(*home, PLACE_RADIUS_M)], [Zone(*work, PLACE_RADIUS_M)]
    s_lat, s_lon = np.array([r["slat"] for r in rows]), np.array([r["slon"] for r in rows])
    e_lat, e_lon = np.array([r["elat"] for r in rows]), np.array([r["elon"] for r in rows])
    to_work = inside(s_lat, s_lon, hz) & inside(e_lat, e_lon, wz)
    to_home = inside(s_lat, s_lon, wz) & inside(e_lat, e_lon, hz)
    out = []
    for r, a, b in zip(rows, to_work.tolist(), to_home.tolist(), strict=True):
        if a or b:
            out.append(FmdTrip(r["trip_id"], r["start_local"], r["end_local"], "home → work" if a else "work → home",
                               r["modes"], round(r["distance_m"] / 1000, 1), round(r["ok_m"] / 1000, 1)))
    return out


def _places_note(att: Attestation) -> str:
    return "from my settings" if att.places_source == "config" else "detected from my stays — to be confirmed"


def render_md(att: Attestation) -> str:
    lines = [f"# Attestation — Forfait mobilités durables {att.year}", "",
             f"**Attestation dated {att.dated}.**", "",
             f"I certify that in {att.year} I commuted between home and work by bike, e-bike, e-scooter or "
             f"carpool on **{att.n_days} days**, listed below.", "",
             f"- Home: {att.home_shown}", f"- Work: {att.work_shown}",
             f"- Places: {_places_note(att)}",
             "", "## Rule", "", att.rule, "", "## Days", ""]
    if not att.days:
        lines.append("No day qualifies.")
    else:
        lines += ["| day | trips (local time) |", "|---|---|"]
        for d in att.days:
            trips = "; ".join(f"{t.started_at[11:]}–{t.finished_at[11:]} {t.direction}, {t.modes}, "
                              f"{t.distance_km:.1f} km" for t in d.trips)
            lines.append(f"| {d.day} | {trips} |")
    lines += ["", f"Total: {att.n_days} days.", "", "Signature: ______________________", "",
              "_Computed by mobco2 from the user's own location history._", ""]
    return "\n".join(lines)


def render_html(att: Attestation) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(d.day)}</td><td>{'<br>'.join(e(f'{t.started_at[11:]}–{t.finished_at[11:]} {t.direction}, {t.modes}, {t.distance_km:.1f} km') for t in d.trips)}</td></tr>"  # noqa: E501
        for d in att.days)
    places = _places_note(att)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FMD attestation {att.year}</title>
<style>body{{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .5em;vertical-align:top}}</style>
</head><body>
<h1>Attestation — Forfait mobilités durables {att.year}</h1>
<p><strong>Attestation dated {e(att.dated)}.</strong></p>
<p>I certify that in {att.year} I commuted between home and work by bike, e-bike, e-scooter or carpool on
<strong>{att.n_days} days</strong>, listed below.</p>
<ul><li>Home: {e(att.home_shown)}</li><li>Work: {e(att.work_shown)}</li><li>Places: {e(places)}</li></ul>
<h2>Rule</h2><p>{e(att.rule)}</p>
<h2>Days</h2>
{"<table><thead><tr><th>day</th><th>trips (local time)</th></tr></thead><tbody>" + rows + "</tbody></table>"
 if att.days else "<p>No day qualifies.</p>"}
<p>Total: {att.n_days} days.</p><p>Signature: ______________________</p>
<p><em>Computed by mobco2 from the user's own location history.</em></p>
</body></html>
"""


def render_pdf(att: Attestation) -> bytes:
    try:
        import weasyprint
    except ImportError:
        raise UsageError("PDF needs weasyprint, which is not installed",
                         hint="pip install 'mobco2[pdf]', or use --format html or md") from None
    return weasyprint.HTML(string=render_html(att)).write_pdf()


def attestation(store: Any, year: int, fmt: str = "md", **kw: Any) -> str | bytes:
    """The rendered attestation (``md``/``html`` text, ``pdf`` bytes). Keywords as :func:`fmd_days`,
    plus ``date`` for the attestation date."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint="use md, html or pdf")
    kw["dated"] = kw.pop("date", None) or kw.get("dated")
    att = fmd_days(store, year, **kw)
    return {"md": render_md, "html": render_html, "pdf": render_pdf}[fmt](att)
