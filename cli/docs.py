"""Generate docs/cli.md from every command's --help (``make docs``); a test fails when it is stale."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from mobco2_cli.main import app


def _walk(cmd, path: list[str]) -> list[tuple[list[str], object]]:  # type: ignore[no-untyped-def]
    out = [(path, cmd)]
    if isinstance(cmd, TyperGroup):
        ctx = typer.Context(cmd)
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out.extend(_walk(sub, [*path, name]))
    return out


def commands() -> list[tuple[list[str], object]]:
    """Every command and group, as (path, click command), root first."""
    return _walk(typer.main.get_command(app), [])


def help_text(path: list[str]) -> str:
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="mobco2", terminal_width=100, max_content_width=100)
    cmd = root
    for name in path:
        sub = cmd.get_command(ctx, name)
        if sub is None:
            raise KeyError(" ".join(path))
        ctx = typer.Context(sub, info_name=name, parent=ctx, terminal_width=100, max_content_width=100)
        cmd = sub
    return cmd.get_help(ctx)


def render() -> str:
    parts = ["# mobco2 command reference", "", "Generated from `--help` by `make docs`; do not edit.", ""]
    for path, _ in commands():
        title = " ".join(["mobco2", *path])
        parts += [f"## {title}", "", "```", help_text(path).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
