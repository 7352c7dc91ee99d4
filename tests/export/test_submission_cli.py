"""`mobco2 keys` and `mobco2 submit`: key files, consent, dry runs, files, refusals, retries."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from mobco2.errors import NetworkError
from mobco2.export.send import RetryPolicy, post_document
from mobco2.keys import load_keys
from mobco2.signing import canonical, schema_errors, signature_valid
from mobco2.store import Store
from mobco2_cli.main import app
from tests.cooperative.helpers import free_port
from tests.emissions.conftest import leg, write_trips_and_legs


def cli(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=100)


@pytest.fixture
def participant(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBCO2_COOPERATIVE_TERRITORY", "17300")
    store = Store(tmp_path / "store")
    write_trips_and_legs(store, [leg("t1", "t1a", "2025-09-03T07:00", 30, "car", 12.0),
                                 leg("t2", "t2a", "2025-09-04T07:00", 20, "bike", 4.2)])
    assert cli("--store", str(store.root), "keys", "init").exit_code == 0
    return str(store.root)


def test_keys_are_owner_only_and_never_silently_replaced(participant, tmp_path):
    folder = tmp_path / "store" / "keys"
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["participant.ed25519", "pseudonym.secret"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    before = load_keys(tmp_path / "store").public_key
    again = cli("--store", participant, "keys", "init")
    assert again.exit_code == 2 and "--force" in again.output
    assert load_keys(tmp_path / "store").public_key == before
    assert cli("--store", participant, "keys", "init", "--force").exit_code == 0
    assert load_keys(tmp_path / "store").public_key != before


def test_a_key_file_others_can_read_is_refused(participant, tmp_path):
    (tmp_path / "store" / "keys" / "participant.ed25519").chmod(0o644)
    r = cli("--store", participant, "keys", "show")
    assert r.exit_code == 2 and "chmod 600" in r.output


def test_export_public_is_what_the_registry_reads(participant, tmp_path):
    from mobco2.cooperative.registry import Registry

    r = cli("--store", participant, "keys", "export-public")
    entry = json.loads(r.stdout)
    assert set(entry) == {"participant", "public_key", "territory"} and entry["territory"] == "17300"
    (tmp_path / "reg").mkdir()
    (tmp_path / "reg" / "me.json").write_text(r.stdout)
    got = Registry.load(tmp_path / "reg").get(entry["participant"])
    assert got is not None and got.public_key_raw == load_keys(tmp_path / "store").public_key_raw


def test_submit_without_keys_says_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBCO2_COOPERATIVE_TERRITORY", "17300")
    store = Store(tmp_path / "nokeys")
    write_trips_and_legs(store, [leg("t1", "t1a", "2025-09-03T07:00", 30, "car", 12.0)])
    r = cli("--store", str(store.root), "submit", "--month", "2025-09")
    assert r.exit_code == 66 and "mobco2 keys init" in r.output


def test_submit_without_a_territory_names_the_setting(participant, monkeypatch):
    monkeypatch.delenv("MOBCO2_COOPERATIVE_TERRITORY")
    r = cli("--store", participant, "submit", "--month", "2025-09")
    assert r.exit_code == 2 and "cooperative.territory" in r.output


def test_out_writes_the_canonical_signed_document(participant, tmp_path):
    out = tmp_path / "sept.json"
    assert cli("--store", participant, "submit", "--month", "2025-09", "--out", str(out)).exit_code == 0
    doc = json.loads(out.read_bytes())
    assert out.read_bytes() == canonical(doc) + b"\n"
    assert schema_errors(doc) == [] and signature_valid(doc, load_keys(tmp_path / "store").public_key_raw)


def test_dry_run_prints_what_would_be_sent_and_sends_and_records_nothing(participant):
    port = free_port()  # nobody listens: a dry run must not even try
    r = cli("--store", participant, "submit", "--month", "2025-09", "--to", f"http://127.0.0.1:{port}/s",
            "--dry-run")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert r.stdout == canonical(doc).decode() + "\n"
    assert "Idempotency-Key" in r.stderr and "would POST" in r.stderr
    status = json.loads(cli("--store", participant, "submit", "--status", "--json").stdout)
    assert status["rows"] == []


@pytest.mark.parametrize("url", ["http://example.org/submissions", "http://10.0.0.1/s", "ftp://127.0.0.1/x"])
def test_plain_http_is_refused_except_to_loopback(participant, url):
    r = cli("--store", participant, "submit", "--month", "2025-09", "--to", url, "--yes")
    assert r.exit_code == 2, r.output
    assert "https" in r.output


def test_without_a_terminal_or_yes_nothing_is_sent_and_the_flag_is_named(participant):
    r = cli("--store", participant, "submit", "--month", "2025-09", "--to", "https://coop.example/s")
    assert r.exit_code == 2 and "--yes" in r.output


# -- retries against a real (misbehaving) HTTP server ------------------------------------------

_FLAKY = """
import http.server, json, sys
fail = int(sys.argv[2])
seen = []
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        seen.append(self.headers["Idempotency-Key"])
        code = 503 if len(seen) <= fail else 201
        body = json.dumps({"status": "stored" if code == 201 else "busy", "keys": seen}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture
def flaky(request):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _FLAKY, str(port), str(request.param)])
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/submissions"
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("flaky", [2], indirect=True)
def test_5xx_answers_are_retried_with_the_same_idempotency_key(flaky):
    waits = []
    answer = post_document(flaky, b"{}", idempotency_key="abc", policy=RetryPolicy(max_retries=3, base_s=0.01),
                           sleep=waits.append)
    assert answer.status == 201 and answer.attempts == 3
    assert answer.body["keys"] == ["abc", "abc", "abc"]
    assert len(waits) == 2 and waits[1] > waits[0] * 0.9  # backing off


