"""How each GPU holds a report's scenarios: a verdict line per card, and the fit table, within 100 columns."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ..estimator.gguf import PartialOffload
from ..gpus import Fit
from ..report import GpuRow, Report, caveats
from .labels import precision_label, short_labels
from .writers import GIB, gib, table_text

WIDTH = 100  # the default terminal: tables are split and notes wrapped to fit it


def fit_cell(fit: Fit, offload: PartialOffload | None = None) -> str:
    if fit.fits:
        return f"{fit.headroom_bytes / GIB:,.1f} free"
    if offload is not None and offload.n_gpu_layers:
        return f"ngl {offload.n_gpu_layers}/{offload.layers}"
    if fit.gpus_needed:
        return f"{fit.gpus_needed}x"
    return "-"


def fit_tables(report: Report, fmt: str) -> str:
    """The fit table, its scenario columns split into as many tables as it takes to fit WIDTH."""
    labels = short_labels(report.estimates, report.facts)
    heads = [[row.gpu.name, f"{row.gpu.memory_bytes / GIB:,.2f}"] for row in report.gpus]
    cells = [
        [
            fit_cell(fit, offload)
            for fit, offload in zip(row.fits, row.offload or (None,) * len(row.fits), strict=True)
        ]
        for row in report.gpus
    ]
    limits = [_limits(row, labels) for row in report.gpus]

    def width(column: list[str], header: str) -> int:
        return max([len(header), *map(len, column)]) + 2

    fixed = width([h[0] for h in heads], "GPU") + width([h[1] for h in heads], "usable GiB")
    fixed += width([x[0] for x in limits], "max batch") + width([x[1] for x in limits], "max context")
    chunks: list[list[int]] = [[]]
    used = fixed
    for i, label in enumerate(labels):
        w = width([c[i] for c in cells], label)
        if chunks[-1] and used + w > WIDTH:
            chunks.append([])
            used = fixed
        chunks[-1].append(i)
        used += w
    tables = []
    for k, chunk in enumerate(chunks):
        last = k == len(chunks) - 1
        headers = ["GPU", "usable GiB", *(labels[i] for i in chunk)] + (
            ["max batch", "max context"] if last else []
        )
        rows = [
            [*head, *(row[i] for i in chunk), *(limit if last else [])]
            for head, row, limit in zip(heads, cells, limits, strict=True)
        ]
        tables.append(table_text(rows, headers, fmt))
    legend = textwrap.fill(_legend(report, [c for row in cells for c in row]), WIDTH)
    return "\n\n".join(tables) + "\n" + (legend if fmt != "markdown" else " ".join(legend.split()))


def _legend(report: Report, cells: Sequence[str]) -> str:
    """What the cells of this table mean: only the kinds of cell it shows."""
    gguf = report.facts.format == "gguf"
    parts = ["N free: fits on one card with N GiB left"]
    if any(c.endswith("x") for c in cells):
        split = "llama.cpp's layer split" if gguf else "tensor parallel for inference, layers for training"
        parts.append(
            f"Nx: N cards with the model split across them ({split}), each with its own CUDA context, "
            "workspace and allocator slack"
        )
    if any(c.startswith("ngl") for c in cells):
        parts.append("ngl n/L: llama.cpp keeps n of L layers on the card, the rest in system memory")
    if "-" in cells:
        apple = any(row.gpu.kind == "apple" for row in report.gpus)
        mac = " (Apple silicon: not in this Mac's memory)" if apple else ""
        parts.append(f"-: not even on 64 cards{mac}")
    parts.append("max batch at the scenario's context, max context at its batch")
    return "; ".join(parts)


def _limits(row: GpuRow, labels: Sequence[str]) -> list[str]:
    def value(n: int | None, capped: bool) -> str:
        return "-" if n is None else f">= {n:,}" if capped else f"{n:,}"

    batch = value(row.max_batch_size, row.batch_capped)
    if row.limits_of is not None and len(labels) > 1:
        batch += f" ({labels[row.limits_of]})"
    return [batch, value(row.max_seq_len, row.context_capped)]


def verdicts(report: Report) -> list[str]:
    """One line per GPU: what runs on one card, at what precision, with what headroom and context."""
    labels = short_labels(report.estimates, report.facts)
    width = max((len(row.gpu.name) for row in report.gpus), default=3)
    lines = []
    for row in report.gpus:
        text = "; ".join([*_verdict(report, row, labels), *caveats(report, row.gpu)])
        lines.append(textwrap.fill(text, WIDTH, initial_indent=f"  {row.gpu.name:<{width}}  ",
                                   subsequent_indent=" " * (width + 4)))  # fmt: skip
    return lines


def _verdict(report: Report, row: GpuRow, labels: Sequence[str]) -> list[str]:
    parts = []
    offload = row.offload or (None,) * len(row.fits)
    for mode in ("inference", "training"):
        indexes = [i for i, e in enumerate(report.estimates) if e.options.mode == mode]
        if not indexes:
            continue

        def name(i: int, mode: str = mode) -> str:
            precision = precision_label(report.estimates[i], report.facts)
            return f"inference in {precision}" if mode == "inference" else f"training ({precision})"

        fitting = [i for i in indexes if row.fits[i].fits]
        if fitting:
            i = fitting[0]
            text = f"{name(i)} fits, {row.fits[i].headroom_bytes / GIB:,.1f} GiB free"
            if row.limits_of == i and row.max_seq_len:
                full = row.max_seq_len == report.facts.architecture.max_position_embeddings
                text += f", up to {row.max_seq_len:,} tokens" + (" (all of its context)" if full else "")
            parts.append(text)
            if i != indexes[0]:  # the precision asked for first, and what it would take
                parts.append(f"{name(indexes[0])} {_elsewhere(row.fits[indexes[0]])}")
            continue
        partial = next((i for i in indexes if offload[i] is not None and offload[i].n_gpu_layers), None)
        if partial is not None:
            o = offload[partial]
            parts.append(
                f"{name(partial)}: {o.n_gpu_layers} of {o.layers} layers on the card (-ngl), "
                f"{gib(o.host_bytes)} in system memory"
            )
            continue
        cheapest = min(indexes, key=lambda i: row.fits[i].gpus_needed or 10**9)
        parts.append(f"{name(cheapest)} {_elsewhere(row.fits[cheapest])}")
    return parts


def _elsewhere(fit: Fit) -> str:
    if fit.gpus_needed:
        return f"needs {fit.gpus_needed} cards"
    return "does not fit" if fit.gpu.kind == "apple" else "does not fit on 64 cards"
