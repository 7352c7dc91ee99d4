"""Participants' stores → `mobco2 submit --to` → a real receiver → `mobco2 aggregate`: the
cooperative's totals are the participants' own footprints, small cells suppressed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mobco2.store import Store
from mobco2_cli.main import app
from tests.cooperative.helpers import TERRITORY, make_participant, register, running, stored_documents
from tests.emissions.conftest import leg, write_trips_and_legs

FIGURES = ("km", "trips", "co2e_kg", "saved_co2e_kg")


def cli(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=100)


@pytest.fixture(autouse=True)
def _territory(monkeypatch):
    monkeypatch.setenv("MOBCO2_COOPERATIVE_TERRITORY", TERRITORY)


def own_footprint(store, month="2025-09"):
    r = cli("--store", str(store), "footprint", "--by", "mode", "--since", f"{month}-01", "--until", f"{month}-30",
            "--json")
    assert r.exit_code == 0, r.output
    return {row["mode"]: row for row in json.loads(r.stdout)["rows"]}


def test_the_cooperative_totals_equal_the_participants_footprints(tmp_path):
    people = [make_participant(tmp_path, f"person{i}", seed=i) for i in range(6)]
    # one person also took a ferry: a cell of one participant, which must not be published
    write_trips_and_legs(Store(people[0].store), [leg("ferry1", "ferry1a", "2025-09-20T09:00", 60, "ferry", 25.0)])
    registry = register(people, tmp_path / "registry")
    with running(tmp_path / "inbox", registry) as server:
        for p in people:
            r = cli("--store", str(p.store), "submit", "--month", "2025-09", "--to", server.url, "--yes")
            assert r.exit_code == 0, r.output
    out = tmp_path / "totals.json"
    r = cli("aggregate", str(tmp_path / "inbox"), "--registry", str(registry), "--format", "json", "--out", str(out))
    assert r.exit_code == 0, r.output
    published = {row["mode"]: row for row in json.loads(out.read_text())["rows"]}

    own = [own_footprint(p.store) for p in people]
    users = {m: sum(m in fp for fp in own) for fp in own for m in fp}
    assert users["ferry"] == 1 and "ferry" not in published
    assert set(published) == {m for m, n in users.items() if n >= 5}
    for mode, row in published.items():
        assert row["territory"] == TERRITORY and row["period"] == "2025-09"
        assert row["participants"] == users[mode]
        for f in FIGURES:
            expected = sum(fp[mode][f] for fp in own if mode in fp)
            assert row[f] == pytest.approx(expected, abs=0.002 * users[mode]), (mode, f)


def test_a_stopped_server_means_exit_75_nothing_recorded_then_the_month_counts_once(tmp_path):
    people = [make_participant(tmp_path, f"person{i}", seed=10 + i, n_trips=4) for i in range(2)]
    registry = register(people, tmp_path / "registry")
    inbox = tmp_path / "inbox"
    server = running(inbox, registry)
    s = server.__enter__()
    try:
        a, b = people
        assert cli("--store", str(a.store), "submit", "--month", "2025-09", "--to", s.url, "--yes").exit_code == 0
        s.stop()  # the cooperative goes down between two participants' runs
        r = cli("--store", str(b.store), "submit", "--month", "2025-09", "--to", s.url, "--yes",
                "--max-retries", "3", "--retry-max-s", "2", "--timeout-s", "5")
        assert r.exit_code == 75, r.output
        assert "after" in r.output and "attempt" in r.output
        status = cli("--store", str(b.store), "submit", "--status", "--json")
        assert json.loads(status.stdout)["rows"] == []
        s.start()  # back, on the same port
        r = cli("--store", str(b.store), "submit", "--month", "2025-09", "--to", s.url)  # consent was kept
        assert r.exit_code == 0, r.output
        again = cli("--store", str(b.store), "submit", "--month", "2025-09", "--to", s.url)
        assert again.exit_code == 0 and "HTTP 200" in again.output
    finally:
        server.__exit__(None, None, None)
    rows = json.loads(cli("--store", str(b.store), "submit", "--status", "--json").stdout)["rows"]
    assert [(r["http_status"], r["outcome"], r["period"]) for r in rows] == [(201, "accepted", "2025-09"),
                                                                              (200, "accepted", "2025-09")]
    assert len({r["document_sha256"] for r in rows}) == 1
    docs = stored_documents(inbox)
    assert sorted(d["participant"] for d in docs) == sorted([a.participant, b.participant])
    r = cli("aggregate", str(inbox), "--registry", str(registry), "--k", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    meta = json.loads(r.stdout)
    assert meta["participant_months"] == 2 and meta["accepted"] == 2
