"""Who is in a cohort: a folder per participant, or a manifest CSV with consent and territory."""

from __future__ import annotations

import csv
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.cohort.manifest import input_sha256, load_cohort
from mobco2.errors import InputDataError, InputNotFoundError, UsageError


def test_a_directory_has_a_folder_or_archive_per_participant(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "a.gpx").write_text("x")
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as z:
        z.writestr("Takeout/x.json", "{}")
    (tmp_path / ".DS_Store").write_text("")
    cohort = load_cohort(tmp_path)
    assert [(p.participant_id, p.consent) for p in cohort.participants] == [("alice", True), ("bob", True)]
    assert cohort.participants[1].paths == (str(tmp_path / "bob.zip"),)


def test_a_manifest_gives_consent_territory_and_several_exports(tmp_path):
    for name in ("a1.gpx", "a2.gpx", "b.gpx"):
        (tmp_path / name).write_text(name)
    (tmp_path / "m.csv").write_text(
        "participant_id,path,consent,territory\n"
        "alice,a1.gpx,yes,la-rochelle\nbob,b.gpx,no,niort\nalice,a2.gpx,yes,\n"
    )
    cohort = load_cohort(tmp_path / "m.csv")
    alice, bob = cohort.participants
    assert alice.paths == (str(tmp_path / "a1.gpx"), str(tmp_path / "a2.gpx"))
    assert alice.territory == "la-rochelle" and alice.consent
    assert not bob.consent and [p.participant_id for p in cohort.consenting] == ["alice"]


@pytest.mark.parametrize(
    ("text", "error", "words"),
    [
        ("id,file\nalice,a.gpx\n", UsageError, "participant_id and path"),
        ("participant_id,path\nalice,missing.gpx\n", InputNotFoundError, "m.csv:2"),
        ("participant_id,path,consent\nalice,a.gpx,perhaps\n", InputDataError, "m.csv:2"),
        ("participant_id,path\n../etc,a.gpx\n", InputDataError, "not a usable participant id"),
        ("participant_id,path,consent\nalice,a.gpx,yes\nalice,a.gpx,no\n", InputDataError, "with and without"),
        ("participant_id,path\n", InputDataError, "no participants"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_line(tmp_path, text, error, words):
    (tmp_path / "a.gpx").write_text("x")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(error) as e:
        load_cohort(tmp_path / "m.csv")
    assert words in e.value.one_line()


def test_a_missing_cohort_is_not_found(tmp_path):
    with pytest.raises(InputNotFoundError):
        load_cohort(tmp_path / "nope")


def test_the_input_digest_changes_with_any_file_and_only_then(tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "a.gpx").write_text("one")
    (folder / "b.gpx").write_text("two")
    person = load_cohort(tmp_path).participants[0]
    first = input_sha256(person)
    assert input_sha256(person) == first
    (folder / "b.gpx").write_text("twO")
    assert input_sha256(person) != first
    (folder / "b.gpx").write_text("two")
    (folder / "b.gpx").rename(folder / "c.gpx")  # same bytes under another name: another input
    assert input_sha256(person) != first


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
rows = st.lists(
    st.tuples(ids, st.sampled_from(["yes", "no", "", "TRUE", "0"]), st.text("abc-xyz ", max_size=8)),
    min_size=1, max_size=8, unique_by=lambda r: r[0],
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows)
def test_a_manifest_written_by_csv_reads_back(tmp_path, rows):
    (tmp_path / "x.gpx").write_text("x")
    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant_id", "path", "consent", "territory"])
        for pid, consent, territory in rows:
            w.writerow([pid, "x.gpx", consent, territory])
    cohort = load_cohort(path)
    got = [(p.participant_id, p.consent, p.territory) for p in cohort.participants]
    assert got == [(pid, c.lower() in ("yes", "", "true"), t.strip()) for pid, c, t in rows]
