"""Reports and their renderers, tables (CSV/GeoJSON/GPX/Parquet), submissions (DESIGN §7).

``mobco2.export.report(store, month="2025-09")`` builds a :class:`~mobco2.export.report_model.Report`;
``mobco2.export.render.render(report, "html")`` turns it into text, Markdown, HTML or JSON. Both
load on first use, so importing :mod:`mobco2.export.tables` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mobco2.export.report_model import Report


def report(store: Any, **kwargs: Any) -> Report:
    """:func:`mobco2.export.report_model.report` (month=, year=, user_id=, config=)."""
    from mobco2.export.report_model import report as build

    return build(store, **kwargs)


def months_with_data(store: Any, user_id: str | None = None) -> list[str]:
    """:func:`mobco2.export.report_model.months_with_data`."""
    from mobco2.export.report_model import months_with_data as months

    return months(store, user_id)
