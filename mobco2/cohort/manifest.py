"""Who is in a cohort and where their exports are: a folder per participant, or a manifest CSV.

Two ways to describe a cohort:

* **a directory** holding one entry per participant: a folder (every file under it is imported)
  or an archive (``.zip``, ``.gz`` or any single export file); the participant id is the entry's
  name without its suffixes (``alice.zip`` → ``alice``). Hidden entries are ignored. Everyone
  listed this way has consented.
* **a manifest CSV** with a header ``participant_id,path[,consent,territory]``; ``path`` is
  relative to the manifest's folder (or absolute); ``consent`` is ``yes``/``no`` (also
  ``true``/``false``, ``1``/``0``; empty means yes). Participants without consent are skipped,
  counted, and any data the store still holds for them is removed.

Participant ids become store user ids: 1-64 letters, digits, ``.``, ``_`` or ``-``.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from mobco2.errors import InputDataError, InputNotFoundError, UsageError
from mobco2.store import USER_ID_RE

_YES = {"", "yes", "y", "true", "1", "oui"}
_NO = {"no", "n", "false", "0", "non"}


@dataclass(frozen=True)
class Participant:
    """One participant: id, the paths of their exports, consent and territory (may be empty)."""

    participant_id: str
    paths: tuple[str, ...]
    consent: bool = True
    territory: str = ""


@dataclass
class Cohort:
    """Participants in manifest order, and where the cohort was described."""

    source: str
    participants: list[Participant] = field(default_factory=list)

    @property
    def consenting(self) -> list[Participant]:
        return [p for p in self.participants if p.consent]


def load_cohort(path: str | Path) -> Cohort:
    """Read a cohort from a directory (a folder or archive per participant) or a manifest CSV.

    Raises :class:`~mobco2.errors.InputNotFoundError` when ``path`` or a listed export is
    missing and :class:`~mobco2.errors.InputDataError` for a malformed manifest (naming the line).

    Example::

        cohort = load_cohort("exports/manifest.csv")
        [p.participant_id for p in cohort.consenting]
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputNotFoundError(f"{p}: no such cohort folder or manifest", hint="check the path")
    cohort = _from_manifest(p) if p.is_file() else _from_directory(p)
    seen: set[str] = set()
    for part in cohort.participants:
        if part.participant_id in seen:
            raise InputDataError(
                f"participant {part.participant_id!r} is listed twice", path=str(p),
                hint="give each participant one row (or one folder) holding all their exports",
            )
        seen.add(part.participant_id)
    if not cohort.participants:
        raise InputDataError("no participants found", path=str(p),
                             hint="a cohort is a folder with one folder or archive per participant, or a manifest CSV")
    return cohort


def _participant_id(name: str, where: str) -> str:
    if not USER_ID_RE.match(name):
        raise InputDataError(
            f"{name!r} is not a usable participant id", path=where,
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def _from_directory(folder: Path) -> Cohort:
    cohort = Cohort(source=str(folder))
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        name = entry.name if entry.is_dir() else entry.name.split(".", 1)[0]
        cohort.participants.append(Participant(_participant_id(name, str(entry)), (str(entry),)))
    return cohort


def _from_manifest(path: Path) -> Cohort:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputDataError(f"cannot read the manifest: {e}", path=str(path)) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InputDataError("the manifest is empty", path=str(path),
                             hint="first line: participant_id,path[,consent,territory]")
    header = [h.strip().lower() for h in rows[0]]
    if "participant_id" not in header or "path" not in header:
        raise UsageError(
            f"{path}: the manifest's header must name participant_id and path (found {','.join(header)})",
            hint="first line: participant_id,path[,consent,territory]",
        )
    col = {name: i for i, name in enumerate(header)}
    by_id: dict[str, Participant] = {}
    order: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        where = f"{path}:{line}"
        pid = _participant_id(row[col["participant_id"]].strip(), where)
        rel = row[col["path"]].strip()
        if not rel:
            raise InputDataError("empty path", path=where, hint="give the participant's export file or folder")
        target = Path(rel).expanduser()
        target = target if target.is_absolute() else path.parent / target
        if not target.exists():
            raise InputNotFoundError(f"{where}: {target}: no such file or folder", hint="check the manifest's path")
        consent_text = row[col["consent"]].strip().lower() if "consent" in col else ""
        if consent_text not in _YES | _NO:
            raise InputDataError(f"consent {consent_text!r} is not yes or no", path=where)
        territory = row[col["territory"]].strip() if "territory" in col else ""
        consent = consent_text in _YES
        if pid in by_id:  # several rows for one participant: several exports
            prev = by_id[pid]
            if prev.consent != consent:
                raise InputDataError(f"participant {pid!r} has rows with and without consent", path=where)
            by_id[pid] = Participant(pid, (*prev.paths, str(target)), consent, prev.territory or territory)
            continue
        by_id[pid] = Participant(pid, (str(target),), consent, territory)
        order.append(pid)
    return Cohort(source=str(path), participants=[by_id[pid] for pid in order])


def input_files(participant: Participant) -> list[tuple[str, Path]]:
    """The participant's files as (name relative to the participant's path, path), sorted."""
    out: list[tuple[str, Path]] = []
    for i, raw in enumerate(participant.paths):
        p = Path(raw)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                rel = f.relative_to(p)
                if not any(part.startswith(".") for part in rel.parts):
                    out.append((f"{i}/{rel.as_posix()}", f))
        else:
            out.append((f"{i}/{p.name}", p))
    return out


def input_sha256(participant: Participant) -> str:
    """One sha256 over every input file's name and content: the participant's inputs changed
    exactly when this does."""
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    for name, path in input_files(participant):
        f_hash = hashlib.sha256()
        with open(path, "rb") as fh, memoryview(buf) as view:
            while n := fh.readinto(buf):
                f_hash.update(view[:n])
        h.update(f"{name}\0{f_hash.hexdigest()}\n".encode())
    return h.hexdigest()
