"""A chart of memory against context length, each GPU's usable memory a line: SVG, no plotting library.

``memory_chart(curves, gpus, path)`` writes ``.svg``, or ``.html`` (the same SVG in a minimal page). PNG
would need a rasterizer (cairo, a browser): it is refused with a one-line error that says how to get one.
The x axis is log2 of the context (1k, 2k, 4k, ... 128k), the y axis GiB from 0; where a curve crosses a
GPU's line, that card runs out, and a dot marks the spot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

from ..errors import UsageError
from ..estimator.curve import MemoryCurve, memory_curve
from ..gpus.catalog import Gpu
from ..report import Report
from .labels import precision_label

GiB = 1 << 30
PLOT_WIDTH, HEIGHT = 680, 560
LEFT, TOP, BOTTOM = 78, 58, 62  # plot margins: y labels, title, x labels (the right one fits the GPU labels)
CHAR_PX = 7.0  # average advance of a 12-13 px sans-serif character, for sizing boxes around text
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
# Okabe & Ito (2008) colour-blind-safe palette, for the curves
CURVE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GPU_COLOR = "#5f6b7a"
LABEL_GAP = 15  # px between GPU labels (12 px font)


def memory_chart(
    curves: Sequence[MemoryCurve], gpus: Sequence[Gpu], path: str | Path, title: str | None = None
) -> Path:
    """Write the chart of ``curves`` against ``gpus``' usable memory to ``path`` (.svg or .html)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".svg", ".html", ".htm"):
        if suffix == ".png":
            raise UsageError(
                f"cannot write {target.name}: PNG needs a rasterizer hubvram does not depend on; write "
                f"{target.with_suffix('.svg').name} and convert it (e.g. rsvg-convert -o chart.png chart.svg)"
            )
        raise UsageError(f"cannot write {target.name}: the chart is written as .svg or .html")
    svg = chart_svg(curves, gpus, title)
    if suffix == ".svg":
        text = '<?xml version="1.0" encoding="UTF-8"?>\n' + svg
    else:
        name = escape(title or "GPU memory against context length")
        text = (
            '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
            f"<title>{name}</title></head>\n"
            f'<body style="margin:24px;background:#fff">\n{svg}</body>\n</html>\n'
        )
    target.write_text(text, encoding="utf-8")
    return target


def report_chart(report: Report, path: str | Path) -> Path:
    """The chart of a report: its inference scenarios (its training ones when it has no other, whose tens of
    GiB would flatten the inference curves), as many as there are colours, against the report's GPUs."""
    inference = [e for e in report.estimates if e.options.mode == "inference"]
    curves = [
        memory_curve(report.facts, e.options, label=f"{e.options.mode} {precision_label(e, report.facts)}")
        for e in (inference or report.estimates)[: len(CURVE_COLORS)]
    ]
    return memory_chart(curves, [row.gpu for row in report.gpus], path, f"{report.facts.model_id}")


