"""Safe XML helpers: hostile documents refused before expansion, errors located in the file."""

from __future__ import annotations

import pytest

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.xmlsafe import XmlReader, guarded_expat, iterparse, local_name

KML = b"""\xef\xbb\xbf

<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
  <Document><Placemark><gx:Track><when>2020-01-01T00:00:00Z</when><gx:coord>1 2 3</gx:coord>
  </gx:Track></Placemark></Document>
</kml>
"""

HOSTILE = {
    "billion laughs": b"""<!DOCTYPE kml [
<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
<!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">]>
<kml><name>&i;</name></kml>""",
    "external entity": b'<!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]><kml>&x;</kml>',
    "parameter entity": b'<!DOCTYPE kml [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><kml/>',
    "external DTD": b'<!DOCTYPE kml SYSTEM "http://example.invalid/kml.dtd"><kml/>',
    "public DTD": b'<!DOCTYPE kml PUBLIC "-//x//y" "http://example.invalid/kml.dtd"><kml/>',
}


def source(data: bytes, name: str = "doc.kml") -> Source:
    return Source.from_bytes(name, data)


def test_local_name():
    assert local_name("{http://www.topografix.com/GPX/1/1}trkpt") == "trkpt"
    assert local_name("gpxtpx:speed") == "speed"
    assert local_name("trkpt") == "trkpt"


def test_reader_strips_bom_and_leading_whitespace_and_reports_progress():
    seen: list[int] = []
    reader = XmlReader(source(KML), ParseContext(source_name="doc.kml", progress=seen.append), chunk_bytes=16)
    data = b"".join(reader)
    assert data.startswith(b"<?xml") and data == KML[3:].lstrip()
    assert reader.lines_skipped == 2
    assert seen[-1] == len(KML) and seen == sorted(seen)


def test_iterparse_yields_namespaced_elements():
    tags = [local_name(e.tag) for _, e in iterparse(XmlReader(source(KML), chunk_bytes=7))]
    assert tags == ["when", "coord", "Track", "Placemark", "Document", "kml"]
    events = [(ev, local_name(e.tag)) for ev, e in iterparse(XmlReader(source(KML)), events=("start",))]
    assert events[0] == ("start", "kml")


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("chunk_bytes", [5, 1 << 20])
def test_hostile_documents_are_refused(name, chunk_bytes):
    data = HOSTILE[name]
    with pytest.raises(HostileInputError) as err:
        list(iterparse(XmlReader(source(data, "evil.kml"), chunk_bytes=chunk_bytes)))
    assert err.value.path == "evil.kml" and err.value.exit_code == 65
    assert "DOCTYPE" in err.value.one_line()
    # the raw guarded parser refuses it too, with no element handler installed
    parser = guarded_expat(XmlReader(source(data, "evil.kml")))
    with pytest.raises(HostileInputError):
        parser.Parse(data, True)


def test_harmless_doctypes_are_accepted():
    for data in (b"<!DOCTYPE kml><kml/>", b'<!DOCTYPE kml [<!ATTLIST kml id CDATA "k">]><kml/>'):
        ((_, root),) = list(iterparse(XmlReader(source(data))))
        assert root.tag == "kml"


def test_undeclared_entity_is_malformed_not_hostile():
    with pytest.raises(InputDataError) as err:
        list(iterparse(XmlReader(source(b"<kml>&nope;</kml>"))))
    assert not isinstance(err.value, HostileInputError) and "undefined entity" in err.value.one_line()


@pytest.mark.parametrize("chunk_bytes", [3, 1 << 20])
def test_malformed_xml_is_located_in_the_original_file(chunk_bytes):
    data = b"\n\n  <kml>\n<Placemark></kml>"
    with pytest.raises(InputDataError) as err:
        list(iterparse(XmlReader(source(data, "bad.kml"), chunk_bytes=chunk_bytes)))
    assert err.value.path == "bad.kml" and err.value.record == "line 4, column 14"  # the "k" of "</kml>"
    assert "mismatched tag" in err.value.one_line() and "re-export" in err.value.one_line()


def test_first_line_column_counts_stripped_spaces():
    with pytest.raises(InputDataError) as err:
        list(iterparse(XmlReader(source(b"   <kml><a></kml>"))))
    assert err.value.record == "line 1, column 14"


def test_empty_document():
    with pytest.raises(InputDataError, match="malformed XML"):
        list(iterparse(XmlReader(source(b" \n "))))
