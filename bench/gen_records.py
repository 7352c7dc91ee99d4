"""Write a synthetic Google Takeout ``Records.json`` of a requested size, laid out like Google's.

The layout is the 2022–2024 Takeout one: 2-space indent, ``}, {`` between records, ISO
``timestamp`` per record (``--timestamp-ms`` writes the older ``timestampMs`` strings instead).
About 30 % of records carry the nested ``activity`` list and about 50 % carry
``velocity``/``heading``/``altitude``/``verticalAccuracy``, like real histories
(input-formats.md §1a, §5). The walk is a random drift around Toulouse, one fix a minute or so.

``--shape mixed`` is a history exported across Google's format change: each record (and each
activity entry) picks ``timestamp`` or ``timestampMs`` at random, and half of the records carry
an activity list.

Example::

    .venv/bin/python bench/gen_records.py /tmp/Records.json --size-mb 200
    .venv/bin/python bench/gen_records.py /tmp/Mixed.json --size-mb 200 --shape mixed

The file is never written inside the repository.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ACTIVITY_TYPES = (
    "STILL",
    "IN_VEHICLE",
    "ON_FOOT",
    "WALKING",
    "UNKNOWN",
    "TILTING",
    "ON_BICYCLE",
    "IN_ROAD_VEHICLE",
    "IN_RAIL_VEHICLE",
    "RUNNING",
)
SOURCES = ("WIFI", "GPS", "CELL", "UNKNOWN")
SHAPES = {
    # shape: (share of records with an activity list, share of stamps written as timestampMs)
    "google": (0.3, 0.0),
    "mixed": (0.5, 0.5),
}


def _iso(ms: int) -> str:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _stamp(rng: random.Random, ms: int, ms_share: float, indent: str) -> str:
    if ms_share and (ms_share >= 1 or rng.random() < ms_share):
        return f'{indent}"timestampMs": "{ms}"\n'
    return f'{indent}"timestamp": "{_iso(ms)}"\n'


def _activity(rng: random.Random, ms: int, ms_share: float) -> str:
    entries = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        k = rng.choice((1, 2, 3, 3, 4))
        types = rng.sample(ACTIVITY_TYPES, k)
        left = 100
        cands = []
        for i, t in enumerate(types):
            c = left if i == k - 1 else rng.randint(0, left)
            left -= c
            cands.append(f'        "type": "{t}",\n        "confidence": {c}\n')
        body = "      }, {\n".join(cands)
        stamp = _stamp(rng, ms + rng.randint(-60_000, 60_000), ms_share, "      ")
        entries.append(f'      "activity": [{{\n{body}      }}],\n{stamp}')
    return '    "activity": [{\n' + "    }, {\n".join(entries) + "    }],\n"


def _record(rng: random.Random, ms: int, lat: float, lon: float, activity_share: float, ms_share: float) -> str:
    parts = [
        f'    "latitudeE7": {round(lat * 1e7)},\n',
        f'    "longitudeE7": {round(lon * 1e7)},\n',
        f'    "accuracy": {rng.choice((3, 5, 10, 14, 20, 25, 40, 65, 900, 18000))},\n',
    ]
    if rng.random() < 0.5:
        parts.append(f'    "velocity": {rng.randint(0, 40)},\n')
        parts.append(f'    "heading": {rng.randint(0, 359)},\n')
        parts.append(f'    "altitude": {rng.randint(100, 400)},\n')
        parts.append(f'    "verticalAccuracy": {rng.randint(1, 30)},\n')
    if rng.random() < activity_share:
        parts.append(_activity(rng, ms, ms_share))
    parts.append(f'    "source": "{rng.choice(SOURCES)}",\n')
    parts.append(f'    "deviceTag": {rng.choice((1978796627, -663413243))},\n')
    parts.append('    "platformType": "ANDROID",\n')
    if rng.random() < 0.5:
        parts.append(f'    "serverTimestamp": "{_iso(ms + 5_000)}",\n')
        parts.append('    "batteryCharging": false,\n')
        parts.append('    "formFactor": "PHONE",\n')
    parts.append(_stamp(rng, ms, ms_share, "    "))
    return "".join(parts)


def write_records(
    path: Path, size_bytes: int, *, seed: int = 1, timestamp_ms: bool = False, shape: str = "google"
) -> int:
    """Write at least ``size_bytes`` of Records.json to ``path``; returns the number of records.

    ``shape`` is a key of :data:`SHAPES`; ``timestamp_ms`` writes every stamp as ``timestampMs``.
    """
    activity_share, ms_share = SHAPES[shape]
    if timestamp_ms:
        ms_share = 1.0
    rng = random.Random(seed)
    ms = 1_420_070_400_000  # 2015-01-01T00:00:00Z
    lat, lon = 43.6045, 1.4440
    n = 0
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write('{\n  "locations": [{\n')
        buf: list[str] = []
        while written < size_bytes:
            for _ in range(10_000):
                ms += rng.randint(20_000, 120_000)
                lat = min(max(lat + rng.gauss(0, 0.0005), 42.0), 45.0)
                lon = min(max(lon + rng.gauss(0, 0.0005), 0.0), 3.0)
                buf.append(_record(rng, ms, lat, lon, activity_share, ms_share))
                n += 1
            chunk = "  }, {\n".join(buf)
            if written:
                chunk = "  }, {\n" + chunk
            f.write(chunk)
            written += len(chunk)
            buf.clear()
        f.write("  }]\n}\n")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", type=Path, help="where to write (outside the repository)")
    p.add_argument("--size-mb", type=float, default=1024.0, help="target size in MiB (default 1024)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timestamp-ms", action="store_true", help="legacy timestampMs strings")
    p.add_argument("--shape", choices=sorted(SHAPES), default="google", help="google (default) or mixed")
    args = p.parse_args(argv)
    target = args.path.resolve()
    if target.is_relative_to(REPO):
        print(f"refusing to write {target}: generated data never goes inside the repository", file=sys.stderr)
        return 2
    size = int(args.size_mb * 1024**2)
    n = write_records(target, size, seed=args.seed, timestamp_ms=args.timestamp_ms, shape=args.shape)
    print(f"wrote {n} records, {target.stat().st_size / 1024**2:.0f} MiB to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
