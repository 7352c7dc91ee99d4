"""`aggregate` on files: verification with reasons, one document per participant and month,
k-anonymity, Laplace noise with stated bounds, and the output formats."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mobco2.cooperative.aggregate import Bounds, aggregate, latest_documents
from mobco2.cooperative.registry import Registry
from mobco2.errors import InputDataError
from mobco2.signing import canonical
from mobco2_cli.main import app
from tests.cooperative.helpers import figures, key_pairs, registry_csv, signed_doc


@pytest.fixture
def pairs():
    return key_pairs(7)


@pytest.fixture
def registry(tmp_path, pairs):
    return Registry.load(registry_csv(pairs, tmp_path / "registry.csv"))


def write(folder, name, doc):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_bytes(doc if isinstance(doc, bytes) else canonical(doc))
    return path


def test_each_kind_of_bad_document_is_rejected_with_its_reason(tmp_path, pairs, registry):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    good = signed_doc(pairs[0][1], pairs[0][0])
    unsigned = {k: v for k, v in good.items() if k != "signature"}
    tampered = {**good, "totals": {**good["totals"], "saved_co2e_kg": 999.0}}
    unknown = signed_doc(Ed25519PrivateKey.generate(), "p999")
    elsewhere = signed_doc(pairs[1][1], pairs[1][0], territory="75056")
    inbox = tmp_path / "inbox"
    cases = {"good": good, "unsigned": unsigned, "tampered": tampered, "unknown": unknown, "elsewhere": elsewhere,
             "malformed": b"{not json", "schema": {**good, "period": "2025-9"}}
    for name, doc in cases.items():
        write(inbox, name, doc)
    agg = aggregate([inbox], registry, k=1)
    got = {r["file"].rsplit("/", 1)[1]: r["rejection"] for r in agg.rejections}
    assert got == {"unsigned.json": "unsigned", "tampered.json": "bad-signature", "unknown.json": "unknown-key",
                   "elsewhere.json": "wrong-territory", "malformed.json": "malformed", "schema.json": "malformed"}
    assert all(r["reason"] for r in agg.rejections)
    assert agg.meta["accepted"] == 1 and {c["participants"] for c in agg.cells} == {1}


def test_a_replayed_document_counts_once_and_a_revision_replaces_the_month(tmp_path, pairs, registry):
    pid, key = pairs[0]
    first = signed_doc(key, pid, modes={"bike": figures(10.0, 2, 0.05, 1.8)})
    revised = signed_doc(key, pid, modes={"bike": figures(14.0, 3, 0.07, 2.5)}, revision=2)
    inbox = tmp_path / "inbox"
    write(inbox, "a", first)
    write(inbox, "a-copy", first)
    write(inbox / "sub", "b", revised)
    agg = aggregate([inbox], registry, k=1)
    assert agg.meta["duplicates"] == 1 and agg.meta["superseded"] == 1 and agg.meta["participant_months"] == 1
    assert [(c["mode"], c["km"], c["trips"], c["participants"]) for c in agg.cells] == [("bike", 14.0, 3, 1)]
    # and the order files are read in does not matter
    docs, _, _ = latest_documents([inbox / "sub", inbox], registry)
    assert docs[(pid, "2025-09")]["revision"] == 2


def test_cells_with_fewer_than_k_participants_are_suppressed(tmp_path, pairs, registry):
    inbox = tmp_path / "inbox"
    for i, (pid, key) in enumerate(pairs[:6]):
        modes = {"bike": figures(10.0 + i, 2, 0.05, 1.8)}
        if i < 4:
            modes["tram"] = figures(5.0, 2, 0.02, 0.9)
        write(inbox, pid, signed_doc(key, pid, modes=modes))
    write(inbox, "oct", signed_doc(pairs[0][1], pairs[0][0], "2025-10"))
    agg = aggregate([inbox], registry)  # k = 5
    assert [(c["period"], c["mode"], c["participants"]) for c in agg.cells] == [("2025-09", "bike", 6)]
    assert agg.cells[0]["km"] == pytest.approx(sum(10.0 + i for i in range(6)))
    assert agg.meta["suppressed_cells"] == 3  # tram (4 people), and October's bike and car (1)
    assert [c["mode"] for c in aggregate([inbox], registry, k=4).cells] == ["bike", "tram"]


def _six(tmp_path, pairs, km_of=lambda i: 10.0 + i):
    inbox = tmp_path / "inbox"
    for i, (pid, key) in enumerate(pairs[:6]):
        write(inbox, pid, signed_doc(key, pid, modes={"bike": figures(km_of(i), 2, 0.05, 1.8)}))
    return inbox


def test_noise_is_laplace_at_the_stated_scale_and_reproducible_with_a_seed(tmp_path, pairs, registry):
    inbox = _six(tmp_path, pairs)
    exact = aggregate([inbox], registry).cells[0]
    a = aggregate([inbox], registry, epsilon=1.0, seed=7)
    b = aggregate([inbox], registry, epsilon=1.0, seed=7)
    c = aggregate([inbox], registry, epsilon=1.0, seed=8)
    assert a.cells == b.cells and a.cells != c.cells
    assert a.cells[0]["participants"] == exact["participants"] == 6
    assert a.meta["laplace_scale"]["km"] == Bounds().km * 4 / 1.0
    assert a.meta["bounds_per_participant_month"] == {"km": 3000.0, "trips": 300.0, "co2e_kg": 1000.0,
                                                      "saved_co2e_kg": 1000.0}
    # over many releases, the noise on km averages out and spreads as Laplace(scale) does
    draws = [aggregate([inbox], registry, epsilon=1.0, seed=s).cells[0]["km"] - exact["km"] for s in range(400)]
    positive = [d for d in draws if d > 0]
    assert len(positive) > 120  # noise added, not only clamped (the exact sum is small)
    mean_abs = sum(abs(d) for d in positive) / len(positive)
    assert 0.6 * 12000 < mean_abs < 1.4 * 12000  # E|X| given X > 0 is the scale


def test_with_epsilon_each_participants_month_is_clipped_to_the_bounds(tmp_path, pairs, registry):
    inbox = _six(tmp_path, pairs, km_of=lambda i: 50_000.0 if i == 0 else 100.0)
    exact = aggregate([inbox], registry).cells[0]
    nearly_exact = aggregate([inbox], registry, epsilon=1e12, seed=1).cells[0]
    assert exact["km"] == pytest.approx(50_500.0)
    assert nearly_exact["km"] == pytest.approx(3000.0 + 500.0, abs=0.01)


def test_registry_errors_name_the_entry(tmp_path, pairs):
    bad = tmp_path / "bad.csv"
    bad.write_text("participant,public_key,territory\np1,not-a-key,17300\n")
    with pytest.raises(InputDataError, match=r"bad\.csv:2"):
        Registry.load(bad)
    twice = tmp_path / "twice"
    twice.mkdir()
    registry_csv(pairs[:1], twice / "a.csv")
    registry_csv(pairs[1:2], twice / "b.csv")
    (twice / "b.csv").write_text((twice / "b.csv").read_text().replace(pairs[1][0], pairs[0][0]))
    with pytest.raises(InputDataError, match="registered twice"):
        Registry.load(twice)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_the_command_writes_each_format(tmp_path, pairs, fmt):
    inbox = _six(tmp_path, pairs)
    registry_csv(pairs, tmp_path / "registry.csv")
    out = tmp_path / f"totals.{fmt}"
    r = CliRunner().invoke(app, ["aggregate", str(inbox), "--registry", str(tmp_path / "registry.csv"),
                                 "--format", fmt, "--out", str(out)])
    assert r.exit_code == 0, r.output
    if fmt == "csv":
        lines = out.read_text().splitlines()
        assert lines[0] == "territory,period,mode,participants,km,trips,co2e_kg,saved_co2e_kg"
        assert lines[1].startswith("17300,2025-09,bike,6,75.0,12,")
    elif fmt == "json":
        doc = json.loads(out.read_text())
        assert doc["k"] == 5 and doc["rows"][0]["participants"] == 6 and doc["rejections"] == []
    else:
        table = pq.read_table(out)
        assert table.column("km").to_pylist() == [75.0]
        assert json.loads(table.schema.metadata[b"mobco2"])["k"] == 5
    assert "6 document(s) verified" in r.stderr


def test_the_command_explains_rejections_on_stderr(tmp_path, pairs):
    inbox = _six(tmp_path, pairs)
    write(inbox, "junk", b"[]")
    registry_csv(pairs, tmp_path / "registry.csv")
    r = CliRunner().invoke(app, ["aggregate", "run", str(inbox), "--registry", str(tmp_path / "registry.csv")],
                           terminal_width=200)
    assert r.exit_code == 0
    assert "1 rejected" in r.stderr and "junk.json" in r.stderr and "malformed" in r.stderr
