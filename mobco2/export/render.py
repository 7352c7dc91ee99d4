"""Render a :class:`~mobco2.export.report_model.Report` as ``text``, ``md``, ``html`` or ``json``.

Every renderer is deterministic: the same report gives the same bytes (no creation time, no
random ids). Each format lives in its own module and loads only when asked for: text and JSON
never import matplotlib.

Example::

    from mobco2.export import report
    from mobco2.export.render import render
    print(render(report(store, month="2025-09"), "text", width=80))
"""

from __future__ import annotations

import json
from typing import Any

from mobco2.errors import UsageError

FORMATS = ("text", "md", "html", "json")


def render(report: Any, fmt: str, *, width: int = 80, color: bool = False) -> str:
    """The report as a string in ``fmt``; ``width`` and ``color`` apply to ``text``."""
    check_format(fmt)
    if fmt == "json":
        return to_json(report)
    if fmt == "text":
        from mobco2.export.render_text import render_text

        return render_text(report, width=width, color=color)
    if fmt == "md":
        from mobco2.export.render_md import render_md

        return render_md(report)
    if fmt == "html":
        from mobco2.export.render_html import render_html

        return render_html(report)
    raise AssertionError(fmt)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    return fmt


def to_json(report: Any) -> str:
    """The JSON document (``mobco2/schemas/report.schema.json``), keys in a fixed order."""
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2, allow_nan=False) + "\n"
