"""Score mobco2's trips on real e-mission days against e-mission's reviewed ground truth.

For each ``emission_<day>.json`` with a ``emission_<day>.ground_truth.json`` beside it (the
folder ``../shared/sample-inputs/emission-real-dev/`` by default): import the raw dump into a
fresh store (:func:`mobco2.ingest.import_paths`), segment it (:func:`mobco2.segment.segment`),
and match our trips one to one with the truth's by temporal intersection-over-union ≥ 0.5
(greedy, best IoU first). Per day: truth, ours, matched, start/end errors of the matched trips;
over all days: precision, recall, F1, median and 90th-percentile start/end errors (s).

Modes: the time-weighted agreement of our legs' modes with the truth's sections'
``sensed_mode``, at a coarse level: walk (ON_FOOT, WALKING, RUNNING), bike (BICYCLING), road
(car-like: car, moto, scooter...), bus, rail, plane (AIR_OR_HSR). e-mission's MotionTypes say
only IN_VEHICLE for any motorised ground mode, so an IN_VEHICLE second agrees with road, bus or
rail; UNKNOWN sections are left out. The share is over the truth's section time (time not
covered by any of our legs counts as disagreement).

Usage::

    python bench/score_real_days.py [DIR ...] [--json] [--set segment.KEY=VALUE ...]

``score_days(paths, params)`` is the library entry point (the tests call it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DIR = (ROOT.parent / "shared" / "sample-inputs" / "emission-real-dev").resolve()
IOU_MIN = 0.5

COARSE_TRUTH = {
    "ON_FOOT": "walk", "WALKING": "walk", "RUNNING": "walk", "BICYCLING": "bike",
    "IN_VEHICLE": "vehicle", "CAR": "road", "BUS": "bus", "TRAIN": "rail", "SUBWAY": "rail",
    "TRAM": "rail", "LIGHT_RAIL": "rail", "AIR_OR_HSR": "plane",
}  # fmt: skip
COARSE_OURS = {
    "walk": "walk", "run": "walk", "bike": "bike", "ebike": "bike", "escooter": "bike",
    "scooter": "road", "moto": "road", "car": "road", "bus": "bus", "coach": "bus",
    "tram": "rail", "metro": "rail", "train": "rail", "rer": "rail", "intercity": "rail",
    "hsr": "rail", "plane": "plane", "ferry": "other", "other": "other",
}  # fmt: skip
VEHICLE = frozenset({"road", "bus", "rail"})


@dataclass
class DayScore:
    day: str
    truth: int
    ours: int
    matched: int
    start_err_s: list[float] = field(default_factory=list)
    end_err_s: list[float] = field(default_factory=list)
    mode_agree_s: float = 0.0
    mode_total_s: float = 0.0
    truth_trips: list[tuple[float, float]] = field(default_factory=list)
    our_trips: list[tuple[float, float]] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)


def truth_of(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float, str]]]:
    """(trips as (start, end) epoch s, sections as (start, end, coarse mode)) of a ground truth."""
    doc = json.loads(path.read_text())
    trips, sections = [], []
    for trip in doc["data"]:
        p = trip["properties"]
        trips.append((float(p["start_ts"]), float(p["end_ts"])))
        for fc in trip.get("features", []):
            for f in fc.get("features", []) if fc.get("type") == "FeatureCollection" else []:
                q = f.get("properties", {})
                if q.get("feature_type") != "section":
                    continue
                mode = str(q.get("sensed_mode", "")).split(".")[-1]
                coarse = COARSE_TRUTH.get(mode)
                if coarse is not None:
                    sections.append((float(q["start_ts"]), float(q["end_ts"]), coarse))
    return sorted(trips), sorted(sections)


def match(truth: list[tuple[float, float]], ours: list[tuple[float, float]], iou_min: float = IOU_MIN):
    """One-to-one pairs (truth index, our index), greedily by decreasing temporal IoU ≥ ``iou_min``."""
    cands = []
    for i, (a0, a1) in enumerate(truth):
        for j, (b0, b1) in enumerate(ours):
            inter = min(a1, b1) - max(a0, b0)
            if inter <= 0:
                continue
            union = max(a1, b1) - min(a0, b0)
            iou = inter / union if union > 0 else 1.0
            if iou >= iou_min:
                cands.append((iou, i, j))
    used_t, used_o, pairs = set(), set(), []
    for _, i, j in sorted(cands, reverse=True):
        if i not in used_t and j not in used_o:
            used_t.add(i)
            used_o.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def _mode_agreement(sections, legs) -> tuple[float, float]:
    """Seconds of truth sections our legs agree with, and the truth sections' total seconds."""
    agree = total = 0.0
    for s0, s1, truth_mode in sections:
        total += s1 - s0
        for l0, l1, mode in legs:
            inter = min(s1, l1) - max(s0, l0)
            if inter <= 0:
                continue
            ours = COARSE_OURS.get(mode)
            if ours == truth_mode or (truth_mode == "vehicle" and ours in VEHICLE):
                agree += inter
    return agree, total


