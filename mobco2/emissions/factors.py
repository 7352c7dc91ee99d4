"""Emission-factor sets: CSV files with provenance, loaded and validated (DESIGN §5).

A factor set is one CSV file; ``factors/README.md`` documents every column. The sets shipped in
the wheel live in the ``mobco2.factors`` package (``factors/`` in the repo); a user's own sets
are found by path, or by id in ``<config dir>/factors/`` (beside ``config.toml``).

Loading is strict: a missing or unknown column, a negative value, an unknown mode or variant,
an ambiguous pair of rows — each is refused with :class:`~mobco2.errors.FactorSetError`
naming the file, the line and the column (exit 65). Nothing here runs per leg; the per-leg
work is in :mod:`mobco2.emissions.compute`.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from mobco2.config import config_path
from mobco2.errors import FactorSetError, NotFoundError, UsageError
from mobco2.schema import MODES

DEFAULT_SET = "ademe-impactco2-2026-07"

SCOPES: tuple[str, ...] = ("full", "usage", "no-contrails")
"""``full`` = usage + construction + contrails (ADEME's website); ``usage`` = fuel or electricity
only (ADEME's API default); ``no-contrails`` = usage + construction."""

ENERGIES: tuple[str, ...] = (
    "combustion",
    "petrol",
    "diesel",
    "lpg",
    "natural-gas",
    "hybrid",
    "plug-in-hybrid",
    "electric",
    "hydrogen",
)
"""Energy variant keys (the ``energy`` column, a leg's ``vehicle``, ``profile.*_energy``)."""

SIZES: tuple[str, ...] = ("small", "medium", "large", "suv", "van", "camper", "cargo")
"""Size variant keys (the ``size`` column, a leg's ``vehicle``, ``profile.*_size``)."""

NO_FACTOR_MODES = frozenset({"unknown", "other"})
"""Modes that never take a factor: their legs get a low/high bound from their speed instead."""

PUBLIC_TRANSPORT = frozenset({"bus", "coach", "tram", "metro", "train", "rer", "intercity", "hsr", "plane", "ferry"})
"""Their factors already include average occupancy: never divided, so ``per`` must be ``pkm``."""

UNITS: dict[str, float] = {"gCO2e/km": 1.0, "kgCO2e/km": 1000.0}
"""Accepted ``unit`` values and their factor to grams."""

SET_COLUMNS = ("set_id", "set_version", "source", "source_version", "unit")
REQUIRED_COLUMNS = (*SET_COLUMNS, "factor_id", "mode", "per", "usage", "construction", "contrails")
OPTIONAL_COLUMNS = ("label", "energy", "size", "occupancy", "min_km", "max_km", "alias_of", "notes")
COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)

MAX_FILE_BYTES = 10_000_000

_ID = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")


def _decimal(value: float) -> float:
    """Drop binary noise past 12 significant digits, so that published decimals stay as published
    (0.0604 kg is 60.4 g, not 60.400000000000006; 3.8 + 0.48 is 4.28)."""
    return float(f"{value:.12g}")


@dataclass(frozen=True)
class FactorRow:
    """One row of a factor set, values converted to gCO2e per km.

    ``energies``/``sizes`` empty = the row serves any value of that variant; ``occupancy`` None =
    any number of occupants; ``min_km``/``max_km`` None = open band (a row applies when
    ``min_km < distance ≤ max_km``).
    """

    factor_id: str
    label: str
    modes: tuple[str, ...]
    energies: tuple[str, ...]
    sizes: tuple[str, ...]
    occupancy: int | None
    min_km: float | None
    max_km: float | None
    per: str  # "pkm" (per passenger-km) or "vkm" (per vehicle-km, divided by occupancy)
    usage_g: float
    construction_g: float
    contrails_g: float
    alias_of: str | None
    notes: str
    line: int

    def g_per_km(self, scope: str) -> float:
        """The factor in gCO2e per km under ``scope`` (see :data:`SCOPES`)."""
        if scope == "usage":
            return self.usage_g
        if scope == "no-contrails":
            return _decimal(self.usage_g + self.construction_g)
        return _decimal(self.usage_g + self.construction_g + self.contrails_g)

    @property
    def specificity(self) -> int:
        """Energy outranks size, size outranks occupancy: the most specific matching row wins."""
        return 4 * bool(self.energies) + 2 * bool(self.sizes) + (self.occupancy is not None)

    def contains(self, km: float) -> bool:
        lo = -math.inf if self.min_km is None else self.min_km
        hi = math.inf if self.max_km is None else self.max_km
        return lo < km <= hi


@dataclass(frozen=True)
class FactorSet:
    """A validated factor set: metadata plus its rows (aliases included, flagged)."""

    id: str
    version: str
    source: str
    source_version: str
    unit: str
    path: str
    rows: tuple[FactorRow, ...]
    _by_id: dict[str, FactorRow] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({r.factor_id: r for r in self.rows})

    @property
    def matchable(self) -> tuple[FactorRow, ...]:
        """Rows a leg can be given (aliases are kept for provenance only)."""
        return tuple(r for r in self.rows if r.alias_of is None)

    def row(self, factor_id: str) -> FactorRow:
        return self._by_id[factor_id]

    def modes_without_factor(self) -> list[str]:
        """Canonical modes (other than unknown/other) no row serves: their legs are reported."""
        served = {m for r in self.matchable for m in r.modes}
        return [m for m in MODES if m not in served and m not in NO_FACTOR_MODES]

    def candidates(self, mode: str, energy: str | None, size: str | None, occupancy: int) -> list[list[FactorRow]]:
        """Rows that may serve a leg, grouped by specificity, most specific group first.

        A row matches when it lists the mode, its energy (size) is empty or lists the leg's, and
        its occupancy is empty or equals the leg's. Within a group, the distance band decides.
        """
        groups: dict[int, list[FactorRow]] = {}
        for r in self.matchable:
            if mode not in r.modes:
                continue
            if r.energies and energy not in r.energies:
                continue
            if r.sizes and size not in r.sizes:
                continue
            if r.occupancy is not None and r.occupancy != occupancy:
                continue
            groups.setdefault(r.specificity, []).append(r)
        return [groups[k] for k in sorted(groups, reverse=True)]

    def meta(self) -> dict[str, str]:
        """Provenance echoed in every output."""
        return {
            "factor_set_id": self.id,
            "factor_set_version": self.version,
            "factor_set_source": self.source,
            "factor_set_source_version": self.source_version,
        }


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise UsageError(f"unknown scope {scope!r}", hint="use one of: " + ", ".join(SCOPES))
    return scope


def user_factors_dir() -> Path:
    """Where a user's own sets are found by id: ``factors/`` beside ``config.toml``."""
    return config_path().parent / "factors"


def _builtin_paths() -> dict[str, Path]:
    root = resources.files("mobco2.factors")
    out = {}
    for entry in root.iterdir():
        if entry.name.endswith(".csv"):
            out[entry.name[:-4]] = Path(str(entry))
    return out


def _user_paths() -> dict[str, Path]:
    folder = user_factors_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.csv"))}


def factor_set_paths() -> dict[str, Path]:
    """Every set known by id: the shipped ones, then the user's (a user file cannot shadow one)."""
    paths = _user_paths()
    paths.update(_builtin_paths())
    return dict(sorted(paths.items()))


def load_factor_set(ref: str | Path | FactorSet = DEFAULT_SET) -> FactorSet:
    """Load a factor set by id (shipped or user folder) or by path to a CSV file.

    Raises ``NotFoundError`` (exit 66) for an unknown id or a missing file and
    ``FactorSetError`` (exit 65) for an invalid one.
    """
    if isinstance(ref, FactorSet):
        return ref
    text = str(ref)
    known = factor_set_paths()
    if text in known:
        path = known[text]
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise NotFoundError(
                f"no factor set {text!r}",
                hint="use an id from `mobco2 factors list` or the path of a CSV file (factors/README.md)",
            )
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def list_factor_sets() -> list[FactorSet]:
    """Every loadable set known by id (an invalid user file raises, naming itself)."""
    return [load_factor_set(p) for p in factor_set_paths().values()]


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int, size: int) -> FactorSet:
    return parse_factor_file(Path(path))


