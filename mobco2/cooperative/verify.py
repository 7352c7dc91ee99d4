"""Is a submission acceptable? Parsed safely, valid against the schema, from a registered
participant, for that participant's territory, and signed by their key — each refusal with a
reason and the HTTP status the receiver answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mobco2.cooperative.registry import Registry
from mobco2.errors import InputDataError
from mobco2.signing import canonical, document_sha256, parse, schema_errors, signature_valid

MALFORMED = "malformed"
UNSIGNED = "unsigned"
UNKNOWN_KEY = "unknown-key"
WRONG_TERRITORY = "wrong-territory"
BAD_SIGNATURE = "bad-signature"

HTTP_STATUS = {MALFORMED: 400, UNSIGNED: 401, UNKNOWN_KEY: 401, BAD_SIGNATURE: 401, WRONG_TERRITORY: 403}


@dataclass(frozen=True)
class Verdict:
    """``ok`` with the document and its canonical bytes and sha256, or a ``rejection`` and ``reason``."""

    ok: bool
    document: dict[str, Any] | None = None
    body: bytes = b""
    sha256: str = ""
    rejection: str = ""
    reason: str = ""

    @property
    def http_status(self) -> int:
        return 200 if self.ok else HTTP_STATUS[self.rejection]


def _no(rejection: str, reason: str, doc: dict[str, Any] | None = None) -> Verdict:
    return Verdict(False, document=doc, rejection=rejection, reason=reason)


def verify_bytes(data: bytes, registry: Registry) -> Verdict:
    """Verify a submission received as bytes (a request body, a file)."""
    try:
        doc = parse(data)
    except InputDataError as e:
        return _no(MALFORMED, e.problem)
    return verify_document(doc, registry)


def verify_document(doc: Any, registry: Registry) -> Verdict:
    """Verify a parsed submission against the schema and the registry."""
    if not isinstance(doc, dict):
        return _no(MALFORMED, "a submission is a JSON object")
    if "signature" not in doc:
        return _no(UNSIGNED, "the document has no signature")
    problems = schema_errors(doc)
    if problems:
        return _no(MALFORMED, f"schema: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    who = registry.get(doc["participant"])
    if who is None:
        return _no(UNKNOWN_KEY, f"participant {doc['participant']} is not in the registry", doc)
    if doc["territory"] != who.territory:
        return _no(
            WRONG_TERRITORY,
            f"participant {doc['participant']} is registered in {who.territory}, not {doc['territory']}",
            doc,
        )
    if not signature_valid(doc, who.public_key_raw):
        return _no(BAD_SIGNATURE, "the signature does not match the document and the registered key", doc)
    return Verdict(True, document=doc, body=canonical(doc), sha256=document_sha256(doc))
