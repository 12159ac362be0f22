"""Inline SVG charts drawn on the server: no script, no library, readable without CSS.

`line_chart` plots (x, y) points with labelled axes; `bar_chart` plots labelled counts.
Both return markup that is safe to embed (every label is escaped) and carries a <title>
and a text alternative for screen readers. Pure: values in, markup out.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 16, 36


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400):
        if value <= step:
            return float(step)
    return float(value * 1.1)


def fmt_seconds(s: float) -> str:
    if abs(s) < 120:
        return f"{s:.1f} s" if s % 1 else f"{s:.0f} s"
    if abs(s) < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def line_chart(points: Sequence[tuple[float, float]], *, title: str, x_label: str,
               y_label: str, css_class: str = "chart") -> Markup:
    """Points as (x, y); y is drawn from 0 upwards; x spans the points' range."""
    if not points:
        return Markup('<p class="empty">—</p>')
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y_max = _nice_max(max(max(ys), 0.0))
    y_min = min(0.0, min(ys))
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def sx(x: float) -> float:
        return PAD_LEFT + (inner_w * (x - x0) / (x1 - x0) if x1 > x0 else inner_w / 2)

    def sy(y: float) -> float:
        return PAD_TOP + inner_h * (1 - (y - y_min) / (y_max - y_min))

    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}"
                    for i, (x, y) in enumerate(points))
    dots = "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5"><title>'
                   f"{escape(f'{x:g}')}: {escape(fmt_seconds(y))}</title></circle>"
                   for x, y in points)
    grid = []
    for i in range(5):
        y = y_min + (y_max - y_min) * i / 4
        grid.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" '
                    f'y1="{sy(y):.1f}" y2="{sy(y):.1f}"/>'
                    f'<text class="tick" x="{PAD_LEFT - 6}" y="{sy(y) + 4:.1f}" '
                    f'text-anchor="end">{escape(fmt_seconds(y))}</text>')
    xticks = "".join(
        f'<text class="tick" x="{sx(x):.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" '
        f'text-anchor="middle">{escape(f"{x:g}")}</text>'
        for x in sorted({x0, x1, xs[len(xs) // 2]}))
    mean = sum(ys) / len(ys)
    desc = (f"{len(points)} points; lag from {fmt_seconds(min(ys))} to {fmt_seconds(max(ys))}, "
            f"mean {fmt_seconds(mean)}")
    return Markup(
        f'<svg class="{escape(css_class)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}: {escape(desc)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{''.join(grid)}"
        f'<line class="axis" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{sy(y_min):.1f}" '
        f'y2="{sy(y_min):.1f}"/>'
        f'<path class="series" d="{path}" fill="none"/>{dots}{xticks}'
        f'<text class="label" x="{PAD_LEFT + inner_w / 2:.0f}" y="{HEIGHT - 4}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text class="label" transform="rotate(-90)" x="{-(PAD_TOP + inner_h / 2):.0f}" '
        f'y="12" text-anchor="middle">{escape(y_label)}</text></svg>')


def bar_chart(bars: Sequence[tuple[str, int]], *, title: str,
              css_class: str = "chart bars") -> Markup:
    """Horizontal bars, one per (label, count)."""
    row_h, label_w, width = 24, 150, 480
    height = row_h * max(len(bars), 1) + 8
    top = max((c for _, c in bars), default=0) or 1
    rows = []
    for i, (label, count) in enumerate(bars):
        y = 4 + i * row_h
        w = (width - label_w - 50) * count / top
        rows.append(f'<text class="tick" x="{label_w - 8}" y="{y + 16}" text-anchor="end">'
                    f"{escape(label)}</text>"
                    f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                    f'height="{row_h - 8}"><title>{escape(label)}: {count}</title></rect>'
                    f'<text class="count" x="{label_w + w + 6:.1f}" y="{y + 16}">{count}</text>')
    desc = "; ".join(f"{label}: {count}" for label, count in bars)
    return Markup(
        f'<svg class="{escape(css_class)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}: {escape(desc)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>{''.join(rows)}</svg>")
