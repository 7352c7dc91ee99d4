"""An SVG map of the period's trips, drawn by hand: no tiles, no JavaScript, opens offline.

Legs are polylines coloured by mode on an equirectangular projection centred on the data (true
to scale in both directions at the centre's latitude, which is what a city or a region needs),
stays are dots, with a scale bar and a legend. Coordinates come from
:meth:`Report.geometry`, privacy zones already applied.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from mobco2.export import report_words as w
from mobco2.export.charts import INK, MUTED, mode_color

WIDTH, HEIGHT, PAD = 720, 460, 24
EARTH_RADIUS_M = 6_371_008.8


def _nice(length_m: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``length_m``."""
    k = 10 ** math.floor(math.log10(max(length_m, 1.0)))
    return max(s * k for s in (1, 2, 5) if s * k <= length_m)


def _path(x: np.ndarray, y: np.ndarray, min_px: float = 1.2) -> str:
    """SVG points of a line, keeping a point only once it is ``min_px`` from the last one kept (and
    always the last): what the eye cannot see is not written, and the same data gives the same bytes."""
    keep = [0]
    lx, ly = float(x[0]), float(y[0])
    for i in range(1, len(x) - 1):
        xi, yi = float(x[i]), float(y[i])
        if abs(xi - lx) + abs(yi - ly) >= min_px:
            keep.append(i)
            lx, ly = xi, yi
    if len(x) > 1:
        keep.append(len(x) - 1)
    return " ".join(f"{x[i]:.1f},{y[i]:.1f}" for i in keep)


def _visible(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(x.max() >= 0 and x.min() <= WIDTH and y.max() >= 0 and y.min() <= HEIGHT)


def _empty(title: str, uid: str) -> str:
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" class="map">',
        f'<title id="{uid}-title">{escape(title)}</title>',
        f'<desc id="{uid}-desc">No trips to draw for this period.</desc>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f5f7fa"/>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="{MUTED}" '
        'font-size="16">No trips to draw for this period</text></svg>']) + "\n"


def _extent(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float, float, float]:
    return float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max())


def maps(r: Any) -> list[tuple[str, str]]:
    """(caption, ``<svg>``) pairs: the whole period, and when a few long trips dwarf the rest, a
    close-up of where most points are (the 10th to 90th percentiles of the stays, or of the tracks)."""
    geo = r.geometry()
    name = w.title(r)
    if geo is None or geo.empty:
        return [("No trips to draw.", _empty(f"Map of the trips of {name}", "map-all"))]
    lat = np.concatenate([*(ln.lat for ln in geo.lines), geo.stay_lat])
    lon = np.concatenate([*(ln.lon for ln in geo.lines), geo.stay_lon])
    full = _extent(lat, lon)
    core_lat, core_lon = (geo.stay_lat, geo.stay_lon) if len(geo.stay_lat) >= 5 else (lat, lon)
    lo_lat, hi_lat = np.percentile(core_lat, [10, 90])
    lo_lon, hi_lon = np.percentile(core_lon, [10, 90])
    pad_lat, pad_lon = max((hi_lat - lo_lat) * 0.15, 0.01), max((hi_lon - lo_lon) * 0.15, 0.01)
    core = (float(lo_lat - pad_lat), float(hi_lat + pad_lat), float(lo_lon - pad_lon), float(hi_lon + pad_lon))
    out = [(f"Every leg of {name} coloured by mode, stays as dots.",
            draw(geo, full, f"Map of the trips of {name}", "map-all"))]
    span_full = max(full[1] - full[0], full[3] - full[2])
    span_core = max(core[1] - core[0], core[3] - core[2])
    if span_full > 4 * span_core:
        out.append((f"Close-up where most of {name} was spent; longer trips leave the frame.",
                    draw(geo, core, f"Close-up map of the trips of {name}", "map-core")))
    return out


def map_svg(r: Any) -> str:
    """The map of the whole period as a standalone SVG document."""
    return maps(r)[0][1]


