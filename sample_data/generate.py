"""Write the demo data set: three weeks of one person around La Rochelle, with its ground truth.

Run from the repository root (either form)::

    python sample_data/generate.py
    python -m mobco2.sample_data.generate

It overwrites, in this folder: two GPX 1.1 files (weeks 1 and 3, a GPS logger app), one TraceMob /
e-mission raw timeseries dump (week 2, gzip-compressed JSON), ``ground_truth.json``, and the
generated summary block of ``README.md``. Output is byte-identical on every run: a fixed seed,
fixed dates, no clock, fixed float formatting, gzip without a timestamp (the compressed bytes
depend on the zlib build; the JSON inside does not). What the person does (places, routes, the
day-by-day timeline) is in ``timeline.py``; ``mobco2.simulate`` turns it into movements, and this
module records them (the two logger apps) and writes the files.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

if __package__:  # python -m mobco2.sample_data.generate, or imported from the package
    from .timeline import FIRST_DAY, PARIS_TZ, PLACE_NAMES, PLACES, TZ_NAME, build_timeline
else:  # run as a script, or loaded from its path (tests): import the library and this folder from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sample_data.timeline import FIRST_DAY, PARIS_TZ, PLACE_NAMES, PLACES, TZ_NAME, build_timeline

from mobco2.simulate import Logger, Trajectory, simulate_trajectory

SEED = 20250901
USER_ID = "demo"
EMISSION_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "https://mobco2.invalid/sample-data/demo").hex
FILES = (  # (file name, format, first local day, last local day)
    ("2025-09-01_2025-09-07.gpx", "gpx", date(2025, 9, 1), date(2025, 9, 7)),
    ("2025-09-08_2025-09-14.tracemob.json.gz", "emission", date(2025, 9, 8), date(2025, 9, 14)),
    ("2025-09-15_2025-09-21.gpx", "gpx", date(2025, 9, 15), date(2025, 9, 21)),
)
GPX_LOGGER = Logger(moving_interval_s=10, stay_interval_s=60, idle_after_s=1800, idle_interval_s=300,
                    interval_jitter_s=1.0, noise_m=5, stay_noise_m=12, jump_prob=0.003, dropout_prob=0.01)
"""A GPS logger app: 10 s on the move, 60 s when still, every 5 min after half an hour still."""
EMISSION_LOGGER = Logger(moving_interval_s=30, stay_interval_s=None, stay_tail_s=360, interval_jitter_s=3.0,
                         trip_start_geofence_m=100, noise_m=5, stay_noise_m=12, jump_prob=0.003,
                         fused_prob=0.3, dropout_prob=0.02)
"""TraceMob on Android: 30 s fixes during trips, none at stays once the trip end is detected."""


# ---------------------------------------------------------------- formatting helpers
def _local_day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=PARIS_TZ)


def _utc_iso(t: float) -> str:
    """UTC time with milliseconds and a Z: a stable text form for the ground truth."""
    ms = int(np.rint(t * 1000.0))
    dt = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _local(t: float) -> datetime:
    return datetime.fromtimestamp(t, PARIS_TZ)


def _fmt_time(t: float) -> str:
    return _local(t).isoformat(timespec="microseconds")


def _local_dt(t: float) -> dict:
    d = _local(t)
    return {"year": d.year, "month": d.month, "day": d.day, "hour": d.hour, "minute": d.minute,
            "second": d.second, "weekday": d.weekday(), "timezone": TZ_NAME}  # fmt: skip


def _epoch_s(table, column: str) -> np.ndarray:
    return table.column(column).cast("int64").to_numpy() / 1e6


# ---------------------------------------------------------------- GPX (a GPS logger app)
GPX_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gpx version="1.1" creator="mobco2 sample_data/generate.py (simulated GPS logger)"'
    ' xmlns="http://www.topografix.com/GPX/1/1"'
    ' xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd'
    ' http://www.garmin.com/xmlschemas/TrackPointExtension/v2'
    ' https://www8.garmin.com/xmlschemas/TrackPointExtensionv2.xsd">\n'
)
GPX_SEGMENT_GAP_S = 600
"""The logger starts a new track segment after this long without a fix (no signal)."""


def gpx_text(fixes, title: str) -> tuple[str, dict]:
    """GPX 1.1: one track per local day, a new segment after a signal gap; Garmin v2 speed (m/s)."""
    ts = np.rint(_epoch_s(fixes, "ts")).astype(np.int64)  # the logger writes whole seconds
    lat, lon = fixes.column("lat").to_numpy(), fixes.column("lon").to_numpy()
    ele = fixes.column("altitude_m").to_numpy().astype(float)
    speed = fixes.column("speed_mps").to_numpy().astype(float)
    out = [GPX_HEAD, f" <metadata>\n  <name>{title}</name>\n  <author><name>{USER_ID}</name></author>\n"
           f"  <time>{datetime.fromtimestamp(int(ts[0]), UTC):%Y-%m-%dT%H:%M:%SZ}</time>\n </metadata>\n"]  # fmt: skip
    day = None
    n_trk = n_seg = 0
    for k in range(ts.size):
        this_day = _local(float(ts[k])).date()
        if this_day != day:
            if day is not None:
                out.append("  </trkseg>\n </trk>\n")
            out.append(f" <trk>\n  <name>{this_day.isoformat()}</name>\n  <trkseg>\n")
            day, n_trk, n_seg = this_day, n_trk + 1, n_seg + 1
        elif ts[k] - ts[k - 1] > GPX_SEGMENT_GAP_S:
            out.append("  </trkseg>\n  <trkseg>\n")
            n_seg += 1
        out.append(
            f'   <trkpt lat="{lat[k]:.6f}" lon="{lon[k]:.6f}"><ele>{ele[k]:.1f}</ele>'
            f"<time>{datetime.fromtimestamp(int(ts[k]), UTC):%Y-%m-%dT%H:%M:%SZ}</time>"
            "<extensions><gpxtpx:TrackPointExtension>"
            f"<gpxtpx:speed>{speed[k]:.2f}</gpxtpx:speed>"
            "</gpxtpx:TrackPointExtension></extensions></trkpt>\n"
        )
    out.append("  </trkseg>\n </trk>\n</gpx>\n")
    return "".join(out), {"trkpt": int(ts.size), "trk": n_trk, "trkseg": n_seg}


# ---------------------------------------------------------------- TraceMob / e-mission raw dump
SESSION_GAP_S = 900
"""Fixes further apart than this belong to different tracked trips (the app sleeps at stays)."""
BOOT_TS = datetime(2025, 9, 5, 23, 12, tzinfo=UTC).timestamp()  # the phone last booted (elapsedRealtimeNanos)


class _Dump:
    """Entries of an Android e-mission raw timeseries dump, with deterministic ids."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.entries: list[tuple[float, int, dict]] = []
        self.rng = rng

    def add(self, key: str, kind: str, write_ts: float, data: dict) -> None:
        write_ts = round(write_ts, 3)
        n = len(self.entries)
        entry = {
            "_id": {"$oid": f"{int(write_ts):08x}5d0c0ffee0{n:06x}"},
            "user_id": {"$uuid": EMISSION_UUID},
            "metadata": {"key": key, "platform": "android", "type": kind, "write_ts": write_ts,
                         "write_fmt_time": _fmt_time(write_ts), "write_local_dt": _local_dt(write_ts),
                         "time_zone": TZ_NAME, "read_ts": 0},
            "data": data,
        }  # fmt: skip
        self.entries.append((write_ts, n, entry))

    def timed(self, t: float) -> dict:
        t = round(t, 3)
        return {"ts": t, "fmt_time": _fmt_time(t), "local_dt": _local_dt(t)}

    def sorted(self) -> list[dict]:
        return [e for _, _, e in sorted(self.entries, key=lambda x: (x[0], x[1]))]


