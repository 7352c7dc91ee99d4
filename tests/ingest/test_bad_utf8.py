"""Invalid UTF-8 costs no record on any JSON path: the bytes are repaired (U+FFFD) and noted.

Each case takes a real sample, writes one badly encoded string into its first record (a key the
format ignores, or an existing string value), and imports both into real stores: the damaged file
must give exactly the rows the clean one gives. This holds whatever the installed msgspec raises
for invalid UTF-8 (``UnicodeDecodeError`` up to 0.22, ``DecodeError`` from 0.23).
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from mobco2.ingest import import_paths
from mobco2.ingest.jsonutil import REPAIRED_UTF8, decode_repairing, invalid_utf8
from mobco2.store import Store


def _damage(data: bytes, key: str) -> bytes:
    """The first string value of ``key`` with a Latin-1 byte written into it (never valid UTF-8)."""
    m = re.search(rb'"' + key.encode() + rb'"\s*:\s*"', data)
    assert m is not None, f"no {key!r} string in the sample"
    at = m.end() + 1
    return data[:at] + b"\xe9" + data[at:]


# Each string is one the format's decoder reads where it can (msgspec skips an ignored key's value
# unchecked); OwnTracks messages have no free-text field that is read, so its case shows no loss.
CASES = [
    ("google-semantic/dawarich_semantic_history.json", "editConfirmationStatus", {}),
    ("google-records/kgeo_records.json", "type", {}),
    ("google-records/kgeo_records.json", "type", {"low_memory": True}),
    ("google-timeline-android/dawarich_timeline_new_format.json", "placeId", {}),
    ("google-timeline-ios/dawarich_location-history.json", "semanticType", {}),
    ("emission-tracemob/emission_shankari_2016-07-25.json", "time_zone", {}),
    ("owntracks/dawarich_2024-03.rec", "tid", {}),
    ("geojson/dawarich_various_fields.geojson", "deviceId", {}),
]


def _counts(store: Store) -> dict[str, int]:
    out = {}
    for table in ("points", "source_segments", "source_visits"):
        try:
            out[table] = store.sql(f"select count(*) as n from {table}").to_pylist()[0]["n"]
        except Exception:  # a view that does not exist until the first row of its kind
            out[table] = 0
    return out


@pytest.mark.parametrize(("sample", "key", "kwargs"), CASES)
def test_a_badly_encoded_string_costs_no_record(samples: Path, tmp_path: Path, sample, key, kwargs) -> None:
    clean = samples / sample
    damaged_bytes = _damage(clean.read_bytes(), key)
    with pytest.raises(UnicodeDecodeError):
        damaged_bytes.decode("utf-8")  # the damage is real
    damaged = tmp_path / ("damaged" + "".join(clean.suffixes))
    damaged.write_bytes(damaged_bytes)

    expected = import_paths(Store(tmp_path / "a"), [clean], user_id="u", **kwargs)
    store = Store(tmp_path / "b")
    got = import_paths(store, [damaged], user_id="u", **kwargs)

    (want,), (have,) = expected.files, got.files
    assert have.status == want.status == "imported", have.message
    assert (have.added, have.rejected, have.segments_added, have.visits_added, have.labels_added) == (
        want.added, want.rejected, want.segments_added, want.visits_added, want.labels_added
    )  # fmt: skip
    assert have.added + have.segments_added + have.visits_added > 0
    assert _counts(store) == _counts(Store(tmp_path / "a"))


def test_a_bad_place_name_is_kept_with_the_replacement_character(samples: Path, tmp_path: Path) -> None:
    raw = (samples / "google-semantic/gpsbabel_2013_MAY.json").read_bytes()
    names = re.findall(rb'"name"\s*:\s*"([^"\\]+)"', raw)
    assert names, "the sample has place names"
    damaged = raw.replace(b'"' + names[0] + b'"', b'"' + names[0][:1] + b"\xe9" + names[0][1:] + b'"', 1)
    path = tmp_path / "semantic.json"
    path.write_bytes(damaged)
    store = Store(tmp_path / "s")
    result = import_paths(store, [path], user_id="u").files[0]
    assert result.status == "imported" and result.rejected == 0
    assert REPAIRED_UTF8 in result.warnings
    stored = {r["name"] for r in store.sql("select name from source_visits").to_pylist()}
    assert names[0][:1].decode() + "\ufffd" + names[0][1:].decode() in stored


def test_invalid_utf8_is_told_apart_from_a_syntax_error() -> None:
    decoder = msgspec.json.Decoder()
    warnings: list[str] = []
    assert decode_repairing(decoder, b'{"a": "Caf\xe9"}', warnings) == {"a": "Caf\ufffd"}
    assert warnings == [REPAIRED_UTF8]
    with pytest.raises(msgspec.DecodeError) as caught:
        decode_repairing(decoder, b'{"a": "Caf\xe9"', [])  # still malformed after the repair
    assert not isinstance(caught.value, UnicodeDecodeError)
    with pytest.raises(msgspec.DecodeError) as syntax:
        decoder.decode(b'{"a": 1,}')
    assert not invalid_utf8(syntax.value)
