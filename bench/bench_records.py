"""Benchmark reading a big Google ``Records.json``: json.load against mobco2's two reading paths.

Each task runs in its own subprocess so that its peak memory is its own (``ru_maxrss`` from
``resource.getrusage``; worker processes are reported separately, per worker). The file is read
once before the tasks so every task starts from a warm page cache. Tasks:

``json``      ``json.load`` of the whole file, the reference (stdlib dicts for everything)
``typed``     ``google_records.parse`` as the importer runs it (msgspec on parts; worker
              processes for a big file on Linux)
``typed-1``   the same in one process (``workers=1``)
``low``       ``google_records.parse`` with ``low_memory=True`` (ijson streaming)
``import``    the whole ``mobco2 import`` into a new store: parse, validate, deduplicate, write
              Parquet, commit (DESIGN §8 budget: ≥ 300 MB/s, peak RSS ≤ file size + 1 GB)
``import-low`` the same with ``--low-memory`` (budget: peak RSS ≤ 300 MB)

Wall times on a shared machine vary with the neighbours' load; CPU seconds (self + workers, and
the workers' share) are printed beside them for that reason: on a 2-core machine the import is
CPU-bound, so wall ≈ CPU / 2 at best.

Example::

    .venv/bin/python bench/bench_records.py --size-mb 200          # generate into a temp dir
    .venv/bin/python bench/bench_records.py /data/Records.json --tasks typed,low
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = ("json", "typed", "typed-1", "low", "import", "import-low")


def _run(task: str, path: Path) -> dict:
    """Run one task in this process and measure it."""
    size = path.stat().st_size
    if task != "json":  # imported before the clock starts: parsing is measured, not start-up
        from mobco2.ingest import google_records
        from mobco2.ingest.base import ParseContext, Source
    t0 = time.perf_counter()
    points = 0
    if task.startswith("import"):
        import tempfile as _tf

        from mobco2.ingest import import_paths
        from mobco2.store import Store

        store = Store(_tf.mkdtemp(prefix="mobco2-bench-store-"))
        store.info()  # create the catalog before the clock starts
        t0 = time.perf_counter()
        summary = import_paths(store, [path], user_id="bench", low_memory=task == "import-low")
        points = summary.total("added")
        wall = time.perf_counter() - t0
        shutil.rmtree(store.root, ignore_errors=True)  # ~50 MB of Parquet per run
    elif task == "json":
        with open(path, "rb") as f:
            doc = json.load(f)
        points = len(doc["locations"])
        del doc
    else:
        ctx = ParseContext(str(path), low_memory=task == "low", options={"workers": "1" if task == "typed-1" else ""})
        for batch in google_records.parse(Source.from_path(path), ctx):
            points += batch.points.num_rows
    if not task.startswith("import"):
        wall = time.perf_counter() - t0
    deadline = time.monotonic() + 30
    while multiprocessing.active_children() and time.monotonic() < deadline:  # reap the workers so that
        time.sleep(0.01)  # RUSAGE_CHILDREN counts them (the pool is shut down without waiting)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "task": task,
        "bytes": size,
        "points": points,
        "wall_s": wall,
        "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "worker_cpu_s": kids.ru_utime + kids.ru_stime,
        "rss_mb": me.ru_maxrss / 1024,
        "worker_rss_mb": kids.ru_maxrss / 1024,
    }


def _verdict(r: dict) -> str:
    """DESIGN §8 for the import tasks: ≥ 300 MB/s and RSS ≤ size + 1 GB; low-memory RSS ≤ 300 MB."""
    mb_s = r["bytes"] / 1e6 / r["wall_s"]
    if r["task"] == "import":
        rss_ok = r["rss_mb"] + r["worker_rss_mb"] <= r["bytes"] / 1024**2 + 1024
        speed = "ok" if mb_s >= 300 else "SLOW"
        return f"speed {speed}, memory {'ok' if rss_ok else 'OVER'} (workers counted)"
    if r["task"] == "import-low":
        return f"memory {'ok' if r['rss_mb'] <= 300 and not r['worker_rss_mb'] else 'OVER'}"
    return ""


def _warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", type=Path, help="a Records.json (default: generate one)")
    p.add_argument("--size-mb", type=float, default=1024.0, help="size to generate when no path is given")
    p.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)}")
    p.add_argument("--run", help=argparse.SUPPRESS)  # internal: run one task in this process
    args = p.parse_args(argv)

    if args.run:
        print(json.dumps(_run(args.run, args.path)))
        return 0

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = set(tasks) - set(TASKS)
    if unknown:
        p.error(f"unknown task(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="mobco2-bench-") as tmp:
        path = args.path
        if path is None:
            sys.path.insert(0, str(HERE))
            from gen_records import write_records

            path = Path(tmp) / "Records.json"
            n = write_records(path, int(args.size_mb * 1024**2))
            print(f"generated {n} records, {path.stat().st_size / 1e6:.0f} MB in {path}", file=sys.stderr)
        _warm(path)
        results = []
        for task in tasks:
            out = subprocess.run(
                [sys.executable, __file__, "--run", task, str(path)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(HERE.parent)},
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref = next((r for r in results if r["task"] == "json"), None)
    print(f"{'task':10} {'MB/s':>6} {'Mpts/s':>6} {'wall s':>6} {'cpu s':>6} {'(wkrs)':>6} {'RSS MB':>6} "
          f"{'worker':>6} {'vs json':>7}  DESIGN §8 budget")  # fmt: skip
    for r in results:
        mb = r["bytes"] / 1e6
        ratio = f"{ref['wall_s'] / r['wall_s']:.1f}x" if ref else "-"
        print(
            f"{r['task']:10} {mb / r['wall_s']:6.0f} {r['points'] / r['wall_s'] / 1e6:6.2f} {r['wall_s']:6.2f} "
            f"{r['cpu_s']:6.2f} {r.get('worker_cpu_s', 0.0):6.2f} {r['rss_mb']:6.0f} {r['worker_rss_mb']:6.0f} "
            f"{ratio:>7}  {_verdict(r)}"
        )
    print(f"file: {results[0]['bytes'] / 1e6:.0f} MB, {results[0]['points']} records; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