def chart_svg(curves: Sequence[MemoryCurve], gpus: Sequence[Gpu], title: str | None = None) -> str:
    """The chart as an SVG document string."""
    curves = [c for c in curves if c.contexts]
    if not curves:
        raise UsageError("nothing to chart: no curve has a point")
    lo = min(c.contexts[0] for c in curves)
    hi = max(c.contexts[-1] for c in curves)
    if hi == lo:
        hi = lo * 2
    x0, x1 = math.log2(lo), math.log2(hi)
    top = max([max(c.totals) for c in curves] + [g.memory_bytes for g in gpus]) / GiB
    step = _nice_step(top / 6)
    ymax = math.ceil(top * 1.06 / step) * step
    lines = _gpu_lines(gpus)
    labels = [f"{_names(names)} {memory / GiB:.1f} GiB" for memory, names in lines]
    right = 40 + CHAR_PX * max([len(label) for label in labels] + [14])
    pw, ph = PLOT_WIDTH, HEIGHT - TOP - BOTTOM
    width = int(LEFT + pw + right)

    def px(context: float) -> float:
        return LEFT + (math.log2(context) - x0) / (x1 - x0) * pw

    def py(gib: float) -> float:
        return TOP + ph - gib / ymax * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'viewBox="0 0 {width} {HEIGHT}" font-family="{FONT}" font-size="13">',
        f'<rect width="{width}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="30" font-size="17" font-weight="bold" fill="#1b1f24">'
        f"{escape(title or 'GPU memory against context length')}</text>",
        f'<text x="{LEFT}" y="48" font-size="12" fill="#5f6b7a">estimated total per GPU at each context; '
        "\u25cb where a scenario outgrows a card's usable memory</text>",
    ]
    # grid and axes
    y = 0.0
    while y <= ymax + 1e-9:
        yy = py(y)
        out.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}" stroke="#e6e9ed"/>')
        out.append(
            f'<text x="{LEFT - 8}" y="{yy + 4:.1f}" text-anchor="end" fill="#3d4650">'
            f"{_gib_label(y, step)}</text>"
        )
        y += step
    ticks = _context_ticks(lo, hi)
    for context, label in ticks:
        xx = px(context)
        out.append(f'<line x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{TOP + ph}" stroke="#eef0f2"/>')
        if label:
            out.append(
                f'<text x="{xx:.1f}" y="{TOP + ph + 20}" text-anchor="middle" fill="#3d4650">{label}</text>'
            )
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#9aa4ae"/>')
    out.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 16}" text-anchor="middle" fill="#1b1f24" font-size="14">'
        "context length (tokens, log scale)</text>"
    )
    out.append(
        f'<text transform="translate(22 {TOP + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        'fill="#1b1f24" font-size="14">memory per GPU (GiB)</text>'
    )
    # GPU lines (cards of the same usable memory share one), labels staggered so that none overlap
    placed = _stagger([py(memory / GiB) for memory, _ in lines], TOP + 8, TOP + ph + BOTTOM - 30)
    for (memory, names), label_y in zip(lines, placed, strict=True):
        yy = py(memory / GiB)
        out.append(f'<g class="gpu" data-gpu="{escape(", ".join(names))}">')
        out.append(
            f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}" stroke="{GPU_COLOR}" '
            'stroke-width="1.3" stroke-dasharray="6 4"/>'
        )
        out.append(
            f'<polyline points="{LEFT + pw:.1f},{yy:.1f} {LEFT + pw + 10:.1f},{yy:.1f} '
            f'{LEFT + pw + 18:.1f},{label_y:.1f}" fill="none" stroke="{GPU_COLOR}" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{LEFT + pw + 22:.1f}" y="{label_y + 4:.1f}" fill="#2b333b" font-size="12">'
            f'{escape(_names(names))} <tspan fill="{GPU_COLOR}">{memory / GiB:.1f} GiB</tspan></text>'
        )
        out.append("</g>")
    # curves, with a dot where each crosses a GPU's line
    for i, curve in enumerate(curves):
        color = CURVE_COLORS[i % len(CURVE_COLORS)]
        points = " ".join(
            f"{px(c):.1f},{py(t / GiB):.1f}" for c, t in zip(curve.contexts, curve.totals, strict=True)
        )
        out.append(f'<g class="curve" data-label="{escape(curve.label)}">')
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.6" '
            'stroke-linejoin="round"/>'
        )
        for c, t in zip(curve.contexts, curve.totals, strict=True):
            out.append(f'<circle cx="{px(c):.1f}" cy="{py(t / GiB):.1f}" r="2.6" fill="{color}"/>')
        for gpu in gpus:
            at = curve.crossing(gpu.memory_bytes)
            if at:
                out.append(
                    f'<circle cx="{px(at):.1f}" cy="{py(gpu.memory_bytes / GiB):.1f}" r="5" fill="#ffffff" '
                    f'stroke="{color}" stroke-width="2"><title>{escape(curve.label)} runs out of '
                    f"{escape(gpu.name)} at {at:,.0f} tokens</title></circle>"
                )
        out.append("</g>")
    out.extend(_legend(curves, LEFT + 12, TOP + 12))
    out.append("</svg>\n")
    return "\n".join(out)


def _gpu_lines(gpus: Sequence[Gpu]) -> list[tuple[int, list[str]]]:
    """(usable bytes, names) per line: cards within 0.05 GiB of each other share a line and a label."""
    lines: list[tuple[int, list[str]]] = []
    for gpu in sorted(gpus, key=lambda g: -g.memory_bytes):
        if lines and lines[-1][0] - gpu.memory_bytes < 0.05 * GiB:
            lines[-1][1].append(gpu.name)
        else:
            lines.append((gpu.memory_bytes, [gpu.name]))
    return lines