def _motion_type(kind: str, mode: str, speed: float, u: float) -> tuple[int, int]:
    """Android activity recognition as e-mission stores it: (MotionTypes int, confidence %)."""
    if u < 0.05:
        return 5, 100  # TILTING: the phone was picked up
    if u < 0.08:
        return 4, 20 + int(u * 500)  # UNKNOWN, low confidence
    if kind != "leg" or speed < 0.5:
        return 3, 70 + int(u * 30)  # STILL
    if mode == "walk":
        return (2 if u < 0.75 else 7), 60 + int(u * 40)
    if mode == "bike":
        return (1, 55 + int(u * 45)) if u < 0.94 else (0, 35 + int(u * 20))  # sometimes mistaken for a vehicle
    return 0, 65 + int(u * 35)  # IN_VEHICLE: car, bus, train alike


def emission_entries(fixes, traj: Trajectory, lo: float, hi: float) -> tuple[list[dict], dict]:
    """The week's dump: locations, filtered locations, motion activity, transitions, battery, labels."""
    dump = _Dump(np.random.default_rng([SEED, 3]))
    rng = dump.rng
    ts = np.round(_epoch_s(fixes, "ts"), 3)
    lat, lon = fixes.column("lat").to_numpy(), fixes.column("lon").to_numpy()
    acc = fixes.column("accuracy_m").to_numpy().astype(float)
    alt = fixes.column("altitude_m").to_numpy().astype(float)
    spd = fixes.column("speed_mps").to_numpy().astype(float)
    hdg = np.nan_to_num(fixes.column("heading_deg").to_numpy(zero_copy_only=False).astype(float))
    delay = rng.uniform(0.3, 8.0, ts.size)
    for k in range(ts.size):
        data = {
            "accuracy": round(acc[k], 3), "altitude": round(alt[k], 1),
            "elapsedRealtimeNanos": int(np.rint((ts[k] - BOOT_TS) * 1000)) * 1_000_000, "filter": "time",
            **dump.timed(ts[k]), "heading": int(np.rint(hdg[k])) % 360,
            "latitude": round(lat[k], 7), "loc": {"type": "Point", "coordinates": [round(lon[k], 7), round(lat[k], 7)]},
            "longitude": round(lon[k], 7), "sensed_speed": round(spd[k], 4),
        }  # fmt: skip
        dump.add("background/location", "sensor-data", ts[k] + delay[k], data)
        if acc[k] < 200:  # the phone drops fixes worse than its accuracy threshold
            dump.add("background/filtered_location", "sensor-data", ts[k] + delay[k] + 0.6, dict(data))
    # tracked trips = runs of fixes; the state machine brackets each one
    cut = np.flatnonzero(np.diff(ts) > SESSION_GAP_S)
    sessions = list(zip(ts[np.r_[0, cut + 1]], ts[np.r_[cut, ts.size - 1]], strict=True))
    bounds = []
    for s0, s1 in sessions:
        t_start, t_end = s0 - rng.uniform(1.0, 5.0), s1 + rng.uniform(15.0, 45.0)
        bounds.append((t_start, t_end))
        for t, state_before in ((t_start, 1), (t_end, 2)):  # exited geofence / stopped moving
            transition = {"curr_state": state_before, "transition": state_before, **dump.timed(t)}
            dump.add("statemachine/transition", "message", t, transition)
        n = int((t_end - t_start) / 22.0) + 2
        times = t_start + 10.0 + np.cumsum(rng.uniform(22.0, 38.0, n))
        times = times[times < t_end]
        state = traj.state_at(times)
        draws = rng.random(times.size)
        for j, t in enumerate(times):
            mtype, conf = _motion_type(str(state["kind"][j]), str(state["mode"][j]), state["speed_mps"][j], draws[j])
            activity = {"type": mtype, "confidence": conf, **dump.timed(t)}
            dump.add("background/motion_activity", "sensor-data", t, activity)
    # battery: charged overnight, drains by day
    for t in np.arange(lo + 1800.0, hi, 7200.0) + rng.uniform(-300, 300, int(np.ceil((hi - lo - 1800.0) / 7200.0))):
        hour = _local(t).hour
        charging = hour >= 23 or hour < 7
        level = 100 if charging else max(15, 100 - 6 * (hour - 7))
        dump.add("background/battery", "sensor-data", t, {
            "android_health": "GOOD", "android_plugged": "AC" if charging else "UNKNOWN",
            "android_technology": "Li-ion",
            "android_temperature": 280, "android_voltage": 3900 + level * 3, "battery_level_pct": level,
            "battery_status": 2 if charging else 3, **dump.timed(t)})  # fmt: skip
    labels = _labels(dump, traj, bounds, lo, hi)
    entries = dump.sorted()
    by_key = dict(sorted(Counter(e["metadata"]["key"] for e in entries).items()))
    return entries, {"entries": len(entries), "by_key": by_key, "labels": labels}


