"""What both sides of a submission share: the schema, the canonical bytes, Ed25519 signatures.

The participant's tool (:mod:`mobco2.export.submission`) and the cooperative's
(:mod:`mobco2.cooperative`) import this module and nothing of each other, so the cooperative never
loads the participant's store.

Canonical serialisation: JSON with keys sorted, no whitespace, UTF-8 (no ``\\u`` escapes), and
numbers as Python writes them (shortest round-trip form for floats; NaN and infinities refused).
The signature covers the canonical bytes of the document without its ``signature`` member; a
document's identity (its sha256) is the canonical bytes of the whole signed document.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from mobco2.errors import InputDataError

SCHEMA_FILE = "submission.schema.json"
SUBMISSION_SCHEMA_VERSION = 1
ALGORITHM = "ed25519"


def canonical(doc: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON value (sorted keys, no whitespace, no NaN)."""
    try:
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as e:
        raise InputDataError(f"cannot serialise the document: {e}") from None
    return text.encode("utf-8")


def signed_bytes(doc: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the canonical document without ``signature``."""
    return canonical({k: v for k, v in doc.items() if k != "signature"})


def document_sha256(doc: dict[str, Any]) -> str:
    """Hex sha256 of the whole (signed) document's canonical bytes: its identity."""
    return hashlib.sha256(canonical(doc)).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise InputDataError(f"{what} is not base64") from None


def key_id(public_key_raw: bytes) -> str:
    """A short fingerprint of a raw 32-byte public key (first 16 hex digits of its sha256)."""
    return hashlib.sha256(public_key_raw).hexdigest()[:16]


def public_key_from_text(text: str, what: str = "public key") -> bytes:
    """A raw 32-byte Ed25519 public key from its base64 text; refuses anything else."""
    raw = unb64(text.strip(), what)
    if len(raw) != 32:
        raise InputDataError(f"{what} is {len(raw)} bytes, not a 32-byte Ed25519 key")
    return raw


def sign(doc: dict[str, Any], private_key: Any) -> dict[str, Any]:
    """``doc`` with a ``signature`` member: Ed25519 over :func:`signed_bytes`.

    ``private_key`` is a ``cryptography`` ``Ed25519PrivateKey``.
    """
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    body = {k: v for k, v in doc.items() if k != "signature"}
    pub = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    value = private_key.sign(signed_bytes(body))
    return {**body, "signature": {"algorithm": ALGORITHM, "key_id": key_id(pub), "value": b64(value)}}


def signature_valid(doc: dict[str, Any], public_key_raw: bytes) -> bool:
    """Whether ``doc``'s signature verifies with this raw public key (False for any malformation)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM or not isinstance(sig.get("value"), str):
        return False
    if sig.get("key_id") != key_id(public_key_raw):
        return False
    try:
        value = unb64(sig["value"], "signature")
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(value, signed_bytes(doc))
    except (InvalidSignature, InputDataError, ValueError):
        return False
    return True


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The submission JSON Schema shipped with mobco2."""
    text = resources.files("mobco2").joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def schema_errors(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the submission schema, as ``path: message`` lines (empty = valid)."""
    out = []
    for e in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in e.absolute_path) or "(document)"
        out.append(f"{where}: {e.message}")
    return out


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(data: bytes) -> Any:
    """JSON from untrusted bytes: UTF-8 only, no duplicate keys, no NaN/Infinity.

    Raises :class:`InputDataError` with the reason.
    """
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise InputDataError("the document is not UTF-8") from None
    except RecursionError:
        raise InputDataError("the document nests too deeply") from None
    except ValueError as e:
        raise InputDataError(f"the document is not JSON: {e}") from None
