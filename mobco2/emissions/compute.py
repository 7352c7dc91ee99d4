"""Per-leg emissions over whole columns: factor, co2e, bounds, baseline and savings (DESIGN §5).

``co2e_kg = distance_km × g_per_km / 1000``, divided by the leg's occupancy (driver included)
when the factor is per vehicle-km (the car family); public transport is never divided.

How a leg finds its factor row: its mode, an energy and a size (from the leg's ``vehicle``,
else from the user's :class:`Profile` for cars, buses and motorbikes), its occupancy, and for
rows with distance bands (planes) the great-circle distance between its ends (``distance_m``
when an end is missing). The most specific matching row wins (``FactorSet.candidates``).

Nothing here loops over legs: legs are grouped by their (mode, energy, size, occupancy) key —
a few dozen distinct keys for millions of legs — each key is resolved once, and the result is
gathered back with numpy indexing. Only the banded keys (planes) look at per-leg distances,
with one vectorised comparison per band.

Legs whose mode is ``unknown`` or ``other``, or whose mode has no factor in the set (ferry in
ADEME's), get ``co2e_kg`` null and a low/high bound: for a mode the set knows but not in that
variant, its cheapest and dearest rows; otherwise the cheapest and dearest of the modes
plausible at the leg's median speed (:data:`PLAUSIBLE_BY_SPEED`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:  # a DataFrame is accepted; pandas is not loaded to compute emissions
    import pandas as pd

from mobco2.emissions.factors import (
    DEFAULT_SET,
    ENERGIES,
    NO_FACTOR_MODES,
    SIZES,
    FactorRow,
    FactorSet,
    check_scope,
    load_factor_set,
)
from mobco2.emissions.profile import Baseline, Profile, parse_vehicle
from mobco2.errors import UsageError
from mobco2.schema import MODES

EARTH_RADIUS_KM = 6371.0088

STATUS_OK = "ok"
STATUS_NO_FACTOR = "no_factor"
STATUS_UNKNOWN = "unknown"
STATUSES = (STATUS_OK, STATUS_NO_FACTOR, STATUS_UNKNOWN)
"""Values of ``emission_status``, in the order of :attr:`LegEmissions.status` codes."""

SPEED_BANDS_KMH: tuple[float, ...] = (7.0, 20.0, 45.0, 130.0, 330.0)
"""Edges of the speed bands (median speed, km/h) used to bound unknown legs."""

PLAUSIBLE_BY_SPEED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("< 7 km/h", ("walk", "run", "bike", "ebike", "escooter")),
    ("7-20 km/h", ("run", "bike", "ebike", "escooter", "scooter", "bus", "tram", "metro", "car")),
    ("20-45 km/h", ("ebike", "scooter", "moto", "car", "bus", "coach", "tram", "metro", "rer", "train", "ferry")),
    ("45-130 km/h", ("moto", "car", "bus", "coach", "rer", "train", "intercity", "hsr", "ferry")),
    ("130-330 km/h", ("intercity", "hsr", "plane")),
    (">= 330 km/h", ("plane",)),
    ("speed unknown", tuple(m for m in MODES if m not in NO_FACTOR_MODES)),
)
"""Modes plausible at a leg's median speed; an unknown leg's bounds are the cheapest and dearest
of these under the chosen factor set, scope and profile (driver alone). The last entry serves legs
whose speed cannot be known (no speed, no duration)."""


def great_circle_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Haversine distance in km between arrays of points in degrees (NaN where an end is NaN)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _float(table: pa.Table, name: str, default: float = np.nan) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default)
    col = table.column(name)
    if not pa.types.is_floating(col.type):
        col = col.cast(pa.float64())
    return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values in order of first appearance) of a numeric array, by hashing."""
    enc = pc.dictionary_encode(pa.array(values))
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_numpy(zero_copy_only=False)