def _labels(dump: _Dump, traj: Trajectory, bounds: list, lo: float, hi: float) -> list[dict]:
    """The user confirmed a few trips in the app, in the evening: mode and purpose."""
    out = []
    trips = traj.trips.to_pylist()
    for k, trip in enumerate(trips):
        t0, t1 = trip["started_at"].timestamp(), trip["finished_at"].timestamp()
        if not trip["label"] or not lo <= t0 < hi:
            continue
        s0, s1 = next((b for b in bounds if b[0] <= t1 and b[1] >= t0), (t0, t1))
        written = _local_day_start(_local(t0).date()).timestamp() + 21 * 3600 + 7 * 60 + 13.0 * (k % 7)
        for key, value in (("manual/mode_confirm", trip["label"]), ("manual/purpose_confirm", trip["purpose"])):
            s0r, s1r = round(s0, 3), round(s1, 3)
            dump.add(key, "message", written, {
                "start_ts": s0r, "end_ts": s1r, "start_fmt_time": _fmt_time(s0r), "end_fmt_time": _fmt_time(s1r),
                "start_local_dt": _local_dt(s0r), "end_local_dt": _local_dt(s1r), "label": value})  # fmt: skip
            written += 4.0
        out.append({"trip_index": k, "mode_confirm": trip["label"], "purpose_confirm": trip["purpose"],
                    "start_ts": round(s0, 3), "end_ts": round(s1, 3)})  # fmt: skip
    return out


