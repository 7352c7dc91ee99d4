"""``mobco2 footprint`` and ``mobco2 factors list/show``."""

from __future__ import annotations

from typing import Annotated

import typer

from mobco2_cli.common import CsvOpt, JsonlOpt, JsonOpt, output_format, render, store

FactorsOpt = Annotated[
    str | None,
    typer.Option("--factors", help="Factor set id or CSV path (default: emissions.factors).", show_default=False),
]
ScopeOpt = Annotated[
    str | None,
    typer.Option("--scope", help="full | usage | no-contrails (default: emissions.scope).", show_default=False),
]

_TABLE_COLUMNS = ("km", "trips", "co2e_kg", "co2e_low_kg", "co2e_high_kg", "saved_co2e_kg", "unknown_share")


def footprint_cmd(
    by: Annotated[str, typer.Option("--by", help="day | week | month | year | mode (local time).")] = "month",
    factors: FactorsOpt = None,
    scope: ScopeOpt = None,
    since: Annotated[str | None, typer.Option("--since", help="First local day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last local day, YYYY-MM-DD.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user (default: everyone).")] = None,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Kilometres and kgCO2e by period or mode, recomputed from your legs with the chosen factors.

    Periods are local days of each trip's start. Legs of unknown mode, or of a mode the factor set
    has no factor for, add to low/high bounds instead of counting as zero. Changing --factors or
    --scope needs no re-segmentation. Your vehicles come from the profile.* settings.

    Example:

        mobco2 footprint --by month --since 2025-01-01 --scope usage --csv
    """
    from mobco2.emissions import footprint, method_from_config

    fmt = output_format(json_, jsonl, csv_)
    fp = footprint(store(), by=by, user_id=user, since=since, until=until, **method_from_config(factors, scope))
    if fmt == "table":
        rows = [{by: r[by], **{k: r[k] for k in _TABLE_COLUMNS}} for r in fp.rows]
        t = fp.totals
        meta = {
            "factors": f"{fp.meta['factor_set_id']} v{fp.meta['factor_set_version']}",
            "scope": fp.meta["scope"],
            "total km": round(t["km"], 1),
            "total kgCO2e": f"{t['co2e_kg']:.2f} ({t['co2e_low_kg']:.2f}-{t['co2e_high_kg']:.2f})",
            "saved kgCO2e": f"{t['saved_co2e_kg']:.2f}",
        }
        render(rows, fmt, meta=meta, title=f"footprint by {by}")
    else:
        render(fp.rows, fmt, meta=fp.meta)


factors_app = typer.Typer(
    help="Emission-factor sets: where each figure comes from.\n\nExample:\n\n    mobco2 factors show --scope usage",
    no_args_is_help=True,
)


@factors_app.command("list")
def factors_list(json_: JsonOpt = False, jsonl: JsonlOpt = False, csv_: CsvOpt = False) -> None:
    """Every factor set known by id: shipped ones and yours (beside config.toml, in factors/).

    Example:

        mobco2 factors list --json
    """
    from mobco2.emissions import SCOPES, list_factor_sets

    rows = [
        {
            "id": fs.id,
            "version": fs.version,
            "source": fs.source,
            "source_version": fs.source_version,
            "unit": fs.unit,
            "scopes": " | ".join(SCOPES),
            "rows": len(fs.rows),
            "modes_without_factor": ", ".join(fs.modes_without_factor()),
            "path": fs.path,
        }
        for fs in list_factor_sets()
    ]
    fmt = output_format(json_, jsonl, csv_)
    if fmt == "table":
        rows = [{k: r[k] for k in ("id", "version", "source_version", "rows", "modes_without_factor")} for r in rows]
    render(rows, fmt, title="factor sets")


@factors_app.command("show")
def factors_show(
    factor_set: Annotated[
        str | None, typer.Argument(help="Set id or CSV path (default: emissions.factors).", show_default=False)
    ] = None,
    scope: ScopeOpt = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Every row of the file, aliases included.")] = False,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Each mode's factor (gCO2e/km) under your profile and the scope, with the set's provenance.

    Rows per vehicle-km (per = vkm) are divided by the number of people in the vehicle; rows
    per passenger-km never are. Also checks a CSV file of your own: an invalid one is refused
    with the line and column at fault.

    Example:

        mobco2 factors show ademe-impactco2-2026-07 --scope usage
    """
    from mobco2.emissions import factor_rows, load_factor_set, method_from_config, mode_factors

    method = method_from_config(factor_set, scope)
    fs = load_factor_set(method["factors"])
    if all_rows:
        rows = factor_rows(fs, method["scope"])
    else:
        rows = mode_factors(fs, method["scope"], method["profile"])
    meta = {
        **fs.meta(),
        "scope": method["scope"],
        "unit": "gCO2e/km",
        "profile": method["profile"].as_dict(),
    }
    fmt = output_format(json_, jsonl, csv_)
    if fmt == "table":
        keep = ("factor_id", "mode", "energy", "size", "occupancy", "band", "per", "g_co2e_per_km", "alias_of")
        if not all_rows:
            keep = ("mode", "band", "factor_id", "per", "g_co2e_per_km", "note")
        rows = [{k: r.get(k) for k in keep} for r in rows]
        meta = {"factors": f"{fs.id} v{fs.version}", "source": fs.source_version, "scope": method["scope"]}
    render(rows, fmt, meta=meta, title=f"{fs.id}: {fs.source}")


def register(app: typer.Typer) -> None:
    app.command("footprint")(footprint_cmd)
    app.add_typer(factors_app, name="factors")
