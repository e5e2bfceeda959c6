"""Inline SVG charts for the self-contained HTML pages (the verdict tear sheet).

Plain strings, no script and nothing fetched: a page that embeds them opens the same from
the lake, as an MLflow artifact or in a mail. Non-finite values are skipped, never drawn
at infinity; an empty chart says so in words. Every chart has a ``<title>`` for screen
readers and an ``id`` for tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 720, 260, 44
COLOURS = ("#1f5fbf", "#d1495b", "#2e933c", "#8c6bb1", "#e08e0b", "#555555")


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


class _Frame:
    """Maps data to pixels over ``[x0, x1] x [y0, y1]`` (zero always in the y range)."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1.0)
        low, high = min(y0, 0.0), max(y1, 0.0)
        self.y0, self.y1 = low, (high if high > low else low + 1.0)

    def x(self, v: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * (v - self.x0) / (self.x1 - self.x0)

    def y(self, v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - self.y0) / (self.y1 - self.y0)


def _open(chart_id: str, title: str) -> list[str]:
    return [
        f'<svg id="{escape(chart_id)}" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text x="{PAD}" y="18" font-size="13" font-weight="600">{escape(title)}</text>',
    ]


def _axes(frame: _Frame, y_label: str, x_left: str, x_right: str) -> list[str]:
    zero = frame.y(0.0)
    return [
        f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#888" '
        'stroke-dasharray="4 3"/>',
        f'<text x="4" y="{frame.y(frame.y1) + 4:.1f}" font-size="11">{frame.y1:+.3g}</text>',
        f'<text x="4" y="{frame.y(frame.y0) + 4:.1f}" font-size="11">{frame.y0:+.3g}</text>',
        f'<text x="{PAD}" y="{HEIGHT - 10}" font-size="11">{escape(x_left)}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 10}" font-size="11" text-anchor="end">'
        f"{escape(x_right)}</text>",
        f'<text x="{PAD}" y="34" font-size="11" fill="#555">{escape(y_label)}</text>',
    ]


def empty(chart_id: str, message: str) -> str:
    return f'<p id="{escape(chart_id)}" class="empty">{escape(message)}</p>'


def lines(
    chart_id: str,
    title: str,
    series: dict[str, Sequence[float]],
    *,
    y_label: str,
    x_left: str = "",
    x_right: str = "",
) -> str:
    """One polyline per series over its index (evenly spaced), with a legend."""
    values = [v for s in series.values() for v in _finite(s)]
    n = max((len(s) for s in series.values()), default=0)
    if not values or n < 2:
        return empty(chart_id, f"{title}: no data.")
    frame = _Frame(0, n - 1, min(values), max(values))
    parts = _open(chart_id, title) + _axes(frame, y_label, x_left, x_right)
    for k, (name, points) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        xy = [
            f"{frame.x(i):.1f},{frame.y(float(v)):.1f}"
            for i, v in enumerate(points)
            if v is not None and math.isfinite(float(v))
        ]
        parts.append(
            f'<polyline class="series" data-name="{escape(name)}" points="{" ".join(xy)}" '
            f'fill="none" stroke="{colour}" stroke-width="1.6"/>'
        )
        parts.append(
            f'<text x="{WIDTH - PAD - 150}" y="{40 + 14 * k}" font-size="11" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    chart_id: str, title: str, values: Sequence[float], marker: float | None, *, x_label: str
) -> str:
    """A histogram of ``values`` with ``marker`` (the observed value) as a red line."""
    data = _finite(values)
    if not data:
        return empty(chart_id, f"{title}: no data.")
    ends = [*data, *([marker] if marker is not None and math.isfinite(marker) else [])]
    low, high = min(ends), max(ends)
    bins = max(5, min(40, len(data) // 5))
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in data:
        counts[min(int((v - low) / width), bins - 1)] += 1
    frame = _Frame(low, low + bins * width, 0, max(counts))
    parts = _open(chart_id, title) + _axes(frame, "permutations", f"{low:+.3g}", f"{high:+.3g}")
    for i, c in enumerate(counts):
        left, right = frame.x(low + i * width), frame.x(low + (i + 1) * width)
        parts.append(
            f'<rect x="{left:.1f}" y="{frame.y(c):.1f}" width="{max(right - left - 1, 1):.1f}" '
            f'height="{frame.y(0) - frame.y(c):.1f}" fill="#b8c0cc"/>'
        )
    if marker is not None and math.isfinite(marker):
        x = frame.x(marker)
        parts.append(
            f'<line class="observed" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD}" '
            f'y2="{HEIGHT - PAD}" stroke="#d1495b" stroke-width="2.5"/>'
            f'<text x="{x + (4 if x < WIDTH - 160 else -4):.1f}" y="{PAD + 10}" '
            f'font-size="11" fill="#d1495b" text-anchor="{"start" if x < WIDTH - 160 else "end"}">'
            f"observed {marker:+.4f}</text>"
        )
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 10}" font-size="11">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], *,
         y_label: str) -> str:  # fmt: skip
    """Vertical bars, one per label (non-finite values are left out, their label kept)."""
    data = _finite(values)
    if not data:
        return empty(chart_id, f"{title}: no data.")
    frame = _Frame(0, len(values), min(data), max(data))
    parts = _open(chart_id, title) + _axes(frame, y_label, "", "")
    step = (WIDTH - 2 * PAD) / len(values)
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = PAD + i * step
        if v is not None and math.isfinite(float(v)):
            top, bottom = sorted((frame.y(float(v)), frame.y(0.0)))
            colour = COLOURS[0] if v >= 0 else COLOURS[1]
            parts.append(
                f'<rect x="{x + 3:.1f}" y="{top:.1f}" width="{step - 6:.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{colour}"/>'
            )
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{HEIGHT - PAD + 14}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def intervals(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    rows: Sequence[tuple[float, float | None, float | None]],
    *,
    y_label: str,
) -> str:
    """A dot per label at its estimate, with a whisker from low to high where known."""
    data = _finite([v for row in rows for v in row if v is not None])
    if not data:
        return empty(chart_id, f"{title}: no data.")
    frame = _Frame(0, len(rows), min(data), max(data))
    parts = _open(chart_id, title) + _axes(frame, y_label, "", "")
    step = (WIDTH - 2 * PAD) / len(rows)
    for i, (label, (estimate, low, high)) in enumerate(zip(labels, rows, strict=True)):
        x = PAD + (i + 0.5) * step
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y(low):.1f}" '
                f'y2="{frame.y(high):.1f}" stroke="#333" stroke-width="1.5"/>'
            )
        if math.isfinite(estimate):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{frame.y(estimate):.1f}" r="4" fill="{COLOURS[0]}"/>'
            )
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" font-size="11" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
