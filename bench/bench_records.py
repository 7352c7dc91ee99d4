"""Benchmark importing a big Google ``Records.json`` the way a user does: ``mobco2 import`` as a
fresh process, timed from outside, against ``json.load`` of the same file in the same run.

Every task is a new process started from here, so interpreter start-up, the command's imports,
the catalog commit and the worker processes all count. For each one the bench reports wall
seconds, user+sys CPU seconds of the whole process tree (``os.wait4``: the command and every
worker it reaped), the peak RSS of the tree (the sum over the command and its workers, sampled
every 20 ms with psutil) and of its largest process. Tasks:

``json``        ``python -c 'json.load(open(FILE, "rb"))'``, the reference (stdlib dicts)
``import``      ``mobco2 --store NEW import FILE`` (DESIGN §8: ≥ 300 MB/s, peak RSS ≤ file + 1 GB;
                issue 17: ≥ 8× ``json.load`` in the same run)
``import-low``  the same with ``--low-memory`` (budget: peak RSS ≤ 300 MB)

Before each task the file is read once, so every task starts from the same warm page cache
(the state right after a download or an unzip). The header prints what decides the speed
besides our code: the versions of msgspec, pyarrow, numpy, duckdb, pandas, the Python build
(compiler, ``--enable-optimizations``/LTO from sysconfig's CONFIG_ARGS, pyenv or not), the CPU,
transparent huge pages, and any MALLOC_*/PYTHON*/ARROW_* variable set. Each run prints the load
average; on a shared machine compare CPU seconds and same-run ratios, not wall times alone.

Example::

    .venv/bin/python bench/bench_records.py --size-mb 1024 --runs 3
    .venv/bin/python bench/bench_records.py --size-mb 1024 --shape mixed --runs 3
    .venv/bin/python bench/bench_records.py /data/Records.json --tasks json,import
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASKS = ("json", "import", "import-low")
_JSON = "import json, sys\nwith open(sys.argv[1], 'rb') as f:\n    print(len(json.load(f)['locations']))"
_VERSIONS = """
import json, platform, sys, sysconfig
from importlib import metadata
args = sysconfig.get_config_var("CONFIG_ARGS") or ""
out = {"python": sys.version.split()[0], "compiler": platform.python_compiler(),
       "optimizations": "--enable-optimizations" in args, "lto": "--with-lto" in args,
       "pyenv": ".pyenv" in sys.base_prefix, "prefix": sys.base_prefix}
for name in ("msgspec", "pyarrow", "numpy", "duckdb", "pandas"):
    try:
        out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        out[name] = "-"
print(json.dumps(out))
"""


def _mobco2(explicit: str | None) -> list[str]:
    """The ``mobco2`` command a user of this install runs."""
    if explicit:
        return [explicit]
    for candidate in (Path(sys.executable).parent / "mobco2", HERE.parent / ".venv" / "bin" / "mobco2"):
        if candidate.exists():
            return [str(candidate)]
    return [sys.executable, "-m", "mobco2"]


def _python_of(cmd: list[str]) -> str:
    """The interpreter behind ``cmd`` (its script's shebang, or the interpreter itself)."""
    if len(cmd) > 1:
        return cmd[0]
    with open(cmd[0], "rb") as f:
        first = f.readline().decode(errors="replace")
    return first[2:].strip() if first.startswith("#!") else sys.executable


def _tree_rss(pid: int) -> tuple[int, int]:
    """(sum, largest) RSS in bytes of ``pid`` and its descendants; (0, 0) once it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    sizes = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            sizes.append(p.memory_info().rss)
    return sum(sizes), max(sizes, default=0)


def _timed(cmd: list[str]) -> dict:
    """Run ``cmd`` as a fresh process: wall, tree CPU (wait4), peak tree RSS (sampled)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak = {"tree": 0, "largest": 0}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                tree, largest = _tree_rss(proc.pid)
                peak["tree"] = max(peak["tree"], tree)
                peak["largest"] = max(peak["largest"], largest)
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): wait4 also gives the tree's rusage
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {stderr.strip()[-500:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "rss_tree_mb": peak["tree"] / 1024**2,
        "rss_largest_mb": max(peak["largest"] / 1024**2, usage.ru_maxrss / 1024),
        "stdout": stdout,
        "stderr": stderr,
    }


def _warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _environment(python: str) -> dict:
    out = subprocess.run([python, "-c", _VERSIONS], check=True, capture_output=True, text=True)
    env = json.loads(out.stdout)
    sys.path.insert(0, str(HERE))
    from _util import machine

    env["cpu"] = machine()
    thp = []
    for name in ("enabled", "defrag"):
        with contextlib.suppress(OSError):
            thp.append(f"{name} {Path('/sys/kernel/mm/transparent_hugepage', name).read_text().strip()}")
    env["thp"] = "; ".join(thp) or "-"
    prefixes = ("MALLOC_", "PYTHON", "ARROW_", "OMP_", "MIMALLOC_", "JE_", "LD_PRELOAD")
    env["env"] = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith(prefixes)) or "none"
    return env