def parse_factor_file(path: Path) -> FactorSet:
    """Read and validate one factor CSV (see ``factors/README.md``)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FactorSetError("the file is larger than 10 MB: not a factor set", path=str(path))
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise NotFoundError(f"cannot read factor set {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise FactorSetError("not UTF-8 text", path=str(path), hint="save the file as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise FactorSetError("the file is empty", path=str(path), record="line 1")
        header = [h.strip() for h in header]
        _check_header(path, header)
        records: list[tuple[int, dict[str, str]]] = []
        previous_end = reader.line_num
        for raw in reader:
            line = previous_end + 1  # where the record starts (a quoted cell may span lines)
            previous_end = reader.line_num
            if not any(cell.strip() for cell in raw):
                continue
            if len(raw) != len(header):
                raise FactorSetError(
                    f"{len(raw)} cells where the header has {len(header)}",
                    path=str(path),
                    record=f"line {line}",
                    hint="quote cells that contain commas",
                )
            records.append((line, {h: c.strip() for h, c in zip(header, raw, strict=True)}))
    except csv.Error as e:
        where = f"line {reader.line_num}"
        raise FactorSetError(f"not a valid CSV file: {e}", path=str(path), record=where) from None
    if not records:
        raise FactorSetError("the file has a header but no rows", path=str(path), record="line 2")
    return _build(path, records)


def _check_header(path: Path, header: list[str]) -> None:
    for col in header:
        if col not in COLUMNS:
            raise FactorSetError(
                f"unknown column {col!r}",
                path=str(path),
                record=f"line 1, column {col!r}",
                hint="columns are: " + ", ".join(COLUMNS),
            )
    if len(set(header)) != len(header):
        dup = next(c for c in header if header.count(c) > 1)
        raise FactorSetError(f"column {dup!r} appears twice", path=str(path), record=f"line 1, column {dup!r}")
    for col in REQUIRED_COLUMNS:
        if col not in header:
            raise FactorSetError(
                f"missing column {col!r}",
                path=str(path),
                record=f"line 1, column {col!r}",
                hint="required columns are: " + ", ".join(REQUIRED_COLUMNS),
            )


class _Row:
    """Validation helper: one record with its line, raising errors that name the column."""

    def __init__(self, path: Path, line: int, cells: dict[str, str]) -> None:
        self.path, self.line, self.cells = path, line, cells

    def fail(self, column: str, message: str, hint: str | None = None) -> FactorSetError:
        return FactorSetError(message, path=str(self.path), record=f"line {self.line}, column {column!r}", hint=hint)

    def text(self, column: str, required: bool = False) -> str:
        value = self.cells.get(column, "")
        if required and not value:
            raise self.fail(column, f"{column} is empty")
        return value

    def number(self, column: str, blank: float | None) -> float | None:
        value = self.cells.get(column, "")
        if not value:
            if blank is None and column in REQUIRED_COLUMNS:
                raise self.fail(column, f"{column} is empty", hint="give a number (0 if none)")
            return blank
        try:
            number = float(value)
        except ValueError:
            raise self.fail(column, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise self.fail(column, f"{value!r} is not a finite number")
        if number < 0:
            raise self.fail(column, f"negative value {value}", hint="factors and distances are ≥ 0")
        return number

    def keys(self, column: str, allowed: Iterable[str], what: str) -> tuple[str, ...]:
        value = self.cells.get(column, "")
        if not value:
            return ()
        keys = tuple(k.strip() for k in value.split("|"))
        allowed = tuple(allowed)
        for k in keys:
            if k not in allowed:
                raise self.fail(column, f"unknown {what} {k!r}", hint="use one of: " + ", ".join(allowed))
        return keys


def _build(path: Path, records: list[tuple[int, dict[str, str]]]) -> FactorSet:
    first_line, first = records[0]
    meta = {}
    for col in SET_COLUMNS:
        meta[col] = _Row(path, first_line, first).text(col, required=True)
    if not _ID.match(meta["set_id"]):
        raise _Row(path, first_line, first).fail(
            "set_id", f"set_id {meta['set_id']!r} is not a plain id", hint="use lower-case letters, digits, . _ + -"
        )
    if meta["unit"] not in UNITS:
        raise _Row(path, first_line, first).fail(
            "unit", f"unknown unit {meta['unit']!r}", hint="use one of: " + ", ".join(UNITS)
        )
    to_g = UNITS[meta["unit"]]
    rows: list[FactorRow] = []
    seen: dict[str, int] = {}
    factor_modes = [m for m in MODES if m not in NO_FACTOR_MODES]
    for line, cells in records:
        r = _Row(path, line, cells)
        for col in SET_COLUMNS:
            if cells[col] != meta[col]:
                raise r.fail(
                    col,
                    f"{col} {cells[col]!r} differs from line {first_line} ({meta[col]!r})",
                    hint="one file holds one set: every row repeats the same set columns",
                )
        fid = r.text("factor_id", required=True)
        if not _ID.match(fid):
            raise r.fail(
                "factor_id", f"factor_id {fid!r} is not a plain id", hint="use lower-case letters, digits, . _ + -"
            )
        if fid in seen:
            raise r.fail("factor_id", f"factor_id {fid!r} already used on line {seen[fid]}")
        seen[fid] = line
        mode_text = r.text("mode", required=True)
        for m in (k.strip() for k in mode_text.split("|")):
            if m in NO_FACTOR_MODES:
                raise r.fail(
                    "mode",
                    f"mode {m!r} cannot have a factor",
                    hint="unknown and other legs get a low/high bound from their speed",
                )
        modes = r.keys("mode", factor_modes, "mode id")
        per = r.text("per", required=True)
        if per not in ("pkm", "vkm"):
            raise r.fail("per", f"per {per!r} is neither 'pkm' nor 'vkm'")
        if per == "vkm" and PUBLIC_TRANSPORT.intersection(modes):
            raise r.fail(
                "per",
                "public transport cannot be per vehicle-km",
                hint="its factor already includes average occupancy: use pkm",
            )
        occupancy = None
        if r.text("occupancy"):
            occ = r.number("occupancy", None)
            if occ is None or occ < 1 or occ != int(occ):
                raise r.fail("occupancy", f"occupancy {r.text('occupancy')!r} is not a whole number ≥ 1")
            if per != "pkm":
                raise r.fail("per", "a row for a given occupancy is already per passenger: use pkm")
            occupancy = int(occ)
        min_km = r.number("min_km", None) if r.text("min_km") else None
        max_km = r.number("max_km", None) if r.text("max_km") else None
        if min_km is not None and max_km is not None and min_km >= max_km:
            raise r.fail("max_km", f"max_km {max_km:g} is not above min_km {min_km:g}")
        usage = r.number("usage", None)
        rows.append(
            FactorRow(
                factor_id=fid,
                label=r.text("label") or fid,
                modes=modes,
                energies=r.keys("energy", ENERGIES, "energy"),
                sizes=r.keys("size", SIZES, "size"),
                occupancy=occupancy,
                min_km=min_km,
                max_km=max_km,
                per=per,
                usage_g=_decimal((usage or 0.0) * to_g),
                construction_g=_decimal((r.number("construction", 0.0) or 0.0) * to_g),
                contrails_g=_decimal((r.number("contrails", 0.0) or 0.0) * to_g),
                alias_of=r.text("alias_of") or None,
                notes=r.text("notes"),
                line=line,
            )
        )
    _check_aliases(path, rows)
    _check_overlaps(path, rows)
    return FactorSet(
        id=meta["set_id"],
        version=meta["set_version"],
        source=meta["source"],
        source_version=meta["source_version"],
        unit=meta["unit"],
        path=str(path),
        rows=tuple(rows),
    )


def _check_aliases(path: Path, rows: list[FactorRow]) -> None:
    by_id = {r.factor_id: r for r in rows}
    for r in rows:
        if r.alias_of is None:
            continue
        target = by_id.get(r.alias_of)
        where = f"line {r.line}, column 'alias_of'"
        if target is None or target.alias_of is not None:
            raise FactorSetError(
                f"alias_of {r.alias_of!r} names no plain row of this set", path=str(path), record=where
            )
        for scope in SCOPES:
            a, b = r.g_per_km(scope), target.g_per_km(scope)
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                raise FactorSetError(
                    f"{scope} value {a:g} differs from {r.alias_of!r} ({b:g}) it claims to repeat",
                    path=str(path),
                    record=where,
                    hint="an alias repeats another row's values; remove alias_of to make it a row of its own",
                )


def _check_overlaps(path: Path, rows: list[FactorRow]) -> None:
    """Two rows that would serve the same leg equally (same variant keys, overlapping bands) are refused."""
    slots: dict[tuple, list[FactorRow]] = {}
    for r in rows:
        if r.alias_of is not None:
            continue
        for m in r.modes:
            for e in r.energies or ("*",):
                for s in r.sizes or ("*",):
                    slots.setdefault((m, e, s, r.occupancy), []).append(r)
    for key, group in slots.items():
        group = sorted(group, key=lambda r: (-math.inf if r.min_km is None else r.min_km, r.line))
        for a, b in itertools.pairwise(group):
            a_hi = math.inf if a.max_km is None else a.max_km
            b_lo = -math.inf if b.min_km is None else b.min_km
            if b_lo < a_hi:
                later, earlier = (a, b) if a.line > b.line else (b, a)
                m, e, s, occ = key
                what = ", ".join(x for x in (m, None if e == "*" else e, None if s == "*" else s) if x)
                if occ is not None:
                    what += f", {occ} occupants"
                raise FactorSetError(
                    f"row {later.factor_id!r} serves the same legs ({what}) as line {earlier.line}",
                    path=str(path),
                    record=f"line {later.line}, column 'min_km'",
                    hint="give the rows different energy/size/occupancy or distance bands that do not overlap",
                )
