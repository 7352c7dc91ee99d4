"""The monthly submission document: one participant's per-mode totals for one month, signed.

The figures are :func:`mobco2.emissions.footprint` by mode over the month's local days, so they
equal what ``mobco2 footprint --by mode --since … --until …`` prints, rounded to the metre and the
gram. The document carries no coordinates, no place names, no trip list and no time finer than
the month (even its ``created`` member is a month). See ``mobco2/schemas/submission.schema.json``.

Example::

    doc = build_submission(Store("~/mobco2"), "2025-09")
    canonical(doc)  # the bytes `mobco2 submit --out` writes
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mobco2.errors import ConfigError, NotFoundError, UsageError
from mobco2.signing import SUBMISSION_SCHEMA_VERSION, canonical, schema_errors, sign

KIND = "mobco2.submission"
KM_DECIMALS = 3  # the metre
KG_DECIMALS = 3  # the gram
_FIGURES = ("km", "trips", "co2e_kg", "baseline_co2e_kg", "saved_co2e_kg")


def local_zone(name: str) -> Any:
    """The IANA zone ``name``, or this machine's zone when empty."""
    if not name:
        return datetime.now().astimezone().tzinfo
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"user.timezone {name!r} is not an IANA time zone", hint="e.g. Europe/Paris") from None


def resolve_month(value: str, timezone: str = "", *, now: datetime | None = None) -> str:
    """``"2025-09"`` → itself (checked); ``"last"`` → the previous calendar month in ``timezone``."""
    text = value.strip()
    if text == "last":
        today = (now or datetime.now(tz=ZoneInfo("UTC"))).astimezone(local_zone(timezone)).date()
        prev = today.replace(day=1) - timedelta(days=1)
        return f"{prev.year:04d}-{prev.month:02d}"
    try:
        y, m = text.split("-")
        first = date(int(y), int(m), 1)
    except ValueError:
        raise UsageError(f"--month {value!r} is not a month", hint="use YYYY-MM or last") from None
    if len(y) != 4 or len(m) != 2:
        raise UsageError(f"--month {value!r} is not a month", hint="use YYYY-MM or last")
    return f"{first.year:04d}-{first.month:02d}"


def month_days(period: str) -> tuple[date, date]:
    """First and last local day of ``YYYY-MM``."""
    first = date(int(period[:4]), int(period[5:7]), 1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, nxt - timedelta(days=1)


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "km": round(float(row["km"]), KM_DECIMALS),
        "trips": int(row["trips"]),
        "co2e_kg": round(float(row["co2e_kg"]), KG_DECIMALS),
        "baseline_co2e_kg": round(float(row["baseline_co2e_kg"]), KG_DECIMALS),
        "saved_co2e_kg": round(float(row["saved_co2e_kg"]), KG_DECIMALS),
    }


def monthly_figures(store: Any, period: str, *, user_id: str, method: dict[str, Any]) -> dict[str, Any]:
    """Per-mode figures, totals and days with data for one local month, from ``footprint``."""
    from mobco2.emissions import footprint
    from mobco2.schema import MODES

    first, last = month_days(period)
    by_mode = footprint(store, by="mode", user_id=user_id, since=first, until=last, **method)
    if not by_mode.rows:
        raise NotFoundError(
            f"no trips in {period} for user {user_id!r}", hint="import and segment that month first, or pick another"
        )
    modes: dict[str, dict[str, Any]] = {}
    for row in by_mode.rows:
        mode = row["mode"] if row["mode"] in MODES else "unknown"
        if mode in modes:  # a value outside the vocabulary folds into unknown
            row = {k: row[k] + modes[mode][k] for k in _FIGURES}
        modes[mode] = {k: row[k] for k in _FIGURES}
    days = footprint(store, by="day", user_id=user_id, since=first, until=last, **method)
    return {
        "modes": {m: _figures(v) for m, v in sorted(modes.items())},
        "totals": _figures(by_mode.totals),
        "days_with_data": len(days.rows),
        "method": {
            "factor_set_id": by_mode.meta["factor_set_id"],
            "factor_set_version": str(by_mode.meta["factor_set_version"]),
            "scope": by_mode.meta["scope"],
            "baseline_mode": by_mode.meta["baseline"]["mode"],
        },
    }


def content_sha256(doc: dict[str, Any]) -> str:
    """Hash of what a document says, without its revision, creation month and signature: two
    documents with the same content need no new revision."""
    body = {k: v for k, v in doc.items() if k not in ("revision", "created", "signature")}
    return hashlib.sha256(canonical(body)).hexdigest()


def build_submission(
    store: Any,
    month: str,
    *,
    keys: Any,
    user_id: str | None = None,
    cfg: Any = None,
    revision_of: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The signed submission of ``month`` (``YYYY-MM`` or ``last``) for ``user_id``.

    Parameters
    ----------
    store : a :class:`mobco2.store.Store`.
    keys : the participant's :class:`mobco2.keys.Keys`.
    user_id : the store's user (default: ``user.default_id``).
    cfg : settings (default: :func:`mobco2.config.load`); ``cooperative.territory`` is required.
    revision_of : ``(participant, period, content_sha256) -> int`` giving the revision number
        (default 1); :func:`mobco2.submit.next_revision` reads it from the catalog.
    """
    from mobco2 import __version__, config
    from mobco2.emissions import method_from_config
    from mobco2.keys import participant_id

    cfg = cfg or config.load()
    territory = str(cfg["cooperative.territory"]).strip()
    if not territory:
        raise UsageError(
            "no territory for submissions", hint="set cooperative.territory (e.g. MOBCO2_COOPERATIVE_TERRITORY=17300)"
        )
    user = user_id or cfg["user.default_id"]
    period = resolve_month(month, cfg["user.timezone"], now=now)
    figures = monthly_figures(store, period, user_id=user, method=method_from_config(cfg=cfg))
    figures["method"]["mobco2_version"] = __version__
    made = (now or datetime.now(tz=ZoneInfo("UTC"))).astimezone(local_zone(cfg["user.timezone"]))
    doc: dict[str, Any] = {
        "schema_version": SUBMISSION_SCHEMA_VERSION,
        "kind": KIND,
        "participant": participant_id(keys, user, cfg["cooperative.participant_id"]),
        "territory": territory,
        "period": period,
        "created": f"{made.year:04d}-{made.month:02d}",
        **figures,
    }
    doc["revision"] = int(revision_of(doc["participant"], period, content_sha256(doc))) if revision_of else 1
    signed = sign(doc, keys.private_key)
    problems = schema_errors(signed)
    if problems:  # our own document: a bug or a setting the schema refuses (territory, participant id)
        raise ConfigError(f"the submission would be invalid: {problems[0]}", hint="check cooperative.* settings")
    return signed
