"""The report's charts with matplotlib: per-mode bars, daily (monthly) bars, the 12-month trend.

Made with the object-oriented API on the Agg canvas (no pyplot, no global state) and written
deterministically: a fixed ``svg.hashsalt`` per chart, no creation date in the metadata, text
kept as ``<text>`` (readable by screen readers, selectable, and small).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from mobco2.export import report_words as w

MODE_COLORS = {
    "walk": "#43a047", "run": "#7cb342", "bike": "#2e7d32", "ebike": "#66bb6a", "escooter": "#9ccc65",
    "scooter": "#fb8c00", "moto": "#f4511e", "car": "#d32f2f", "bus": "#00897b", "coach": "#00796b",
    "tram": "#26a69a", "metro": "#0097a7", "train": "#1e88e5", "rer": "#42a5f5", "intercity": "#1565c0",
    "hsr": "#3949ab", "plane": "#8e24aa", "ferry": "#5e35b1", "other": "#757575", "unknown": "#9e9e9e",
}
INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
CHARTS = ("modes", "days", "trend")


def mode_color(mode: str) -> str:
    return MODE_COLORS.get(mode, "#616161")


def _style() -> dict[str, Any]:
    return {
        "svg.fonttype": "none",
        "font.family": ["DejaVu Sans", "sans-serif"],
        "font.size": 11,
        "axes.edgecolor": GRID,
        "axes.labelcolor": INK,
        "xtick.color": MUTED,
        "ytick.color": INK,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 100,
    }


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def modes_figure(r: Any) -> Any:
    rows = [m for m in r.modes if m.km > 0 or m.co2e_kg > 0]
    fig = _figure(6.0, 0.42 * max(len(rows), 2) + 0.8)
    ax_kg, ax_km = fig.subplots(1, 2, sharey=True)
    names = [w.mode_name(m.mode) for m in rows][::-1]
    colors = [mode_color(m.mode) for m in rows][::-1]
    for ax, values, label, digits in ((ax_kg, [m.co2e_kg for m in rows][::-1], "kgCO2e", 2),
                                       (ax_km, [m.km for m in rows][::-1], "km", 1)):
        bars = ax.barh(names, values, color=colors, height=0.65)
        ax.set_title(label, loc="left", color=INK, fontsize=10, fontweight="bold")
        ax.bar_label(bars, labels=[f"{v:,.{digits}f}" for v in values], padding=3, color=INK, fontsize=9)
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        ax.margins(x=0.25)
        ax.tick_params(axis="y", length=0)
    return fig


def bars_figure(r: Any) -> Any:
    fig = _figure(6.0, 2.8)
    ax = fig.subplots()
    keys = [b.key for b in r.bars]
    modes = [m.mode for m in r.modes if any(b.co2e_by_mode_kg.get(m.mode) for b in r.bars)]
    x = list(range(len(keys)))
    bottom = [0.0] * len(keys)
    for mode in modes:
        values = [b.co2e_by_mode_kg.get(mode, 0.0) for b in r.bars]
        ax.bar(x, values, bottom=bottom, color=mode_color(mode), width=0.75, label=w.mode_name(mode))
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    if r.period.kind == "month":
        ticks = [i for i in x if i % 5 == 0 or i == len(x) - 1]
        labels = [keys[i][8:] for i in ticks]
    else:
        ticks, labels = x, [w.MONTHS[int(k[5:]) - 1][:3] for k in keys]
    ax.set_xticks(ticks, labels)
    ax.set_ylabel("kgCO2e")
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    if modes:
        ax.legend(frameon=False, fontsize=9, ncols=min(len(modes), 6), loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.margins(x=0.01, y=0.05)
    return fig


def trend_figure(r: Any) -> Any:
    fig = _figure(6.0, 2.6)
    ax = fig.subplots()
    keys = [b.key for b in r.trend]
    values = [b.co2e_kg for b in r.trend]
    current = {b.key for b in r.bars} if r.period.kind == "year" else {r.period.label}
    colors = ["#0b7285" if k in current else "#a5d8dd" for k in keys]
    bars = ax.bar(range(len(keys)), values, color=colors, width=0.7)
    ax.bar_label(bars, labels=[f"{v:,.1f}" if v else "" for v in values], padding=2, color=INK, fontsize=8)
    ax.set_xticks(range(len(keys)), [f"{w.MONTHS[int(k[5:]) - 1][:3]}\n{k[:4]}" if k.endswith("-01") or i == 0
                                     else w.MONTHS[int(k[5:]) - 1][:3] for i, k in enumerate(keys)])
    ax.set_ylabel("kgCO2e")
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.margins(y=0.2)
    return fig


_BUILDERS = {"modes": modes_figure, "days": bars_figure, "trend": trend_figure}


def _save(fig: Any, fmt: str, salt: str) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({**_style(), "svg.hashsalt": salt}):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, metadata=metadata, facecolor="white")
    return buf.getvalue()


def chart_svg(r: Any, name: str, title: str) -> str:
    """Chart ``name`` as an inline ``<svg>`` element with a real ``<title>``, sized by CSS."""
    import matplotlib

    with matplotlib.rc_context(_style()):
        fig = _BUILDERS[name](r)
    svg = _save(fig, "svg", f"mobco2-{name}").decode("utf-8")
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.S)
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', svg, count=1)
    from html import escape

    return svg.replace(">", f' role="img" aria-labelledby="chart-{name}-title"><title id="chart-{name}-title">'
                       f"{escape(title)}</title>", 1)


def write_charts(r: Any, folder: str | Path) -> list[Path]:
    """Every chart as ``<period>-<name>.svg`` and ``.png`` in ``folder`` (written atomically)."""
    import matplotlib

    from mobco2.export.atomic import write_atomic

    out = []
    for name in CHARTS:
        with matplotlib.rc_context(_style()):
            fig = _BUILDERS[name](r)
        for fmt in ("svg", "png"):
            out.append(write_atomic(Path(folder) / f"mobco2-{r.period.label}-{name}.{fmt}",
                                    _save(fig, fmt, f"mobco2-{name}")))
    from mobco2.export.svgmap import map_svg

    out.append(write_atomic(Path(folder) / f"mobco2-{r.period.label}-map.svg", map_svg(r)))
    return out