@pytest.mark.parametrize("flaky", [100], indirect=True)
def test_retries_are_bounded_in_count(flaky):
    with pytest.raises(NetworkError, match="after 3 attempt"):
        post_document(flaky, b"{}", idempotency_key="k", policy=RetryPolicy(max_retries=2, base_s=0.01))


@pytest.mark.parametrize("flaky", [100], indirect=True)
def test_retries_are_bounded_in_time(flaky):
    waits = []
    with pytest.raises(NetworkError) as e:
        post_document(flaky, b"{}", idempotency_key="k", policy=RetryPolicy(max_retries=50, base_s=1.0,
                                                                           max_total_s=3.0), sleep=waits.append)
    assert e.value.exit_code == 75
    assert sum(waits) <= 3.0 and len(waits) < 50


def test_consent_asked_once_then_remembered_and_a_changed_month_is_a_new_revision(participant, tmp_path):
    from mobco2.cooperative.aggregate import aggregate
    from mobco2.cooperative.registry import Registry
    from mobco2.errors import UsageError
    from mobco2.submit import submit
    from tests.cooperative.helpers import Participant, register, running

    store = Store(participant)
    asked = []
    with pytest.raises(UsageError, match="declined"):
        submit(store, "2025-09", to="http://127.0.0.1:9/s", ask=lambda url: asked.append(url) or False)
    keys = load_keys(store.root)
    registry = register([Participant("me", store.root, keys.pseudonym("me"))], tmp_path / "registry")
    with running(tmp_path / "inbox", registry) as server:
        first = submit(store, "2025-09", to=server.url, ask=lambda url: asked.append(url) or True)
        write_trips_and_legs(store, [leg("t9", "t9a", "2025-09-20T07:00", 30, "train", 50.0)])
        second = submit(store, "2025-09", to=server.url, ask=None)  # no terminal now: consent is on record
        third = submit(store, "2025-09", to=server.url, ask=None)
    assert asked == ["http://127.0.0.1:9/s", server.url]
    assert (first.answer.status, second.answer.status, third.answer.status) == (201, 201, 200)
    assert (first.document["revision"], second.document["revision"], third.document["revision"]) == (1, 2, 2)
    agg = aggregate([tmp_path / "inbox"], Registry.load(registry), k=1)
    assert {c["mode"] for c in agg.cells} == {"car", "bike", "train"} and agg.meta["superseded"] == 1
