"""``mobco2 aggregate serve`` as a real subprocess on 127.0.0.1: answers, limits, atomic storage,
and no lost or doubled documents under concurrent senders."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import httpx
import pytest

from mobco2.signing import canonical, document_sha256
from tests.cooperative.helpers import key_pairs, registry_csv, running, signed_doc, stored_documents


@pytest.fixture
def pairs():
    return key_pairs(6)


@pytest.fixture
def server(tmp_path, pairs):
    registry_csv(pairs[:5], tmp_path / "registry.csv")  # the sixth is not registered
    with running(tmp_path / "inbox", tmp_path / "registry.csv", max_body_bytes=4096) as s:
        yield s


def post(server, body: bytes, **headers):
    return httpx.post(server.url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=30)


def test_a_document_is_stored_once_and_a_replay_is_a_duplicate(server, pairs):
    doc = signed_doc(pairs[0][1], pairs[0][0])
    first = post(server, canonical(doc), **{"Idempotency-Key": "k1"})
    assert first.status_code == 201 and first.json()["status"] == "stored"
    assert first.json()["document_sha256"] == document_sha256(doc)
    again = post(server, canonical(doc), **{"Idempotency-Key": "k1"})
    reformatted = post(server, json.dumps(doc, indent=3).encode(), **{"Idempotency-Key": "k2"})
    no_key = post(server, canonical(doc))
    assert [r.status_code for r in (again, reformatted, no_key)] == [200, 200, 200]
    assert stored_documents(server.inbox) == [doc]
    name = next((server.inbox / "documents").glob("*.json")).name
    assert name == hashlib.sha256(canonical(doc)).hexdigest() + ".json"


def test_an_idempotency_key_reused_for_another_document_is_a_conflict(server, pairs):
    a = signed_doc(pairs[0][1], pairs[0][0], "2025-09")
    b = signed_doc(pairs[0][1], pairs[0][0], "2025-10")
    assert post(server, canonical(a), **{"Idempotency-Key": "same"}).status_code == 201
    r = post(server, canonical(b), **{"Idempotency-Key": "same"})
    assert r.status_code == 409 and "Idempotency-Key" in r.json()["reason"]
    assert stored_documents(server.inbox) == [a]


@pytest.mark.parametrize(
    ("body", "status", "state"),
    [
        (b'{"schema_version": 1', 400, "malformed"),
        (b"\xff\xfe not utf-8", 400, "malformed"),
        (b'{"a": 1, "a": 2}', 400, "malformed"),
        (b"[1, 2, 3]", 400, "malformed"),
        (b'{"schema_version": NaN}', 400, "malformed"),
        (b"{}", 401, "unsigned"),
    ],
)
def test_malformed_bodies_get_400_with_a_reason_and_nothing_is_stored(server, body, status, state):
    r = post(server, body)
    assert r.status_code == status, r.text
    assert r.json()["status"] == state and r.json()["reason"]
    assert stored_documents(server.inbox) == []


def test_bad_signatures_unknown_keys_and_wrong_territories_are_refused(server, pairs):
    good = signed_doc(pairs[1][1], pairs[1][0])
    tampered = {**good, "modes": {**good["modes"], "bike": {**good["modes"]["bike"], "km": 1000.0}}}
    stranger = signed_doc(pairs[5][1], pairs[5][0])
    impostor = signed_doc(pairs[2][1], pairs[1][0])  # p001's id, p002's key
    elsewhere = signed_doc(pairs[1][1], pairs[1][0], territory="75056")
    answers = {name: post(server, canonical(d)) for name, d in
               {"tampered": tampered, "stranger": stranger, "impostor": impostor, "elsewhere": elsewhere}.items()}
    assert {k: (r.status_code, r.json()["status"]) for k, r in answers.items()} == {
        "tampered": (401, "bad-signature"),
        "stranger": (401, "unknown-key"),
        "impostor": (401, "bad-signature"),
        "elsewhere": (403, "wrong-territory"),
    }
    assert stored_documents(server.inbox) == []


def test_an_oversized_body_gets_413_whether_announced_or_streamed(server, pairs):
    doc = signed_doc(pairs[0][1], pairs[0][0])
    big = canonical({**doc, "padding": "x" * 5000})
    announced = post(server, big)

    def chunks():  # no Content-Length: the cap applies while reading
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    streamed = httpx.post(server.url, content=chunks(), timeout=30)
    assert (announced.status_code, streamed.status_code) == (413, 413)
    assert announced.json()["status"] == "too-large"
    assert stored_documents(server.inbox) == []
    assert list((server.inbox / "tmp").iterdir()) == []
    assert post(server, canonical(doc)).status_code == 201  # still serving


def test_health_and_one_log_line_per_request(server):
    r = httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=30)
    assert r.status_code == 200 and r.json() == {"status": "ok", "reason": "ready", "participants": 5}
    post(server, b"nope")
    for _ in range(300):  # the line is written just after the answer goes out
        lines = [ln for ln in server.log.read_text().splitlines() if " /submissions " in ln]
        if lines:
            break
        time.sleep(0.1)
    assert any(" POST /submissions 400 malformed " in ln for ln in lines)
    assert sum(" POST /submissions " in ln for ln in lines) == 1


_SENDER = """
import hashlib, json, sys, httpx
url, path = sys.argv[1], sys.argv[2]
bodies = json.load(open(path))
out = []
with httpx.Client(timeout=60) as c:
    for b in bodies:
        r = c.post(url, content=b.encode(), headers={"Idempotency-Key": hashlib.sha256(b.encode()).hexdigest()})
        out.append([r.status_code, r.json().get("document_sha256")])