def gzip_bytes(text: str) -> bytes:
    """gzip with no file name and mtime 0, so the same text always gives the same header."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


# ---------------------------------------------------------------- ground truth, README summary, main
def ground_truth(traj: Trajectory, files: list[dict], fixes_by_file: dict) -> dict:
    """Stays, trips with their legs and transfers, per-file counts and a summary, as plain JSON."""
    stays, trips = traj.stays.to_pylist(), traj.trips.to_pylist()
    legs, transfers = traj.legs.to_pylist(), traj.transfers.to_pylist()
    windows = [(f["name"], f["_lo"], f["_hi"]) for f in files]
    leg_fixes: Counter[int] = Counter()
    for table in fixes_by_file.values():
        leg_fixes.update(k for k in table.column("leg_index").to_pylist() if k >= 0)

    def t(v: datetime) -> str:
        return _utc_iso(v.timestamp())

    def file_of(v: datetime) -> str:
        return next(name for name, lo, hi in windows if lo <= v.timestamp() < hi)

    out_stays = [{"stay_id": f"S{k + 1:03d}", "place": s["place"], "started_at": t(s["started_at"]),
                  "finished_at": t(s["finished_at"]), "lat": round(s["lat"], 6), "lon": round(s["lon"], 6)}
                 for k, s in enumerate(stays)]  # fmt: skip
    out_trips = []
    for k, trip in enumerate(trips):
        tid = f"T{k + 1:03d}"
        tlegs = [leg for leg in legs if leg["trip_index"] == k]
        out_trips.append({
            "trip_id": tid, "started_at": t(trip["started_at"]), "finished_at": t(trip["finished_at"]),
            "origin": trip["origin"], "destination": trip["destination"],
            "origin_stay_id": f"S{k + 1:03d}", "dest_stay_id": f"S{k + 2:03d}",
            "distance_m": round(trip["distance_m"], 1), "main_mode": trip["main_mode"], "purpose": trip["purpose"],
            "source_label": trip["label"], "file": file_of(trip["started_at"]),
            "legs": [{
                "leg_id": f"{tid}.{leg['leg_in_trip'] + 1}", "mode": leg["mode"], "started_at": t(leg["started_at"]),
                "finished_at": t(leg["finished_at"]), "distance_m": round(leg["distance_m"], 1),
                "start_lat": round(leg["start_lat"], 6), "start_lon": round(leg["start_lon"], 6),
                "end_lat": round(leg["end_lat"], 6), "end_lon": round(leg["end_lon"], 6),
                "occupancy": leg["occupancy"], "stops_with_wait": leg["n_stops"],
                "n_fixes": leg_fixes[leg["leg_index"]], "note": leg["note"],
            } for leg in tlegs],
            "transfers": [{"before_leg_id": f"{tid}.{legs[x['before_leg_index']]['leg_in_trip'] + 1}",
                           "started_at": t(x["started_at"]), "finished_at": t(x["finished_at"]),
                           "lat": round(x["lat"], 6), "lon": round(x["lon"], 6)}
                          for x in transfers if x["trip_index"] == k],
        })  # fmt: skip
    km: Counter[str] = Counter()
    for leg in legs:
        km[leg["mode"]] += leg["distance_m"] / 1000.0
    summary = {
        "n_stays": len(stays), "n_trips": len(trips), "n_legs": len(legs), "n_transfers": len(transfers),
        "trips_by_main_mode": dict(sorted(Counter(x["main_mode"] for x in trips).items())),
        "legs_by_mode": dict(sorted(Counter(leg["mode"] for leg in legs).items())),
        "km_by_mode": {m: round(v, 1) for m, v in sorted(km.items())},
        "km_total": round(sum(km.values()), 1),
        "trips_by_file": dict(Counter(x["file"] for x in out_trips)),
    }  # fmt: skip
    return {
        "schema_version": 1, "generator": "sample_data/generate.py", "simulator": "mobco2.simulate", "seed": SEED,
        "user_id": USER_ID, "tz": TZ_NAME, "period_start": _utc_iso(traj.start), "period_end": _utc_iso(traj.end),
        "notes": [
            "Times are UTC. A trip runs from the end of one stay to the start of the next.",
            "Transfers (waiting for a bus or train, changing trains) belong to their trip: they are not stays.",
            "Short waits inside a leg (traffic lights, bus stops, station dwells) are counted in stops_with_wait.",
            "distance_m is the length of the true path; n_fixes counts the leg's fixes in its file.",
            "Metro legs are underground: they have no fixes, only a jump between the walks around them.",
        ],
        "places": {p.name: {"name": PLACE_NAMES[p.name], "lat": p.lat, "lon": p.lon} for p in PLACES},
        "files": [{k: v for k, v in f.items() if not k.startswith("_")} for f in files],
        "summary": summary, "stays": out_stays, "trips": out_trips,
    }  # fmt: skip


README_BEGIN = "<!-- summary generated by generate.py: begin -->"
README_END = "<!-- summary generated by generate.py: end -->"


def summary_markdown(gt: dict) -> str:
    """The README's generated block: files and ground-truth totals."""
    s = gt["summary"]
    lines = [README_BEGIN, "", "| file | format | local days | points |", "|---|---|---|---|"]
    for f in gt["files"]:
        pts = f["counts"].get("trkpt") or f["counts"]["by_key"]["background/location"]
        detail = f"{pts} trkpt" if f["format"] == "gpx" else (
            f"{pts} location, {f['counts']['by_key'].get('background/filtered_location', 0)} filtered_location "
            f"({f['counts']['entries']} entries)")  # fmt: skip
        lines.append(f"| `{f['name']}` | {f['format']} | {f['first_day']} → {f['last_day']} | {detail} |")
    lines += ["", f"Ground truth: {s['n_stays']} stays, {s['n_trips']} trips, {s['n_legs']} legs, "
              f"{s['n_transfers']} transfers, {s['km_total']} km.", "",
              "| mode | legs | km | trips with this main mode |", "|---|---|---|---|"]  # fmt: skip
    for mode, n in s["legs_by_mode"].items():
        lines.append(f"| {mode} | {n} | {s['km_by_mode'][mode]} | {s['trips_by_main_mode'].get(mode, 0)} |")
    lines += ["", README_END]
    return "\n".join(lines)


