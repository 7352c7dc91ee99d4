"""``mobco2 keys init|show|export-public``: the participant's signing key and pseudonym secret."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mobco2_cli.common import JsonOpt, render, say, store

keys_app = typer.Typer(
    help="Your Ed25519 key for signed submissions, kept in the store (owner-only files).\n\n"
    "Example:\n\n\b\n    mobco2 keys init\n    mobco2 keys export-public > me.json",
    no_args_is_help=True,
)


def _identity() -> tuple[object, str, str]:
    from mobco2 import config
    from mobco2.keys import load_keys, participant_id

    cfg = config.load()
    keys = load_keys(store().root)
    pid = participant_id(keys, cfg["user.default_id"], cfg["cooperative.participant_id"])
    return keys, pid, cfg["cooperative.territory"]


@keys_app.command("init")
def init_cmd(
    force: Annotated[bool, typer.Option("--force", help="Replace existing keys (re-register with your cooperative).")]
    = False,
) -> None:
    """Create your key pair and pseudonym secret in the store (mode 0600). Refuses to replace them
    without --force.

    Example:

        mobco2 keys init
    """
    from mobco2.keys import init_keys

    keys = init_keys(store().root, force=force)
    say(f"keys written to {keys.folder} (key id {keys.key_id}); register with `mobco2 keys export-public`")


@keys_app.command("show")
def show_cmd(json_: JsonOpt = False) -> None:
    """Your public key, its id, the participant id submissions carry, and where the files are.

    Example:

        mobco2 keys show --json
    """
    keys, pid, territory = _identity()
    row = {"participant": pid, "territory": territory, "key_id": keys.key_id, "public_key": keys.public_key,
           "folder": str(keys.folder)}
    if json_:
        render([row], "json")
    else:
        render([{"key": k, "value": v} for k, v in row.items()], "table")


@keys_app.command("export-public")
def export_public_cmd() -> None:
    """Print what your cooperative registers: participant id, public key, territory (JSON).

    Example:

        mobco2 keys export-public > registry/me.json
    """
    from mobco2.keys import public_entry

    keys, pid, territory = _identity()
    typer.echo(json.dumps(public_entry(keys, pid, territory), sort_keys=True))


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
