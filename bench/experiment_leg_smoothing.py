"""Evidence for the leg-smoothing defaults (``segment.min_leg_s``, ``segment.min_leg_m``).

Two kinds of data, each with a known truth:

* generated multimodal weeks (tests/segment/gen.py, seeds 31-35): true legs and their modes;
* the real e-mission days in ``../shared/sample-inputs/emission-real-dev/``: the raw dump
  segmented by mobco2, scored against e-mission's reviewed sections (the ``ground_truth`` files;
  their ``sensed_mode`` mapped to our vocabulary and compared by family: foot, cycle, vehicle).

For every pair of thresholds in a small grid it prints the time-weighted leg-mode accuracy, the
number of found legs against the true number, how many true walks between two motorised legs
survive as walks, and, on four 40-minute rides at the borderline speeds of the issue (1.5-3 m/s,
tests/segment/test_smooth.py ``bike_track``; one true leg each), how many legs come out and the
shortest. It also prints the shortest true legs, which bound what a minimum may
merge away. Run: ``.venv/bin/python bench/experiment_leg_smoothing.py`` (a few minutes).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mobco2.segment import SegmentParams, segment_points  # noqa: E402
from tests.segment import gen  # noqa: E402
from tests.segment.test_smooth import bike_track  # noqa: E402
from tests.segment.test_sources import parse_real  # noqa: E402

REAL = ROOT.parent / "shared" / "sample-inputs" / "emission-real-dev"
FAMILY = {"walk": "foot", "run": "foot", "bike": "cycle", "ebike": "cycle"}
SENSED = {"ON_FOOT": "walk", "WALKING": "walk", "RUNNING": "walk", "BICYCLING": "bike", "IN_VEHICLE": "car",
          "CAR": "car", "BUS": "car", "TRAIN": "car", "AIR_OR_HSR": "car", "SUBWAY": "car", "TRAM": "car",
          "LIGHT_RAIL": "car", "UNKNOWN": None, "STILL": None}
GRID = [(0.0, 0.0), (30.0, 100.0), (60.0, 100.0), (60.0, 150.0), (60.0, 200.0), (90.0, 200.0), (120.0, 300.0)]


def _family(modes) -> np.ndarray:
    return np.array([FAMILY.get(m, "vehicle") if m else None for m in modes], dtype=object)


def real_truth(path: Path) -> pd.DataFrame:
    doc = json.loads(path.read_text())
    rows = []
    for trip in doc["data"]:
        for f in trip["features"]:
            if f.get("type") != "FeatureCollection":
                continue
            for sec in f["features"]:
                p = sec["properties"]
                raw = str(p.get("sensed_mode", "")).split(".")[-1]
                mode = SENSED.get(raw)
                if mode:
                    rows.append((int(p["start_ts"] * 1e6), int(p["end_ts"] * 1e6), mode, p.get("distance", np.nan)))
    return pd.DataFrame(rows, columns=["start_us", "end_us", "mode", "distance_m"])


def transfer_walks(truth: pd.DataFrame) -> pd.DataFrame:
    """True walks with a motorised leg right before and after (within 10 minutes)."""
    t = truth.sort_values("start_us").reset_index(drop=True)
    motor = ~t["mode"].isin(["walk", "run", "bike", "ebike"])
    near_prev = (t.start_us - t.end_us.shift(1)) < 600e6
    near_next = (t.start_us.shift(-1) - t.end_us) < 600e6
    return t[(t["mode"] == "walk") & motor.shift(1, fill_value=False) & motor.shift(-1, fill_value=False)
             & near_prev & near_next]


def score(found: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, int]:
    f = found.assign(mode=_family(found["mode"]))
    t = truth.assign(mode=_family(truth["mode"]))
    acc = gen.leg_mode_accuracy(f, t)
    walks = transfer_walks(truth)
    kept = 0
    s = found.started_at.astype("int64").to_numpy() // 1000 if found.started_at.dt.unit == "ns" else \
        found.started_at.astype("int64").to_numpy()
    e = found.finished_at.astype("int64").to_numpy() // 1000 if found.finished_at.dt.unit == "ns" else \
        found.finished_at.astype("int64").to_numpy()
    for w in walks.itertuples():
        ov = np.clip(np.minimum(e, w.end_us) - np.maximum(s, w.start_us), 0, None)
        j = int(np.argmax(ov)) if ov.size else -1
        kept += bool(j >= 0 and ov[j] > 0 and found["mode"].iloc[j] == "walk")
    return acc, kept


def main() -> None:
    cases = []
    for seed in (31, 32, 33, 34, 35):
        tr = gen.person_trace(8, seed=seed)
        cases.append((f"generated week seed {seed}", tr.points, tr.legs))
    for path in sorted(REAL.glob("*.ground_truth.json")):
        dump = path.with_name(path.name.replace(".ground_truth", ""))
        points, _ = parse_real(dump, "emission")
        cases.append((f"real {dump.stem}", points, real_truth(path)))
    print(f"load average {os.getloadavg()[0]:.2f}; {len(cases)} traces")
    truths = pd.concat([c[2].assign(case=c[0]) for c in cases])
    dur = (truths.end_us - truths.start_us) / 1e6
    print("shortest true legs (s):", np.round(np.sort(dur.to_numpy())[:10], 0).tolist())
    tw = pd.concat([transfer_walks(c[2]) for c in cases])
    print(f"true walks between motorised legs: {len(tw)}; shortest (s):",
          np.round(np.sort(((tw.end_us - tw.start_us) / 1e6).to_numpy())[:5], 0).tolist())
    rides = [bike_track(seed, v_mps=(1.5, 3.0)) for seed in range(4)]
    print("| min_leg_s | min_leg_m | generated accuracy (mean) | real accuracy (mean) | legs found / true "
          "| transfer walks kept | borderline rides: legs / shortest m |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for min_s, min_m in GRID:
        params = SegmentParams(min_leg_s=min_s, min_leg_m=min_m)
        gen_acc, real_acc, n_found, n_true, kept = [], [], 0, 0, 0
        for name, points, truth in cases:
            legs = segment_points(points, params=params).legs.to_pandas()
            acc, k = score(legs, truth)
            (gen_acc if name.startswith("generated") else real_acc).append(acc)
            n_found += len(legs)
            n_true += len(truth)
            kept += k
        ride_legs = [segment_points(r, params=params).legs.to_pandas() for r in rides]
        n_ride = sum(len(x) for x in ride_legs)
        shortest = min(x.distance_m.min() for x in ride_legs)
        print(f"| {min_s:.0f} | {min_m:.0f} | {np.mean(gen_acc):.3f} | {np.mean(real_acc):.3f} | "
              f"{n_found} / {n_true} | {kept} / {len(tw)} | {n_ride} / {shortest:.0f} |")


if __name__ == "__main__":
    main()
