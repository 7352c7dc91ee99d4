"""``mobco2 aggregate``: the cooperative's side — totals of verified submissions, and the receiver."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from mobco2_cli.common import say, stderr


class _DefaultRun(TyperGroup):
    """``mobco2 aggregate FILES…`` means ``mobco2 aggregate run FILES…``; ``serve`` and ``run``
    are sub-commands, and ``--help`` alone shows the group."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


aggregate_app = typer.Typer(
    cls=_DefaultRun,
    no_args_is_help=True,
    help="The cooperative's side: verify participants' signed submissions and publish totals.\n\n"
    "`mobco2 aggregate FILES…|DIR` is short for `mobco2 aggregate run FILES…|DIR`.\n\n"
    "Example:\n\n\b\n    mobco2 aggregate inbox/ --registry registry/ --k 5 --format csv --out totals.csv\n"
    "    mobco2 aggregate serve --port 8750 --dir inbox --registry registry/",
)

RegistryOpt = Annotated[
    Path, typer.Option("--registry", help="Participants' keys: a CSV file or a folder of JSON/CSV entries.")
]


@aggregate_app.command("run")
def run_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Submission files, or folders of them.", show_default=False)],
    registry: RegistryOpt,
    k: Annotated[int, typer.Option("--k", help="Suppress cells with fewer participants than this.")] = 5,
    epsilon: Annotated[float | None, typer.Option("--epsilon", help="Add Laplace noise: ε per participant-month.",
                                                  show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed the noise (reproducible releases).",
                                             show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv | json | parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Territory × month × mode totals (km, trips, kgCO2e, saved kgCO2e, participants) of verified
    submissions: the latest per participant and month, cells under k participants suppressed.

    Tampered, unsigned, unknown-key, wrong-territory and malformed documents are rejected, each
    with its reason (listed on stderr, and in --format json). With --epsilon each participant's
    month is clipped to stated bounds and the sums get Laplace noise (see the JSON meta).

    Example:

        mobco2 aggregate run inbox/ --registry registry.csv --k 5 --epsilon 1 --format json
    """
    from mobco2.cooperative.aggregate import aggregate, write_aggregation
    from mobco2.cooperative.registry import Registry

    agg = aggregate(paths, Registry.load(registry), k=k, epsilon=epsilon, seed=seed)
    write_aggregation(agg, fmt, out)
    m = agg.meta
    say(f"{m['accepted']} document(s) verified, {m['rejected']} rejected, {m['duplicates']} duplicate(s), "
        f"{m['superseded']} superseded; {len(agg.cells)} cell(s) published, {m['suppressed_cells']} suppressed "
        f"(k={k})")
    for r in agg.rejections:  # one whole line each, whatever the terminal's width
        stderr.print(f"rejected {r['file']}: {r['rejection']}: {r['reason']}", highlight=False, markup=False,
                     soft_wrap=True)


@aggregate_app.command("serve")
def serve_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Where accepted submissions are stored.")],
    registry: RegistryOpt,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8750,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", help="Refuse larger bodies (413).")] = 65536,
) -> None:
    """Receive submissions over HTTP: verify each on receipt, store it atomically, answer
    201 stored / 200 duplicate / 400 malformed / 401 bad signature or unknown key / 413 too large.

    POST /submissions (or /) takes one document; GET /health answers when ready. One log line per
    request on stderr. Put it behind an HTTPS reverse proxy to receive from the internet;
    `mobco2 aggregate DIR` then totals what it stored.

    Example:

        mobco2 aggregate serve --host 127.0.0.1 --port 8750 --dir inbox --registry registry/
    """
    from mobco2.cooperative.server import serve

    serve(directory, registry, host=host, port=port, max_body_bytes=max_body_bytes)


def register(app: typer.Typer) -> None:
    app.add_typer(aggregate_app, name="aggregate")