def draw(geo: Any, extent: tuple[float, float, float, float], title: str, uid: str) -> str:
    """One map of ``geo`` framing ``extent`` (lat min, lat max, lon min, lon max); what lies
    outside is cut off by the SVG viewport."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-labelledby="{uid}-title {uid}-desc" class="map">', f'<title id="{uid}-title">{escape(title)}</title>']
    lat_min, lat_max, lon_min, lon_max = extent
    lat0 = math.radians((lat_min + lat_max) / 2)
    kx = math.cos(lat0)
    x0, x1, y0, y1 = lon_min * kx, lon_max * kx, -lat_max, -lat_min
    span = max(x1 - x0, y1 - y0, 1e-4)
    scale = min((WIDTH - 2 * PAD) / max(x1 - x0, span * 1e-3), (HEIGHT - 2 * PAD - 30) / max(y1 - y0, span * 1e-3))
    ox = PAD + (WIDTH - 2 * PAD - (x1 - x0) * scale) / 2
    oy = PAD + (HEIGHT - 2 * PAD - 30 - (y1 - y0) * scale) / 2

    def project(la: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ox + (lo * kx - x0) * scale, oy + (-la - y0) * scale

    modes = sorted({ln.mode for ln in geo.lines}, key=lambda m: (-sum(len(ln.lat) for ln in geo.lines
                                                                     if ln.mode == m), m))
    desc = (f"{len(geo.lines)} track pieces in {len(modes)} modes ({', '.join(w.mode_name(m) for m in modes)}) "
            f"and {len(geo.stay_lat)} stays. Privacy zones hide {geo.hidden_points} points.")
    out += [f'<desc id="{uid}-desc">{escape(desc)}</desc>',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f5f7fa"/>',
            '<g fill="none" stroke-linecap="round" stroke-linejoin="round" stroke-opacity="0.85">']
    for mode in reversed(modes):  # the most travelled mode underneath
        pieces = [ln for ln in geo.lines if ln.mode == mode]
        out.append(f'<g stroke="{mode_color(mode)}" stroke-width="2.6" class="mode-{escape(mode)}">'
                   f"<title>{escape(w.mode_name(mode))}</title>")
        for ln in pieces:
            x, y = project(ln.lat, ln.lon)
            if _visible(x, y):
                out.append(f'<polyline points="{_path(x, y)}"/>')
        out.append("</g>")
    out.append("</g>")
    if len(geo.stay_lat):
        sx, sy = project(geo.stay_lat, geo.stay_lon)
        out.append(f'<g fill="{INK}" stroke="#ffffff" stroke-width="1.2"><title>stays</title>')
        seen = set()
        for a, b in zip(np.round(sx, 1), np.round(sy, 1), strict=True):
            if (a, b) not in seen:
                seen.add((a, b))
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.2"/>')
        out.append("</g>")
    # scale bar: metres per pixel at the centre latitude
    m_per_px = math.radians(1.0) * EARTH_RADIUS_M / scale
    bar_m = _nice(m_per_px * (WIDTH - 2 * PAD) / 5)
    bar_px = bar_m / m_per_px
    label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    yb = HEIGHT - PAD
    out += [f'<g class="scale" font-size="12" fill="{INK}"><title>scale bar: {label}</title>',
            f'<rect x="{PAD}" y="{yb - 6}" width="{bar_px:.1f}" height="5" fill="{INK}"/>',
            f'<text x="{PAD + bar_px + 8:.1f}" y="{yb}">{label}</text></g>']
    lx = WIDTH - PAD
    out.append(f'<g class="legend" font-size="12" fill="{INK}" text-anchor="end"><title>legend</title>')
    for i, mode in enumerate(modes[:8]):
        yy = PAD + 4 + i * 18
        out.append(f'<line x1="{lx - 22}" y1="{yy - 4}" x2="{lx}" y2="{yy - 4}" stroke="{mode_color(mode)}" '
                   f'stroke-width="4" stroke-linecap="round"/><text x="{lx - 28}" y="{yy}">'
                   f"{escape(w.mode_name(mode))}</text>")
    out.append("</g></svg>")
    return "\n".join(out) + "\n"