print(json.dumps(out))
"""


def test_concurrent_senders_lose_nothing_and_double_nothing(tmp_path):
    pairs = key_pairs(20)
    registry_csv(pairs, tmp_path / "registry.csv")
    docs = [signed_doc(key, pid, f"2025-{m:02d}") for pid, key in pairs for m in (1, 2, 3, 4, 5)]  # 100
    bodies = [canonical(d).decode() for d in docs]
    # four processes; every document is sent by three of them, so identical ones race each other
    plans = [[b for i, b in enumerate(bodies) if i % 4 != p] for p in range(4)]
    with running(tmp_path / "inbox", tmp_path / "registry.csv") as server:
        procs = []
        for p, plan in enumerate(plans):
            path = tmp_path / f"plan{p}.json"
            path.write_text(json.dumps(plan))
            procs.append(subprocess.Popen([sys.executable, "-c", _SENDER, server.url, str(path)],
                                          stdout=subprocess.PIPE, text=True))
        results = [json.loads(proc.communicate(timeout=600)[0]) for proc in procs]
    answers = [a for r in results for a in r]
    assert len(answers) == 300
    assert {status for status, _ in answers} <= {200, 201}
    created = sorted(sha for status, sha in answers if status == 201)
    expected = sorted(document_sha256(d) for d in docs)
    assert created == expected  # each document stored by exactly one request
    on_disk = sorted(p.stem for p in (server.inbox / "documents").glob("*.json"))
    assert on_disk == expected
    for p in (server.inbox / "documents").glob("*.json"):
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.stem  # whole, canonical


def test_a_participant_registered_while_serving_is_accepted_without_a_restart(tmp_path):
    pairs = key_pairs(2)
    registry_csv(pairs[:1], tmp_path / "registry.csv")
    with running(tmp_path / "inbox", tmp_path / "registry.csv") as server:
        doc = signed_doc(pairs[1][1], pairs[1][0])
        assert post(server, canonical(doc)).status_code == 401
        registry_csv(pairs, tmp_path / "registry.csv")
        for _ in range(100):  # the registry is looked at again within a second
            r = post(server, canonical(doc))
            if r.status_code != 401:
                break
            time.sleep(0.2)
        assert r.status_code == 201
