"""Builders for both sides of a submission: participants' stores with generated legs and keys,
signed documents, registries, and a real ``mobco2 aggregate serve`` subprocess on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from mobco2.keys import init_keys, load_keys, participant_id, public_entry
from mobco2.store import Store
from tests.emissions.conftest import leg, write_trips_and_legs

TERRITORY = "17300"
MODES = ("car", "bike", "bus", "walk", "train", "tram")


@dataclass
class Participant:
    name: str
    store: Path
    participant: str


def generated_legs(seed: int, month: str = "2025-09", n_trips: int = 12, modes=MODES, user_id: str = "me"):
    """``n_trips`` trips in ``month`` (UTC times away from midnight), 1-2 legs each, random modes and km."""
    rng = np.random.default_rng(seed)
    legs = []
    for t in range(n_trips):
        day = int(rng.integers(1, 29))
        start = f"{month}-{day:02d}T{int(rng.integers(6, 19)):02d}:{int(rng.integers(0, 60)):02d}"
        for j in range(int(rng.integers(1, 3))):
            mode = str(rng.choice(modes))
            km = float(np.round(rng.uniform(0.3, 40.0), 4))
            minute = int(start[-2:]) + 0  # legs of one trip start within the same hour
            legs.append(leg(f"t{seed}_{t}", f"t{seed}_{t}_{j}", start[:-2] + f"{min(59, minute + 20 * j):02d}",
                            15, mode, km, user_id=user_id))
    return legs


def make_participant(root: Path, name: str, seed: int, **kw: Any) -> Participant:
    store = Store(root / name)
    write_trips_and_legs(store, generated_legs(seed, **kw))
    keys = init_keys(store.root)
    return Participant(name, store.root, participant_id(keys, "me"))


def register(participants: list[Participant], registry: Path, territory: str = TERRITORY) -> Path:
    registry.mkdir(parents=True, exist_ok=True)
    for p in participants:
        entry = public_entry(load_keys(p.store), p.participant, territory)
        (registry / f"{p.name}.json").write_text(json.dumps(entry), encoding="utf-8")
    return registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``mobco2 aggregate serve`` as a real subprocess on 127.0.0.1."""

    def __init__(self, inbox: Path, registry: Path, port: int | None = None, max_body_bytes: int | None = None):
        self.inbox, self.registry = inbox, registry
        self.port = port or free_port()
        self.max_body_bytes = max_body_bytes
        self.proc: subprocess.Popen | None = None
        self.log = inbox.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/submissions"

    def start(self) -> Server:
        args = [sys.executable, "-m", "mobco2", "aggregate", "serve", "--host", "127.0.0.1", "--port",
                str(self.port), "--dir", str(self.inbox), "--registry", str(self.registry)]
        if self.max_body_bytes:
            args += ["--max-body-bytes", str(self.max_body_bytes)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),  # noqa: SIM115
                                     env={**os.environ})
        for _ in range(600):  # up to a minute on a loaded machine
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@contextlib.contextmanager
def running(inbox: Path, registry: Path, **kw: Any) -> Iterator[Server]:
    server = Server(inbox, registry, **kw).start()
    try:
        yield server
    finally:
        server.stop()


def stored_documents(inbox: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_bytes()) for p in sorted((inbox / "documents").glob("*.json"))]


def figures(km: float, trips: int, co2e: float, baseline: float) -> dict[str, Any]:
    return {"km": km, "trips": trips, "co2e_kg": co2e, "baseline_co2e_kg": baseline,
            "saved_co2e_kg": round(max(0.0, baseline - co2e), 3)}


def signed_doc(private_key: Any, participant: str, period: str = "2025-09", *, territory: str = TERRITORY,
               modes: dict[str, dict[str, Any]] | None = None, revision: int = 1) -> dict[str, Any]:
    """A valid signed submission made directly (no store): the cooperative's tests need many."""
    from mobco2.signing import sign

    modes = modes or {"bike": figures(12.5, 4, 0.06, 2.1), "car": figures(40.25, 3, 8.3, 8.3)}
    total = {k: round(sum(m[k] for m in modes.values()), 3) for k in ("km", "co2e_kg", "baseline_co2e_kg",
                                                                      "saved_co2e_kg")}
    doc = {
        "schema_version": 1, "kind": "mobco2.submission", "participant": participant, "territory": territory,
        "period": period, "revision": revision, "created": "2025-10", "days_with_data": 9, "modes": modes,
        "totals": {**total, "trips": sum(m["trips"] for m in modes.values())},
        "method": {"factor_set_id": "ademe-impactco2-2026-07", "factor_set_version": "1", "scope": "full",
                   "baseline_mode": "car", "mobco2_version": "0.1.0"},
    }
    return sign(doc, private_key)


def key_pairs(n: int) -> list[tuple[str, Any]]:
    """``n`` (participant id, Ed25519 private key)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return [(f"p{i:03d}", Ed25519PrivateKey.generate()) for i in range(n)]


def registry_csv(pairs: list[tuple[str, Any]], path: Path, territory: str = TERRITORY) -> Path:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from mobco2.signing import b64

    lines = ["participant,public_key,territory"]
    for pid, key in pairs:
        lines.append(f"{pid},{b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))},{territory}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