def score_day(dump: Path, truth_path: Path, params: Any = None) -> DayScore:
    """Import ``dump`` into a fresh store, segment it, score it against ``truth_path``."""
    from mobco2.ingest.importer import import_paths
    from mobco2.segment import SegmentParams, segment
    from mobco2.store import Store

    params = params or SegmentParams()
    truth, sections = truth_of(truth_path)
    with tempfile.TemporaryDirectory(prefix="mobco2_realday_") as tmp:
        store = Store(Path(tmp) / "store")
        res = import_paths(store, [dump], user_id="me")
        if res.exit_code != 0:
            raise RuntimeError(f"{dump.name}: import failed with exit code {res.exit_code}")
        segment(store, params=params)
        trips = store.query(
            "SELECT epoch_us(started_at) / 1e6 AS s, epoch_us(finished_at) / 1e6 AS e FROM trips ORDER BY s"
        ).to_pylist()
        legs = store.query(
            "SELECT epoch_us(started_at) / 1e6 AS s, epoch_us(finished_at) / 1e6 AS e, mode FROM legs ORDER BY s"
        ).to_pylist()
        store.close() if hasattr(store, "close") else None
    ours = [(r["s"], r["e"]) for r in trips]
    pairs = match(truth, ours)
    agree, total = _mode_agreement(sections, [(r["s"], r["e"], r["mode"]) for r in legs])
    day = dump.name.removeprefix("emission_").removesuffix(".json")
    return DayScore(
        day=day,
        truth=len(truth),
        ours=len(ours),
        matched=len(pairs),
        start_err_s=[abs(ours[j][0] - truth[i][0]) for i, j in pairs],
        end_err_s=[abs(ours[j][1] - truth[i][1]) for i, j in pairs],
        mode_agree_s=agree,
        mode_total_s=total,
        truth_trips=truth,
        our_trips=ours,
        pairs=pairs,
    )


def day_files(folders: list[Path]) -> list[tuple[Path, Path]]:
    """(dump, ground truth) pairs in ``folders``, sorted by name."""
    out = []
    for folder in folders:
        for truth in sorted(Path(folder).glob("*.ground_truth.json")):
            dump = truth.with_name(truth.name.replace(".ground_truth.json", ".json"))
            if dump.exists():
                out.append((dump, truth))
    return out


def totals(days: list[DayScore]) -> dict[str, float]:
    """Precision, recall, F1, start/end error median and p90 (s), mode agreement, over ``days``."""
    t = sum(d.truth for d in days)
    o = sum(d.ours for d in days)
    m = sum(d.matched for d in days)
    p = m / o if o else 0.0
    r = m / t if t else 0.0
    se = np.array([e for d in days for e in d.start_err_s])
    ee = np.array([e for d in days for e in d.end_err_s])
    q = lambda a, x: float(np.percentile(a, x)) if a.size else float("nan")  # noqa: E731
    agree = sum(d.mode_agree_s for d in days)
    total = sum(d.mode_total_s for d in days)
    return {
        "truth": t, "ours": o, "matched": m,
        "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "start_median_s": q(se, 50), "start_p90_s": q(se, 90),
        "end_median_s": q(ee, 50), "end_p90_s": q(ee, 90),
        "mode_agreement": agree / total if total else float("nan"),
        "days_count_within_one": sum(abs(d.truth - d.ours) <= 1 for d in days),
        "days_exact": sum(d.truth == d.ours == d.matched for d in days),
        "days": len(days),
    }  # fmt: skip


def score_days(folders: list[Path] | None = None, params: Any = None) -> tuple[list[DayScore], dict[str, float]]:
    """Score every day in ``folders`` (default: emission-real-dev); (per-day scores, totals)."""
    days = [score_day(d, t, params) for d, t in day_files(folders or [DEFAULT_DIR])]
    return days, totals(days)


def render(days: list[DayScore], tot: dict[str, float]) -> str:
    med = lambda a: f"{np.median(a):.0f}" if a else "-"  # noqa: E731
    lines = [
        "| day | truth | ours | matched | start err median (s) | end err median (s) | mode agreement |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for d in days:
        share = f"{d.mode_agree_s / d.mode_total_s:.2f}" if d.mode_total_s else "-"
        lines.append(
            f"| {d.day} | {d.truth} | {d.ours} | {d.matched} | {med(d.start_err_s)} | {med(d.end_err_s)} | {share} |"
        )
    lines.append(
        f"| **all** | {tot['truth']} | {tot['ours']} | {tot['matched']} | {tot['start_median_s']:.0f} "
        f"(p90 {tot['start_p90_s']:.0f}) | {tot['end_median_s']:.0f} (p90 {tot['end_p90_s']:.0f}) "
        f"| {tot['mode_agreement']:.2f} |"
    )
    lines.append("")
    lines.append(
        f"precision {tot['precision']:.3f}, recall {tot['recall']:.3f}, F1 {tot['f1']:.3f}; "
        f"{tot['days_exact']}/{tot['days']} days exactly right, "
        f"{tot['days_count_within_one']}/{tot['days']} with a trip count within one"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="*", type=Path, help="folders of emission_<day>.json + .ground_truth.json")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON")
    ap.add_argument("--trips", action="store_true", help="list every day's trips, truth beside ours")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a SegmentParams override")
    args = ap.parse_args(argv)
    from mobco2.segment import SegmentParams

    overrides = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k.removeprefix("segment.")] = json.loads(v)
    days, tot = score_days(args.dirs or None, SegmentParams(**overrides))
    if args.json:
        print(json.dumps({"days": [asdict(d) for d in days], "totals": tot}, indent=1))
        return 0
    print(render(days, tot))
    if args.trips:
        from datetime import UTC, datetime

        hm = lambda x: datetime.fromtimestamp(x, UTC).strftime("%H:%M:%S")  # noqa: E731
        for d in days:
            print(f"\n{d.day}")
            of_truth = dict(d.pairs)
            of_ours = {j: i for i, j in d.pairs}
            for i, (s, e) in enumerate(d.truth_trips):
                j = of_truth.get(i)
                tag = f"= ours #{j}" if j is not None else "MISSED"
                print(f"  truth #{i} {hm(s)}-{hm(e)} {tag}")
            for j, (s, e) in enumerate(d.our_trips):
                if j not in of_ours:
                    print(f"  ours  #{j} {hm(s)}-{hm(e)} EXTRA")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
