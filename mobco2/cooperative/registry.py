"""Participants' public keys: a CSV file (``participant,public_key,territory``) or a folder of
``*.json`` entries as ``mobco2 keys export-public`` writes them (and ``*.csv`` files)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from mobco2.errors import InputDataError, InputNotFoundError
from mobco2.signing import public_key_from_text

_ID_COLUMNS = ("participant", "pseudonym")


@dataclass(frozen=True)
class Participant:
    participant: str
    public_key_raw: bytes
    territory: str


@dataclass(frozen=True)
class Registry:
    """Participants by id. ``Registry.load(path)`` reads a CSV file or a folder."""

    participants: dict[str, Participant]
    source: str

    def get(self, participant: str) -> Participant | None:
        return self.participants.get(participant)

    def __len__(self) -> int:
        return len(self.participants)

    @classmethod
    def load(cls, path: str | Path) -> Registry:
        root = Path(path)
        if not root.exists():
            raise InputNotFoundError(f"registry {root} does not exist", hint="a CSV file or a folder of key files")
        entries: list[tuple[dict[str, str], str]] = []
        files = sorted(p for p in root.iterdir() if p.suffix in (".json", ".csv")) if root.is_dir() else [root]
        for f in files:
            entries.extend(_read_entries(f))
        found: dict[str, Participant] = {}
        for entry, where in entries:
            p = _participant(entry, where)
            if p.participant in found and found[p.participant] != p:
                raise InputDataError(f"participant {p.participant!r} is registered twice with different keys",
                                     path=where, hint="keep one entry per participant")
            found[p.participant] = p
        return cls(found, str(root))


def _read_entries(path: Path) -> list[tuple[dict[str, str], str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputDataError(f"cannot read the registry: {e}", path=str(path)) from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise InputDataError(f"not JSON: {e}", path=str(path)) from None
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(d, dict) for d in items):
            raise InputDataError("expected an object or a list of objects", path=str(path))
        return [(d, f"{path}") for d in items]
    rows = list(csv.DictReader(text.splitlines()))
    return [(r, f"{path}:{i + 2}") for i, r in enumerate(rows)]


def _participant(entry: dict[str, str], where: str) -> Participant:
    pid = next((str(entry[c]).strip() for c in _ID_COLUMNS if entry.get(c)), "")
    key = str(entry.get("public_key") or "").strip()
    territory = str(entry.get("territory") or "").strip()
    if not pid or not key or not territory:
        raise InputDataError("an entry needs participant, public_key and territory", path=where,
                             hint="write entries with `mobco2 keys export-public`")
    try:
        raw = public_key_from_text(key, f"the public key of {pid}")
    except InputDataError as e:
        raise InputDataError(e.problem, path=where) from None
    return Participant(pid, raw, territory)
