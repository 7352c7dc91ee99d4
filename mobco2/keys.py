"""The participant's secrets, kept in the store: an Ed25519 key pair and the pseudonym secret.

``<store>/keys/participant.ed25519`` holds the raw private key (base64) and
``<store>/keys/pseudonym.secret`` 32 random bytes (hex) for the HMAC-SHA256 pseudonym. Both are
created with mode 0600 (owner only) and written atomically; :func:`init_keys` refuses to replace
them without ``force``, as a new key invalidates the one the cooperative registered.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mobco2.errors import InputDataError, NotFoundError, OutputError, UsageError
from mobco2.signing import b64, key_id, unb64

KEY_DIR = "keys"
PRIVATE_KEY_FILE = "participant.ed25519"
SECRET_FILE = "pseudonym.secret"


@dataclass(frozen=True)
class Keys:
    """The participant's key pair and pseudonym secret, as loaded from the store."""

    private_key: Any  # cryptography Ed25519PrivateKey
    pseudonym_secret: bytes
    folder: Path

    @property
    def public_key_raw(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_key(self) -> str:
        """The public key as base64 of its 32 raw bytes (what a cooperative registers)."""
        return b64(self.public_key_raw)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key_raw)

    def pseudonym(self, user_id: str) -> str:
        """HMAC-SHA256 of ``user_id`` with the store's secret, hex: stable, unlinkable without it."""
        return hmac.new(self.pseudonym_secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def key_folder(store_root: Path) -> Path:
    return Path(store_root) / KEY_DIR


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only, atomically (temp, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {e.strerror}") from None


def init_keys(store_root: Path, *, force: bool = False) -> Keys:
    """Create the key pair and pseudonym secret in the store; refuse to overwrite unless ``force``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    folder = key_folder(store_root)
    existing = [p for p in (folder / PRIVATE_KEY_FILE, folder / SECRET_FILE) if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{existing[0]} already exists",
            hint="a new key means re-registering with your cooperative; pass --force to replace it",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise OutputError(f"cannot create {folder}: {e.strerror}") from None
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    _write_private(folder / PRIVATE_KEY_FILE, b64(raw))
    _write_private(folder / SECRET_FILE, secrets.token_hex(32))
    return load_keys(store_root)


def _read_private(path: Path) -> str:
    if not path.exists():
        raise NotFoundError(f"no {path.name} in {path.parent}", hint="create your keys with `mobco2 keys init`")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UsageError(
            f"{path} is readable by others (mode {mode:o})", hint=f"restrict it: chmod 600 {path}"
        )
    return path.read_text(encoding="ascii").strip()


def load_keys(store_root: Path) -> Keys:
    """The store's keys; :class:`NotFoundError` (exit 66) naming ``keys init`` when there are none."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = key_folder(store_root)
    raw = unb64(_read_private(folder / PRIVATE_KEY_FILE), str(folder / PRIVATE_KEY_FILE))
    try:
        key = Ed25519PrivateKey.from_private_bytes(raw)
    except ValueError:
        raise InputDataError(f"{folder / PRIVATE_KEY_FILE} is not an Ed25519 private key") from None
    try:
        secret = bytes.fromhex(_read_private(folder / SECRET_FILE))
    except ValueError:
        raise InputDataError(f"{folder / SECRET_FILE} is not hex") from None
    return Keys(private_key=key, pseudonym_secret=secret, folder=folder)


def participant_id(keys: Keys, user_id: str, assigned: str = "") -> str:
    """The id a submission carries: the cooperative's ``assigned`` id if any, else the pseudonym."""
    return assigned.strip() or keys.pseudonym(user_id)


def public_entry(keys: Keys, participant: str, territory: str) -> dict[str, str]:
    """What the cooperative's registry holds for this participant (``keys export-public``)."""
    return {"participant": participant, "public_key": keys.public_key, "territory": territory}