def _names(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else ", ".join(names[:2]) + f" +{len(names) - 2} more"


def _legend(curves: Sequence[MemoryCurve], x: float, y: float) -> list[str]:
    rows = [(c.label, CURVE_COLORS[i % len(CURVE_COLORS)], "") for i, c in enumerate(curves)]
    rows.append(("GPU usable memory", GPU_COLOR, ' stroke-dasharray="6 4"'))
    width = 52 + 1.12 * CHAR_PX * max(len(label) for label, _, _ in rows)  # 13 px legend text: wider
    height = 12 + 20 * len(rows)
    out = [
        f'<g class="legend"><rect x="{x}" y="{y}" width="{width:.0f}" height="{height}" rx="4" '
        'fill="#ffffff" stroke="#c9d0d6"/>'
    ]
    for i, (label, color, dash) in enumerate(rows):
        ry = y + 16 + 20 * i
        out.append(
            f'<line x1="{x + 10}" y1="{ry}" x2="{x + 34}" y2="{ry}" stroke="{color}" '
            f'stroke-width="2.6"{dash}/>'
        )
        out.append(f'<text x="{x + 40}" y="{ry + 4}" fill="#1b1f24">{escape(label)}</text>')
    out.append("</g>")
    return out


def _stagger(wanted: list[float], lowest: float, highest: float) -> list[float]:
    """Label positions at least LABEL_GAP apart, each cluster of crowded labels centred on where its
    labels want to be (merged until no two clusters overlap), then kept within [lowest, highest]."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    clusters: list[list[int]] = []  # runs of label indices, top to bottom
    starts: list[float] = []  # y of each cluster's first label
    for i in order:
        clusters.append([i])
        starts.append(wanted[i])
        while len(clusters) > 1 and starts[-2] + LABEL_GAP * len(clusters[-2]) > starts[-1]:
            merged = clusters[-2] + clusters[-1]
            centre = sum(wanted[j] for j in merged) / len(merged)
            clusters[-2:] = [merged]
            starts[-2:] = [centre - LABEL_GAP * (len(merged) - 1) / 2]
    placed = [0.0] * len(wanted)
    for run, start in zip(clusters, starts, strict=True):
        for k, i in enumerate(run):
            placed[i] = start + LABEL_GAP * k
    # keep inside the bounds: push down from the top, then up from the bottom
    previous = lowest - LABEL_GAP
    for i in order:
        placed[i] = max(placed[i], previous + LABEL_GAP)
        previous = placed[i]
    following = highest + LABEL_GAP
    for i in reversed(order):
        placed[i] = min(placed[i], following - LABEL_GAP)
        following = placed[i]
    return placed


def _context_ticks(lo: int, hi: int) -> list[tuple[int, str]]:
    """A tick at every power of two in range, labelled at 1k x 4^n (1k, 4k, 16k, 64k, 256k, 1M) and at the
    ends (every power of two over a short range), so that labels never crowd."""
    ticks = []
    p = 1 << max(0, math.ceil(math.log2(lo)))
    every = math.log2(hi) - math.log2(lo) <= 5  # a short range: label every power of two
    while p <= hi:
        quarter = (p.bit_length() - 1 - 10) % 2 == 0  # 1k * 4^n
        ticks.append((p, _tokens_label(p) if every or quarter or p in (lo, hi) else ""))
        p <<= 1
    if ticks and ticks[-1][0] != hi:
        ticks.append((hi, _tokens_label(hi)))
        if len(ticks) >= 2 and math.log2(hi) - math.log2(ticks[-2][0]) < 0.6:
            ticks[-2] = (ticks[-2][0], "")  # too close to the end label
    return ticks


def _tokens_label(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20}M"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10}k"
    return f"{n / 1024:.1f}k" if n >= 1024 else str(n)


def _nice_step(raw: float) -> float:
    """1, 2 or 5 x 10^n at or above ``raw``."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power  # pragma: no cover


def _gib_label(value: float, step: float) -> str:
    return f"{value:.0f}" if step >= 1 else f"{value:.1f}"