def column_codes(table: pa.Table, name: str) -> tuple[np.ndarray, list[str | None]]:
    """Dictionary-encode a string column: (int codes, -1 for null; the distinct values)."""
    if name not in table.column_names:
        return np.full(table.num_rows, -1, dtype=np.int64), []
    col = table.column(name)
    if pa.types.is_dictionary(col.type):  # already encoded (e.g. read as a DuckDB ENUM): use it as is
        if isinstance(col, pa.ChunkedArray):
            col = col.unify_dictionaries()
            chunks = col.chunks
            col = pa.chunked_array(chunks, col.type).combine_chunks() if chunks else pa.array([], col.type)
        if not pa.types.is_string(col.type.value_type) and not pa.types.is_large_string(col.type.value_type):
            col = col.cast(pa.string())
    enc = (
        col
        if pa.types.is_dictionary(col.type)
        else pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)
    )
    indices = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, enc.dictionary.to_pylist()


class _Resolver:
    """Turns per-leg (mode, energy, size, occupancy) codes into factor-row indices, vectorised."""

    def __init__(self, fs: FactorSet, scope: str) -> None:
        self.fs = fs
        self.rows: list[FactorRow] = list(fs.matchable)
        self.index = {r.factor_id: i for i, r in enumerate(self.rows)}
        self.g = np.array([r.g_per_km(scope) for r in self.rows] + [np.nan])
        self.per_vkm = np.array([r.per == "vkm" for r in self.rows] + [False])

    def resolve(
        self,
        mode: list[str | None],
        mode_code: np.ndarray,
        energy: np.ndarray,
        size: np.ndarray,
        occupancy: np.ndarray,
        band_km: Any,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row index per leg (``len(self.rows)`` = no factor), and low/high g/km for no-factor legs.

        The low/high factors (per passenger, occupancy applied) are given where the mode has rows
        but none for the leg's variant: the cheapest and dearest of the mode's closest rows
        (:meth:`_relaxed`); NaN elsewhere.

        ``mode`` lists the distinct modes and ``mode_code`` indexes it (-1 = null); ``energy`` and
        ``size`` index ENERGIES / SIZES (-1 = none); ``band_km(mask)`` returns the band distance
        of the masked legs, computed only when a banded row is in play.
        """
        none = len(self.rows)
        ne, ns = len(ENERGIES) + 1, len(SIZES) + 1
        occ = np.clip(occupancy, 1, 999)
        key = ((mode_code + 1) * ne + (energy + 1)) * ns + (size + 1)
        key = key * 1000 + occ
        inverse, uniques = factorize(key)
        out_u = np.full(len(uniques), none, dtype=np.int64)
        lo_u = np.full(len(uniques), np.nan)
        hi_u = np.full(len(uniques), np.nan)
        banded: list[tuple[int, list[list[FactorRow]]]] = []
        for u, k in enumerate(uniques):
            k, o = divmod(int(k), 1000)
            k, s = divmod(k, ns)
            mc, e = divmod(k, ne)
            m = mode[mc - 1] if mc > 0 else None
            if m is None:
                continue
            groups = self.fs.candidates(m, ENERGIES[e - 1] if e > 0 else None, SIZES[s - 1] if s > 0 else None, o)
            if not groups:
                lo_u[u], hi_u[u] = self._relaxed(m, e, s, o)
                continue
            if len(groups) == 1 and len(groups[0]) == 1 and groups[0][0].min_km is None and groups[0][0].max_km is None:
                out_u[u] = self.index[groups[0][0].factor_id]
            else:
                banded.append((u, groups))
        rows = out_u[inverse]
        for u, groups in banded:
            mask = inverse == u
            km = band_km(mask)
            chosen = np.full(km.shape, none, dtype=np.int64)
            for group in groups:  # most specific first; a later group fills only what is left
                for r in group:
                    lo = -np.inf if r.min_km is None else r.min_km
                    hi = np.inf if r.max_km is None else r.max_km
                    hit = (chosen == none) & (km > lo) & (km <= hi)
                    chosen[hit] = self.index[r.factor_id]
            rows[mask] = chosen
        return rows, lo_u[inverse], hi_u[inverse]

    def _relaxed(self, mode: str, e: int, s: int, occupancy: int) -> tuple[float, float]:
        """Extreme factors of ``mode``'s rows closest to a variant the set lacks (e.g. an LPG car).

        Rows for a given occupancy are left out (they repeat others); rows of the leg's size are
        preferred, then rows of its energy; with neither, every row of the mode.
        """
        rows = [r for r in self.rows if mode in r.modes and r.occupancy is None]
        if not rows:
            return np.nan, np.nan
        size = SIZES[s - 1] if s > 0 else None
        energy = ENERGIES[e - 1] if e > 0 else None
        for keep in (lambda r: not r.sizes or size in r.sizes, lambda r: not r.energies or energy in r.energies):
            narrowed = [r for r in rows if keep(r)]
            rows = narrowed or rows
        g = [self.g[self.index[r.factor_id]] / (occupancy if r.per == "vkm" else 1) for r in rows]
        return min(g), max(g)


def _speed_band(speed_mps: np.ndarray) -> np.ndarray:
    kmh = speed_mps * 3.6
    band = np.searchsorted(np.array(SPEED_BANDS_KMH), kmh, side="right")
    return np.where(np.isfinite(kmh) & (kmh >= 0), band, len(PLAUSIBLE_BY_SPEED) - 1)


def compute(
    legs: pa.Table | pd.DataFrame,
    factors: str | FactorSet = DEFAULT_SET,
    scope: str = "full",
    profile: Profile | Mapping[str, str] | None = None,
    baseline: Baseline | str | None = None,
) -> pa.Table:
    """Emissions of every leg, with everything a footprint needs.

    Parameters
    ----------
    legs : Arrow table or DataFrame with ``mode`` and ``distance_m`` (m); optional ``occupancy``
        (people, driver included; null = 1), ``vehicle`` (e.g. ``"electric small"``),
        ``start_lat``/``start_lon``/``end_lat``/``end_lon`` (degrees), ``speed_median_mps`` (m/s),
        ``started_at``/``finished_at``.
    factors : a factor set id, a path to a CSV file, or a loaded :class:`FactorSet`.
    scope : ``full`` | ``usage`` | ``no-contrails``.
    profile : the user's vehicles (:class:`Profile`, or a mapping like ``cfg.section("profile")``).
    baseline : :class:`Baseline`, or a mode name (driver alone, combustion medium vehicle).

    Returns the legs with these columns added or replaced: ``co2e_kg``, ``co2e_low_kg``,
    ``co2e_high_kg``, ``baseline_co2e_kg``, ``saved_co2e_kg`` (kg CO2e), ``factor_id``
    (``set:row``), ``factor_g_per_km`` (g CO2e per passenger- or vehicle-km, before occupancy),
    ``emission_status`` (``ok`` | ``no_factor`` | ``unknown``).

    Example::

        t = pa.table({"mode": ["car", "hsr"], "distance_m": [100_000.0, 100_000.0]})
        compute(t).column("co2e_kg").to_pylist()   # [14.225…, 0.293]: ADEME's 100 km figures
    """
    fs = load_factor_set(factors)
    check_scope(scope)
    table = legs if isinstance(legs, pa.Table) else pa.Table.from_pandas(legs, preserve_index=False)
    em = leg_emissions(table, fs, scope, Profile.coerce(profile), baseline)
    fid = [f"{fs.id}:{r.factor_id}" for r in fs.matchable]
    out = {
        "co2e_kg": _nullable(em.co2e_kg),
        "co2e_low_kg": _nullable(em.low_kg),
        "co2e_high_kg": _nullable(em.high_kg),
        "baseline_co2e_kg": _nullable(em.baseline_kg),
        "saved_co2e_kg": _nullable(em.saved_kg),
        "factor_id": _labels(em.row, fid),
        "factor_g_per_km": _nullable(em.g_per_km),
        "emission_status": _labels(em.status, list(STATUSES)),
    }
    for name, arr in out.items():
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, arr.cast(table.schema.field(name).type))
        else:
            table = table.append_column(name, arr)
    return table


@dataclass(frozen=True)
class LegEmissions:
    """Per-leg results as numpy arrays (NaN where a value does not exist), before any Arrow column
    is built: what :func:`compute` returns as columns, and what totals read directly."""

    co2e_kg: np.ndarray
    low_kg: np.ndarray
    high_kg: np.ndarray
    baseline_kg: np.ndarray
    saved_kg: np.ndarray
    row: np.ndarray
    """Index into ``FactorSet.matchable``; ``len(matchable)`` where the leg has no factor."""
    g_per_km: np.ndarray
    status: np.ndarray
    """int8 index into :data:`STATUSES`."""


def leg_emissions(
    table: pa.Table, fs: FactorSet, scope: str, prof: Profile, baseline: Baseline | str | None = None
) -> LegEmissions:
    """The arrays behind :func:`compute` for an Arrow table of legs (already-checked arguments)."""
    n = table.num_rows
    if "mode" not in table.column_names or "distance_m" not in table.column_names:
        raise UsageError("legs need at least the columns mode and distance_m")
    base = baseline if isinstance(baseline, Baseline) else Baseline(mode=baseline or "car")
    res = _Resolver(fs, scope)
    none = len(res.rows)

    dist_km = np.nan_to_num(_float(table, "distance_m", 0.0), nan=0.0).clip(min=0.0) / 1000.0
    occ_raw = _float(table, "occupancy", 1.0)
    occ = np.where(np.isfinite(occ_raw) & (occ_raw >= 1), occ_raw, 1.0).astype(np.int64)

    mode_code, modes = column_codes(table, "mode")
    mode_ok = np.array([m in MODES and m not in NO_FACTOR_MODES for m in modes] + [False])
    mode_known = mode_ok[mode_code]  # index -1 (null) lands on the trailing False

    veh_code, vehicles = column_codes(table, "vehicle")
    parsed = [parse_vehicle(v) for v in vehicles]
    veh_e = np.array([ENERGIES.index(p[0]) if p[0] else -1 for p in parsed] + [-1])[veh_code]
    veh_s = np.array([SIZES.index(p[1]) if p[1] else -1 for p in parsed] + [-1])[veh_code]
    prof_e = np.array([_idx(ENERGIES, prof.variant(m)[0]) if m else -1 for m in modes] + [-1])[mode_code]
    prof_s = np.array([_idx(SIZES, prof.variant(m)[1]) if m else -1 for m in modes] + [-1])[mode_code]
    energy = np.where(veh_e >= 0, veh_e, prof_e)
    size = np.where(veh_s >= 0, veh_s, prof_s)

    ends: list[np.ndarray] = []

    def band_km(mask: np.ndarray) -> np.ndarray:
        # Only legs that meet a banded row (planes) need their great-circle distance.
        if not ends:
            ends.extend(_float(table, c) for c in ("start_lat", "start_lon", "end_lat", "end_lon"))
        gc = great_circle_km(*(e[mask] for e in ends))
        return np.where(np.isfinite(gc), gc, dist_km[mask])

    row, relaxed_lo, relaxed_hi = res.resolve(modes, np.where(mode_known, mode_code, -1), energy, size, occ, band_km)
    g = res.g[row]
    divisor = np.where(res.per_vkm[row], occ, 1)
    co2e = dist_km * g / 1000.0 / divisor
    has = row != none
    status = np.where(has, 0, np.where(mode_known, 1, 2)).astype(np.int8)

    low = co2e.copy()
    high = co2e.copy()
    missing = ~has
    if missing.any():
        lo_g, hi_g = relaxed_lo[missing], relaxed_hi[missing]
        todo = np.isnan(lo_g)
        if todo.any():
            sub = np.flatnonzero(missing)[todo]
            lo_g[todo], hi_g[todo] = _speed_bounds(res, table, sub, dist_km, prof, band_km)
        low[missing] = dist_km[missing] * lo_g / 1000.0
        high[missing] = dist_km[missing] * hi_g / 1000.0

    b_energy, b_size = base.variant()
    groups = fs.candidates(base.mode, b_energy, b_size, 1)
    if len(groups) == 1 and len(groups[0]) == 1 and groups[0][0].min_km is None and groups[0][0].max_km is None:
        b_g = res.g[res.index[groups[0][0].factor_id]]  # one row for every leg: no need to resolve per leg
    else:
        b_row, _, _ = res.resolve(
            [base.mode],
            np.zeros(n, dtype=np.int64),
            np.full(n, _idx(ENERGIES, b_energy)),
            np.full(n, _idx(SIZES, b_size)),
            np.ones(n, dtype=np.int64),
            band_km,
        )
        b_g = res.g[b_row]
    baseline_kg = dist_km * b_g / 1000.0
    saved = np.maximum(baseline_kg - co2e, 0.0)

    return LegEmissions(co2e, low, high, baseline_kg, saved, row, g, status)


def _leg_speed_mps(table: pa.Table, idx: np.ndarray, dist_km: np.ndarray) -> np.ndarray:
    """Median speed of the legs at ``idx`` (m/s), else their mean speed from distance and duration."""
    speed = _float(table, "speed_median_mps")[idx]
    if "started_at" in table.column_names and "finished_at" in table.column_names:
        dur_s = (
            pc.subtract(table.column("finished_at").take(idx), table.column("started_at").take(idx))
            .cast(pa.duration("us"))
            .cast(pa.int64())
            .to_numpy(zero_copy_only=False)
            .astype(np.float64)
            / 1e6
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            derived = np.where(dur_s > 0, dist_km[idx] * 1000.0 / dur_s, np.nan)
        speed = np.where(np.isfinite(speed) & (speed > 0), speed, derived)
    return speed


def _speed_bounds(
    res: _Resolver, table: pa.Table, idx: np.ndarray, dist_km: np.ndarray, prof: Profile, band_km: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest and dearest g/km among the modes plausible at the speed of the legs at ``idx``.

    One resolution per candidate mode over all these legs at once (driver alone, profile variant).
    """
    band = _speed_band(_leg_speed_mps(table, idx, dist_km))
    k = len(idx)
    lo = np.full(k, np.inf)
    hi = np.full(k, -np.inf)
    for m in sorted({m for _, ms in PLAUSIBLE_BY_SPEED for m in ms}, key=MODES.index):
        allowed = np.array([m in ms for _, ms in PLAUSIBLE_BY_SPEED])[band]
        if not allowed.any():
            continue
        legs_here = idx[allowed]

        def sub_band_km(mask: np.ndarray, legs_here: np.ndarray = legs_here) -> np.ndarray:
            full = np.zeros(len(dist_km), dtype=bool)
            full[legs_here[mask]] = True
            return band_km(full)

        e, s = prof.variant(m)
        r, _, _ = res.resolve(
            [m],
            np.zeros(len(legs_here), dtype=np.int64),
            np.full(len(legs_here), _idx(ENERGIES, e)),
            np.full(len(legs_here), _idx(SIZES, s)),
            np.ones(len(legs_here), dtype=np.int64),
            sub_band_km,
        )
        g = res.g[r]
        ok = np.isfinite(g)
        where = np.flatnonzero(allowed)[ok]
        lo[where] = np.minimum(lo[where], g[ok])
        hi[where] = np.maximum(hi[where], g[ok])
    return np.where(np.isfinite(lo), lo, np.nan), np.where(np.isfinite(hi), hi, np.nan)


def _idx(values: tuple[str, ...], value: str | None) -> int:
    return values.index(value) if value in values else -1


def _labels(codes: np.ndarray, names: list[str]) -> pa.Array:
    """Strings from small integer codes (out of range = null), built in Arrow rather than per leg."""
    valid = (codes >= 0) & (codes < len(names))
    indices = pa.array(np.where(valid, codes, 0).astype(np.int32), mask=~valid)
    return pa.DictionaryArray.from_arrays(indices, pa.array(names, pa.string())).cast(pa.string())


def _nullable(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=~np.isfinite(values))


def apply(
    legs: pa.Table,
    factors: str | FactorSet = DEFAULT_SET,
    scope: str = "full",
    profile: Profile | Mapping[str, str] | None = None,
    baseline: Baseline | str | None = None,
) -> pa.Table:
    """Fill ``co2e_kg``, ``baseline_co2e_kg`` and ``factor_id`` of ``legs``; other columns untouched.

    Made for segmentation time: the result keeps the input's columns and types (a table conformed
    to ``schema.LEGS`` stays conformed). Legs without a factor get null ``co2e_kg``.
    """
    full = compute(legs, factors=factors, scope=scope, profile=profile, baseline=baseline)
    out = legs
    for name in ("co2e_kg", "baseline_co2e_kg", "factor_id"):
        col = full.column(name)
        if name in out.column_names:
            i = out.column_names.index(name)
            out = out.set_column(i, out.schema.field(name), col.cast(out.schema.field(name).type))
        else:
            out = out.append_column(name, col)
    return out


def _band_text(r: FactorRow) -> str | None:
    if r.min_km is None and r.max_km is None:
        return None
    if r.min_km is None:
        return f"<= {r.max_km:g} km"
    if r.max_km is None:
        return f"> {r.min_km:g} km"
    return f"{r.min_km:g}-{r.max_km:g} km"


def mode_factors(
    factors: str | FactorSet = DEFAULT_SET,
    scope: str = "full",
    profile: Profile | Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each canonical mode's factor under ``profile`` and ``scope`` (driver alone).

    One row per mode, or per distance band for banded modes (planes). A mode without a factor
    gets a row with ``factor_id`` None and a note; ``unknown``/``other`` are bounded by speed.
    """
    fs = load_factor_set(factors)
    check_scope(scope)
    prof = Profile.coerce(profile)
    out: list[dict[str, Any]] = []
    for m in MODES:
        e, s = prof.variant(m)
        base = {"mode": m, "energy": e, "size": s}
        groups = [] if m in NO_FACTOR_MODES else fs.candidates(m, e, s, 1)
        if not groups:
            note = "bounded by speed" if m in NO_FACTOR_MODES else "no factor: reported, bounded by speed"
            out.append(
                {
                    **base,
                    "band": None,
                    "factor_id": None,
                    "label": None,
                    "per": None,
                    "g_co2e_per_km": None,
                    "note": note,
                }
            )
            continue
        for r in sorted(groups[0], key=lambda r: -np.inf if r.min_km is None else r.min_km):
            out.append(
                {
                    **base,
                    "band": _band_text(r),
                    "factor_id": r.factor_id,
                    "label": r.label,
                    "per": r.per,
                    "g_co2e_per_km": r.g_per_km(scope),
                    "note": None,
                }
            )
    return out


def factor_rows(factors: str | FactorSet = DEFAULT_SET, scope: str = "full") -> list[dict[str, Any]]:
    """Every row of a set as plain values (g CO2e per km), aliases included."""
    fs = load_factor_set(factors)
    check_scope(scope)
    return [
        {
            "factor_id": r.factor_id,
            "label": r.label,
            "mode": "|".join(r.modes),
            "energy": "|".join(r.energies) or None,
            "size": "|".join(r.sizes) or None,
            "occupancy": r.occupancy,
            "band": _band_text(r),
            "per": r.per,
            "usage_g_per_km": r.usage_g,
            "construction_g_per_km": r.construction_g,
            "contrails_g_per_km": r.contrails_g,
            "g_co2e_per_km": r.g_per_km(scope),
            "alias_of": r.alias_of,
        }
        for r in fs.rows
    ]