def _verdict(task: str, r: dict, size: int, ref: dict | None) -> str:
    mb_s = size / 1e6 / r["wall_s"]
    if task == "import":
        notes = [f"speed {'ok' if mb_s >= 300 else 'SLOW'}"]
        if ref is not None:
            notes.append(f"{'ok' if ref['wall_s'] / r['wall_s'] >= 8 else 'UNDER'} 8x json.load")
        notes.append(f"memory {'ok' if r['rss_tree_mb'] <= size / 1024**2 + 1024 else 'OVER'}")
        return ", ".join(notes)
    if task == "import-low":
        return f"memory {'ok' if r['rss_tree_mb'] <= 300 else 'OVER'}"
    return ""


def _run_once(tasks: list[str], path: Path, mobco2: list[str], python: str, tmp: Path) -> list[tuple[str, dict]]:
    results = []
    for task in tasks:
        _warm(path)
        if task == "json":
            r = _timed([python, "-c", _JSON, str(path)])
            r["points"] = int(r["stdout"].strip().splitlines()[-1])
        else:
            store = tmp / f"store-{task}"
            shutil.rmtree(store, ignore_errors=True)
            extra = ["--low-memory"] if task == "import-low" else []
            r = _timed([*mobco2, "--store", str(store), "import", *extra, str(path)])
            r["points"] = 0
            shutil.rmtree(store, ignore_errors=True)  # ~50 MB of Parquet per run
        results.append((task, r))
    return results


def _print_run(k: int, results: list[tuple[str, dict]], size: int, load: tuple[float, float]) -> None:
    ref = next((r for t, r in results if t == "json"), None)
    print(f"run {k}: load average {load[0]:.2f} before, {load[1]:.2f} after")
    print(f"  {'task':10} {'MB/s':>6} {'wall s':>7} {'cpu s':>6} {'user':>6} {'sys':>5} {'MB/cpu-s':>8} "
          f"{'RSS tree':>8} {'largest':>7} {'vs json':>7}  budget")  # fmt: skip
    for task, r in results:
        ratio = f"{ref['wall_s'] / r['wall_s']:.1f}x" if ref else "-"
        print(
            f"  {task:10} {size / 1e6 / r['wall_s']:6.0f} {r['wall_s']:7.2f} {r['cpu_s']:6.2f} {r['user_s']:6.2f} "
            f"{r['sys_s']:5.2f} {size / 1e6 / r['cpu_s']:8.0f} {r['rss_tree_mb']:8.0f} {r['rss_largest_mb']:7.0f} "
            f"{ratio:>7}  {_verdict(task, r, size, ref)}"
        )
    if ref is not None:
        imp = next((r for t, r in results if t == "import"), None)
        if imp is not None:
            print(f"  import vs json.load in CPU seconds: {ref['cpu_s'] / imp['cpu_s']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", type=Path, help="a Records.json (default: generate one)")
    p.add_argument("--size-mb", type=float, default=1024.0, help="size to generate when no path is given")
    p.add_argument("--shape", default="google", help="generator shape (bench/gen_records.py): google or mixed")
    p.add_argument("--tasks", default="json,import", help=f"comma-separated, from {', '.join(TASKS)}")
    p.add_argument("--runs", type=int, default=1, help="repeat the tasks this many times (default 1)")
    p.add_argument("--mobco2", help="the mobco2 command to time (default: the one beside this python)")
    args = p.parse_args(argv)

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = set(tasks) - set(TASKS)
    if unknown:
        p.error(f"unknown task(s): {', '.join(sorted(unknown))}")
    mobco2 = _mobco2(args.mobco2)
    python = _python_of(mobco2)
    env = _environment(python)
    print(f"mobco2: {' '.join(mobco2)}")
    print(f"python {env['python']} ({env['compiler']}; {env['prefix']}; pyenv {env['pyenv']}, "
          f"--enable-optimizations {env['optimizations']}, LTO {env['lto']})")  # fmt: skip
    print(f"msgspec {env['msgspec']}, pyarrow {env['pyarrow']}, numpy {env['numpy']}, duckdb {env['duckdb']}, "
          f"pandas {env['pandas']}")  # fmt: skip
    print(f"machine: {env['cpu']}; transparent huge pages: {env['thp']}; environment: {env['env']}")
    with tempfile.TemporaryDirectory(prefix="mobco2-bench-") as tmp_name:
        tmp = Path(tmp_name)
        path = args.path
        if path is None:
            sys.path.insert(0, str(HERE))
            from gen_records import write_records

            path = tmp / "Records.json"
            n = write_records(path, int(args.size_mb * 1024**2), shape=args.shape)
            print(f"generated {n} records ({args.shape} shape)")
        size = path.stat().st_size
        print(f"file: {path} ({size / 1e6:.0f} MB)", flush=True)
        for k in range(1, args.runs + 1):
            before = os.getloadavg()[0]
            results = _run_once(tasks, path, mobco2, python, tmp)
            _print_run(k, results, size, (before, os.getloadavg()[0]))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
