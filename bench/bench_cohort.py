"""A cohort end to end: participants' GPX exports → one store with trips, legs and emissions.

DESIGN §8: ≥ 2 M points/s end to end on 2 cores; linear in participants on a Dask cluster.

A generated cohort of ``200 × scale`` participant-months of ~100 k points each (GPS every 3 s on
the move, every minute at rest; ``tests/segment/gen.py``), one GPX file per participant — a
handful of distinct traces hard-linked under every participant's folder, so generating it is
cheap while every participant is still read, parsed and segmented on its own. Then, each in a
fresh process so every configuration pays its own start-up:

* ``local-1``, ``local-2``: ``run_cohort(..., workers=N)`` (process pool);
* ``dask-1``, ``dask-2``: the same on a ``LocalCluster(n_workers=N, threads_per_worker=1)``
  started *before* the clock (an existing cluster, as ``--scheduler`` assumes).

Anchor, in the same run: one participant's task (``run_task``: import → segment → emissions into
a private store) run in-process, warm, which is the best one core can do per participant; the
cohort's per-core efficiency is reported against it. Reported: wall, participants/s, points/s,
the scaling ratio 2 workers / 1 worker, workers' CPU seconds (their own clocks, per task),
the coordinator's commit time, and where the workers' time goes.

Usage: ``python bench/bench_cohort.py [--scale 1.0] [--points 100000] [--configs local-1,...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._util import REPO, machine, table

BUDGET_POINTS_PER_S = 2_000_000
DISTINCT_TRACES = 8

_GEN = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.cohort.gen import write_gpx
from tests.segment import gen
i, n, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
cfg = gen.Config(move_dt_s=3.0, stay_dt_s=60.0)
print(write_gpx(gen.trace_with_points(n, seed=1000 + i, cfg=cfg), out))
"""

_RUN = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from mobco2 import Store
from mobco2.cohort import run_cohort
config, cohort, store = sys.argv[1], sys.argv[2], sys.argv[3]
kind, n = config.split("-")
cluster = None
if kind == "dask":
    from dask.distributed import LocalCluster
    cluster = LocalCluster(n_workers=int(n), processes=True, threads_per_worker=1, dashboard_address=":0")
    kw = {{"scheduler": cluster.scheduler_address}}
else:
    kw = {{"workers": int(n)}}
ru0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
s = run_cohort(Store(store), cohort, **kw)
wall = time.perf_counter() - t0
ru1 = resource.getrusage(resource.RUSAGE_SELF)
if cluster is not None:
    cluster.close()
print(json.dumps({{"wall_s": wall, "processed": s.processed, "failed": len(s.failed), "points": s.points,
                  "trips": s.trips, "task_s": s.task_seconds, "commit_s": s.commit_seconds,
                  "coordinator_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)}}))
"""

_ANCHOR = """
import json, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from mobco2.cohort.manifest import load_cohort
from mobco2.cohort.tasks import Task, method_key, run_task
from mobco2.segment import SegmentParams
cohort, work = sys.argv[1], Path(sys.argv[2])
params = SegmentParams.from_config(); key = method_key(params)
people = load_cohort(cohort).participants[:4]
run_task(Task(people[0], str(work / "warm"), params, key))  # imports and caches warm
t0, c0 = time.perf_counter(), time.process_time()
points = 0
for p in people[1:]:
    points += run_task(Task(p, str(work / p.participant_id), params, key)).points
print(json.dumps({{"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "points": points,
                  "participants": len(people) - 1}}))
"""


def _python(code: str, *args: str, timeout_s: float = 3600) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code.format(repo=str(REPO)), *args], capture_output=True,
                          text=True, timeout=timeout_s, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_cohort(root: Path, participants: int, points: int) -> int:
    """Folders p000… each holding one GPX file (hard links to a few distinct traces)."""
    traces = []
    for i in range(min(DISTINCT_TRACES, participants)):
        path = root / f"trace-{i}.gpx"
        n = _python(_GEN, str(i), str(points), str(path))
        traces.append((path, n))
    total = 0
    for i in range(participants):
        folder = root / "exports" / f"p{i:03d}"
        folder.mkdir(parents=True)
        path, n = traces[i % len(traces)]
        os.link(path, folder / "track.gpx")
        total += n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="participants = 200 × scale (default 1)")
    ap.add_argument("--points", type=int, default=100_000, help="points per participant-month")
    ap.add_argument("--configs", default="local-1,local-2,dask-1,dask-2")
    args = ap.parse_args()
    participants = max(4, round(200 * args.scale))
    with tempfile.TemporaryDirectory(prefix="bench-cohort-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        total = make_cohort(root, participants, args.points)
        print(f"generated {participants} participants, {total} points in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        load_before = os.getloadavg()
        anchor = _python(_ANCHOR, str(root / "exports"), str(root / "anchor"))
        anchor_pps = anchor["points"] / anchor["wall_s"]
        rows = []
        for config in args.configs.split(","):
            r = _python(_RUN, config, str(root / "exports"), str(root / f"store-{config}"))
            workers = int(config.split("-")[1])
            t = r["task_s"]
            rows.append({
                "config": config,
                "participants": r["processed"],
                "failed": r["failed"],
                "wall s": f"{r['wall_s']:.1f}",
                "participants/s": f"{r['processed'] / r['wall_s']:.2f}",
                "points/s": f"{r['points'] / r['wall_s'] / 1e3:.0f} k",
                "per worker vs anchor": f"{r['points'] / r['wall_s'] / workers / anchor_pps:.2f}",
                "workers' CPU s": f"{t.get('cpu', 0):.1f}",
                "import / segment s": f"{t.get('import', 0):.1f} / {t.get('segment', 0):.1f}",
                "coordinator CPU s": f"{r['coordinator_cpu_s']:.1f}",
                "commits s": f"{r['commit_s']:.1f}",
                "_pps": r["points"] / r["wall_s"],
            })
            print(f"{config}: {r['wall_s']:.1f} s", file=sys.stderr)
        load_after = os.getloadavg()
    print(f"\n{machine()}")
    print(f"uptime load before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"{participants} participant-months × ~{args.points} points = {total} points\n")
    print(f"anchor (one task in-process, warm, one core): {anchor_pps / 1e3:.0f} k points/s "
          f"({anchor['cpu_s'] / anchor['participants']:.2f} CPU s a participant)\n")
    cols = ["config", "participants", "failed", "wall s", "participants/s", "points/s", "per worker vs anchor",
            "workers' CPU s", "import / segment s", "coordinator CPU s", "commits s"]
    print(table(rows, cols))
    by = {r["config"]: r["_pps"] for r in rows}
    for kind in ("local", "dask"):
        if f"{kind}-1" in by and f"{kind}-2" in by:
            print(f"scaling {kind}: 2 workers / 1 worker = {by[f'{kind}-2'] / by[f'{kind}-1']:.2f}")
    best = max(by.values())
    verdict = "met" if best >= BUDGET_POINTS_PER_S else "NOT met"
    print(f"budget ≥ {BUDGET_POINTS_PER_S / 1e6:.0f} M points/s on 2 cores: {verdict} (best {best / 1e6:.2f} M)")


if __name__ == "__main__":
    main()
