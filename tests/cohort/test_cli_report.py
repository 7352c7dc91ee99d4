"""`mobco2 cohort run/status/report` on a small generated cohort: exit codes, pseudonyms, the
method block in every output format."""

from __future__ import annotations

import csv
import io
import json
import os

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mobco2 import Store
from mobco2.cohort.report import SECRET, cohort_report, pseudonym
from mobco2_cli.main import app
from tests.cohort.gen import make_cohort


def cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), terminal_width=200)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-cohort")
    manifest = make_cohort(root, n=4, points=1500, corrupt=(2,), no_consent=(3,), files_per_participant=1)
    store = root / "store"
    res = cli("-q", "cohort", "run", str(manifest), "--store", str(store), "--workers", "2", "--json")
    return store, manifest, res


def test_run_exits_65_listing_the_failed_participant(ran):
    _, _, res = ran
    assert res.exit_code == 65, res.output
    doc = json.loads(res.stdout)["rows"][0]
    assert doc["processed"] == 2 and doc["no_consent"] == 1
    assert doc["failed"][0]["participant_id"] == "p02" and "broken.gpx" in doc["failed"][0]["reason"]
    assert "failed: p02: " in res.stderr


def test_status_lists_each_participant_with_its_reason(ran):
    store, _, _ = ran
    res = cli("cohort", "status", "--store", str(store), "--csv")
    assert res.exit_code == 0, res.output
    rows = {r["participant_id"]: r for r in csv.DictReader(io.StringIO(res.stdout))}
    assert rows["p00"]["status"] == "done" and rows["p00"]["points"] == "1500"
    assert rows["p02"]["status"] == "failed" and "malformed GPX" in rows["p02"]["reason"]
    assert rows["p03"]["status"] == "no-consent" and rows["p03"]["points"] == ""
    runs = json.loads(cli("cohort", "status", "--store", str(store), "--runs", "--json").stdout)["rows"]
    assert (runs[0]["done"], runs[0]["failed"], runs[0]["no_consent"]) == (2, 1, 1)


def test_report_json_is_pseudonymised_with_the_cohort_secret(ran):
    store, _, _ = ran
    res = cli("cohort", "report", "--store", str(store))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    method = doc["method"]
    assert method["factor_set"] and method["scope"] == "full" and method["algorithm_version"] >= 1
    assert method["mobco2_version"] and method["pseudonymised"] and method["participants"] == 2
    secret_file = store / SECRET
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_bytes().strip()
    ids = {r["participant"] for r in doc["participant_month_mode"]}
    assert ids == {pseudonym(secret, "p00"), pseudonym(secret, "p01")}
    assert {r["participant"] for r in doc["data_quality"]} == ids
    assert json.loads(cli("cohort", "report", "--store", str(store)).stdout) == doc  # stable pseudonyms
    kept = json.loads(cli("cohort", "report", "--store", str(store), "--keep-ids").stdout)
    assert {r["participant"] for r in kept["participant_month_mode"]} == {"p00", "p01"}


def test_report_tables_add_up_to_the_store(ran):
    store, _, _ = ran
    report = cohort_report(Store(store), keep_ids=True)
    pmm = report.tables["participant_month_mode"].to_pylist()
    legs = Store(store).query("SELECT sum(distance_m) / 1000 AS km, sum(co2e_kg) AS kg FROM legs").to_pylist()[0]
    assert sum(r["km"] for r in pmm) == pytest.approx(legs["km"])
    assert sum(r["co2e_kg"] or 0 for r in pmm) == pytest.approx(legs["kg"])
    assert all(r["saved_co2e_kg"] >= 0 for r in pmm)
    dq = {r["participant"]: r for r in report.tables["data_quality"].to_pylist()}
    assert dq["p00"]["points"] == 1500 and dq["p00"]["days_with_data"] >= 1
    dist = {(r["measure"], r["mode"]): r for r in report.tables["distributions"].to_pylist()}
    share = dist[("low_carbon_km_share_cohort", "all")]["median"]
    low = sum(r["km"] for r in pmm if r["mode"] in report.method["low_carbon_modes"])
    assert share == pytest.approx(low / sum(r["km"] for r in pmm))
    q = dist[("co2e_kg_per_participant_month", "all")]
    assert q["q1"] <= q["median"] <= q["q3"] and q["participant_months"] == 2


def test_csv_and_parquet_outputs_carry_the_method(ran, tmp_path):
    store, _, _ = ran
    for fmt in ("csv", "parquet"):
        res = cli("cohort", "report", "--store", str(store), "--format", fmt, "--out", str(tmp_path / fmt))
        assert res.exit_code == 0, res.output
        for name in ("participant_month_mode", "distributions", "data_quality"):
            path = tmp_path / fmt / f"{name}.{fmt}"
            if fmt == "csv":
                first = path.read_text().splitlines()[0]
                assert first.startswith("# method: ")
                method = json.loads(first.removeprefix("# method: "))
            else:
                method = json.loads(pq.read_schema(path).metadata[b"mobco2.method"])
            assert method["factor_set"] and method["mobco2_version"] and "algorithm_version" in method
    res = cli("cohort", "report", "--store", str(store), "--format", "csv")
    assert res.exit_code == 2 and "--out" in res.output


def test_a_secret_others_can_read_is_refused(ran):
    store, _, _ = ran
    secret = store / SECRET
    cli("cohort", "report", "--store", str(store))
    os.chmod(secret, 0o644)
    try:
        res = cli("cohort", "report", "--store", str(store))
        assert res.exit_code == 2 and "chmod 600" in res.output
    finally:
        os.chmod(secret, 0o600)


def test_report_of_a_store_without_a_cohort_is_not_found(tmp_path):
    res = cli("cohort", "report", "--store", str(tmp_path / "empty"))
    assert res.exit_code == 66 and "cohort run" in res.output


def test_a_participant_who_withdraws_consent_is_removed_on_the_next_run(ran, tmp_path):
    """Last: it changes the shared cohort's manifest (and puts it back)."""
    store, manifest, _ = ran
    text = manifest.read_text()
    try:
        manifest.write_text(text.replace("p00,exports/p00,yes", "p00,exports/p00,no"))
        res = cli("-q", "cohort", "run", str(manifest), "--store", str(store), "--json")
        doc = json.loads(res.stdout)["rows"][0]
        assert (doc["no_consent"], doc["unchanged"], doc["processed"]) == (2, 1, 0)
        left = Store(store).query("SELECT DISTINCT user_id FROM legs UNION SELECT DISTINCT user_id FROM points")
        assert left.column("user_id").to_pylist() == ["p01"]
        assert Store(store).check() == []
    finally:
        manifest.write_text(text)