def build() -> tuple[dict[str, bytes], dict]:
    """Every output file's bytes (by name) and the ground truth."""
    traj = simulate_trajectory(build_timeline(SEED), _local_day_start(FIRST_DAY), seed=SEED)
    outputs: dict[str, bytes] = {}
    files, fixes_by_file = [], {}
    for k, (name, fmt, first, last) in enumerate(FILES):
        lo, hi = _local_day_start(first), _local_day_start(last + timedelta(days=1))
        logger = GPX_LOGGER if fmt == "gpx" else EMISSION_LOGGER
        fixes = traj.sample(logger, lo, hi, seed=SEED + 100 + k)
        fixes_by_file[name] = fixes
        if fmt == "gpx":
            text, counts = gpx_text(fixes, f"demo — GPS logger, {first} to {last}")
            outputs[name] = text.encode("utf-8")
        else:
            entries, counts = emission_entries(fixes, traj, lo.timestamp(), hi.timestamp())
            outputs[name] = gzip_bytes(json.dumps(entries, indent=4) + "\n")
        files.append({"name": name, "format": fmt, "first_day": first.isoformat(), "last_day": last.isoformat(),
                      "start": _utc_iso(lo.timestamp()), "end": _utc_iso(hi.timestamp()), "counts": counts,
                      "_lo": lo.timestamp(), "_hi": hi.timestamp()})  # fmt: skip
    gt = ground_truth(traj, files, fixes_by_file)
    outputs["ground_truth.json"] = (json.dumps(gt, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    return outputs, gt


def generate(out_dir: Path | str) -> dict[str, Path]:
    """Write the data files and ground_truth.json into ``out_dir``; update its README block if present."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs, gt = build()
    written = {}
    for name, data in outputs.items():
        (out / name).write_bytes(data)
        written[name] = out / name
    readme = out / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        head, sep, rest = text.partition(README_BEGIN)
        _, sep2, tail = rest.partition(README_END)
        if sep and sep2:
            readme.write_text(head + summary_markdown(gt) + tail, encoding="utf-8")
    return written


def main() -> None:
    out = Path(__file__).resolve().parent
    for name, path in generate(out).items():
        print(f"{path.stat().st_size:>9} bytes  {name}")


if __name__ == "__main__":
    main()
