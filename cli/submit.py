"""``mobco2 submit``: the month's signed summary, written, shown or sent to your cooperative."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mobco2_cli.common import CsvOpt, JsonlOpt, JsonOpt, output_format, render, say, store


def submit_cmd(
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM, or last (in user.timezone).",
                                              show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the signed document to this file.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="POST it to this https URL (http to loopback only).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print exactly what would be sent; send nothing.")]
    = False,
    yes: Annotated[bool, typer.Option("--yes", help="Agree to send to this URL (asked once on a terminal).")] = False,
    user: Annotated[str | None, typer.Option("--user", help="Whose month (default: user.default_id).")] = None,
    max_retries: Annotated[int, typer.Option("--max-retries", help="Retries on 5xx and network errors.")] = 5,
    retry_max_s: Annotated[float, typer.Option("--retry-max-s", help="Give up after this many seconds in all.")]
    = 60.0,
    timeout_s: Annotated[float, typer.Option("--timeout-s", help="Wait this long for each answer.")] = 15.0,
    status: Annotated[bool, typer.Option("--status", help="List what was sent, where and when.")] = False,
    json_: JsonOpt = False,
    jsonl: JsonlOpt = False,
    csv_: CsvOpt = False,
) -> None:
    """Your month's per-mode totals (km, trips, kgCO2e, baseline, saved), signed with your key.

    No coordinates, place names, trips or times finer than the month. Without --out or --to the
    document goes to stdout. The first send to a URL asks your consent (or needs --yes) and
    remembers it; each answer is recorded (see --status). Exits 75 when the cooperative cannot
    be reached after the retries: run it again later.

    Example:

    \b
        mobco2 submit --month last --dry-run
        mobco2 submit --month 2025-09 --to https://coop.example/submissions --yes
        mobco2 submit --status
    """
    from mobco2.errors import UsageError

    if status:
        from mobco2.submit import submission_status

        render(submission_status(store()), output_format(json_, jsonl, csv_), title="submissions sent")
        return
    if month is None:
        raise UsageError("--month is required", hint="e.g. --month 2025-09 or --month last")
    from mobco2.export.send import RetryPolicy
    from mobco2.submit import submit

    ask = None
    if sys.stdin.isatty() and sys.stderr.isatty():
        def ask(url: str) -> bool:
            return typer.confirm(f"Send your monthly totals (no locations) to {url}?", default=False, err=True)

    result = submit(store(), month, to=to, out=out, dry_run=dry_run, yes=yes, ask=ask, user_id=user,
                    policy=RetryPolicy(max_retries=max_retries, max_total_s=retry_max_s, timeout_s=timeout_s))
    if result.action in ("printed", "dry-run"):
        if result.action == "dry-run":
            target = f"POST {to}" if to else (f"write {out}" if out else "print")
            say(f"dry run: would {target} ({len(result.body)} bytes, sha256 {result.sha256})")
            for k, v in result.headers.items():
                say(f"{k}: {v}")
        sys.stdout.write(result.body.decode("utf-8") + "\n")
    elif result.action == "written":
        say(f"wrote {out} ({result.document['period']}, sha256 {result.sha256})")
    else:
        answer = result.answer
        say(f"sent {result.document['period']} to {to}: HTTP {answer.status} {answer.reason} "
            f"(sha256 {result.sha256}, {answer.attempts} attempt(s))")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit_cmd)
