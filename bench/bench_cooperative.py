"""The cooperative's receiver under load: requests/s and latency against the real server.

Starts ``mobco2 aggregate serve`` on 127.0.0.1 (a real subprocess), then, from several client
processes each with one keep-alive connection, in the same run:

- ``GET /health`` — the anchor: what uvicorn + Starlette + httpx cost with no work at all;
- ``POST`` new signed documents — parse, schema, Ed25519 verification, temp + fsync + link;
- ``POST`` the same documents again — replays answered 200 without a second file;

and finally ``aggregate`` over what was stored (documents/s, in process). Loopback only,
bounded by ``--requests``. Prints wall and user+sys CPU seconds (server and clients; CPU includes
the clients' start-up), ratios to the anchor, and ``uptime``.

Usage: python bench/bench_cooperative.py [--requests 2000] [--clients 4] [--participants 200]
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
from bench._util import machine, table

_CLIENT = r"""
import hashlib, json, os, sys, time, httpx
url, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
bodies = json.load(open(path)) if path != "-" else None
n = int(sys.argv[4])
lat, codes = [], {}
t_cpu = os.times()
with httpx.Client(timeout=120) as c:
    c.get(url.rsplit("/", 1)[0] + "/health")  # connect before the clock starts
    start = time.time()
    for i in range(n):
        t0 = time.perf_counter()
        if method == "GET":
            r = c.get(url)
        else:
            b = bodies[i].encode()
            r = c.post(url, content=b, headers={"Idempotency-Key": hashlib.sha256(b).hexdigest()})
        lat.append(time.perf_counter() - t0)
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
end = time.time()
t1 = os.times()
cpu = (t1.user - t_cpu.user) + (t1.system - t_cpu.system)
print(json.dumps({"start": start, "end": end, "lat": lat, "codes": codes, "cpu": cpu}))
"""


def _documents(n_participants: int, n_docs: int, tmp: Path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from mobco2.signing import b64, canonical
    from tests.cooperative.helpers import signed_doc

    keys = [(f"p{i:05d}", Ed25519PrivateKey.generate()) for i in range(n_participants)]
    lines = ["participant,public_key,territory"]
    lines += [f"{p},{b64(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))},17300" for p, k in keys]
    (tmp / "registry.csv").write_text("\n".join(lines) + "\n")
    docs = []
    for i in range(n_docs):
        pid, key = keys[i % n_participants]
        year, month = 2000 + (i // n_participants) // 12, (i // n_participants) % 12 + 1
        docs.append(canonical(signed_doc(key, pid, f"{year}-{month:02d}")).decode())
    return docs


def _phase(name: str, url: str, method: str, bodies: list[str] | None, clients: int, server_pid: int, tmp: Path):
    import psutil

    server = psutil.Process(server_pid)
    per = [len(bodies[c::clients]) if bodies else 0 for c in range(clients)]
    plans = []
    for c in range(clients):
        if bodies:
            p = tmp / f"{name}-{c}.json"
            p.write_text(json.dumps(bodies[c::clients]))
            plans.append(str(p))
        else:
            plans.append("-")
    cpu0 = sum(server.cpu_times()[:2])
    procs = [subprocess.Popen([sys.executable, "-c", _CLIENT, url, method, plans[c], str(per[c] or _HEALTH_N[0])],
                              stdout=subprocess.PIPE, text=True) for c in range(clients)]
    outs = [json.loads(p.communicate()[0]) for p in procs]
    # from the first request to the last answer (client start-up excluded)
    wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    server_cpu = sum(server.cpu_times()[:2]) - cpu0
    lat = sorted(x for o in outs for x in o["lat"])
    codes: dict[str, int] = {}
    for o in outs:
        for k, v in o["codes"].items():
            codes[k] = codes.get(k, 0) + v
    n = len(lat)
    return {
        "phase": name, "requests": n, "wall_s": wall, "req_per_s": n / wall,
        "p50_ms": lat[n // 2] * 1000, "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000,
        "server_cpu_s": server_cpu, "clients_cpu_s": sum(o["cpu"] for o in outs),
        "answers": " ".join(f"{k}×{v}" for k, v in sorted(codes.items())),
    }


_HEALTH_N = [0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="documents posted (and replayed)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--participants", type=int, default=200)
    args = ap.parse_args()
    _HEALTH_N[0] = max(1, args.requests // args.clients)
    from tests.cooperative.helpers import free_port

    with tempfile.TemporaryDirectory(prefix="bench-coop-") as d:
        tmp = Path(d)
        docs = _documents(args.participants, args.requests, tmp)
        port = free_port()
        log = open(tmp / "server.log", "wb")  # noqa: SIM115
        server = subprocess.Popen([sys.executable, "-m", "mobco2", "aggregate", "serve", "--port", str(port),
                                   "--dir", str(tmp / "inbox"), "--registry", str(tmp / "registry.csv")],
                                  stderr=log, env={**os.environ, "MOBCO2_HOME": str(tmp / "home")})
        import httpx

        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        try:
            rows = [
                _phase("GET /health (anchor)", f"{base}/health", "GET", None, args.clients, server.pid, tmp),
                _phase("POST new documents", f"{base}/submissions", "POST", docs, args.clients, server.pid, tmp),
                _phase("POST replays", f"{base}/submissions", "POST", docs, args.clients, server.pid, tmp),
            ]
        finally:
            server.terminate()
            server.wait()
        stored = len(list((tmp / "inbox" / "documents").glob("*.json")))
        from mobco2.cooperative.aggregate import aggregate
        from mobco2.cooperative.registry import Registry

        c0, t0 = os.times(), time.perf_counter()
        agg = aggregate([tmp / "inbox" / "documents"], Registry.load(tmp / "registry.csv"))
        wall = time.perf_counter() - t0
        c1 = os.times()
    anchor = rows[0]["req_per_s"]
    for r in rows:
        r["× anchor time/request"] = anchor / r["req_per_s"]
    print(f"machine: {machine()}")
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"{args.clients} client processes, {args.requests} documents, {args.participants} participants\n")
    print(table(rows, ["phase", "requests", "wall_s", "req_per_s", "p50_ms", "p99_ms", "server_cpu_s",
                       "clients_cpu_s", "× anchor time/request", "answers"]))
    print(f"\ndocuments on disk: {stored} (expected {args.requests})")
    print(f"aggregate over them: {agg.meta['accepted']} verified in {wall:.2f} s wall, "
          f"{(c1.user - c0.user) + (c1.system - c0.system):.2f} s CPU ({agg.meta['accepted'] / wall:,.0f} documents/s)")
    return 0 if stored == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
