"""The serving table: per GPU, what the report's engine holds (vLLM's KV cache tokens and requests at once,
llama.cpp's layers on the card) and the tokens/s bounds of the scenario it serves."""

from __future__ import annotations

import textwrap
from typing import Any

from ..estimator.speed import DECODE_EFFICIENCY, PREFILL_EFFICIENCY
from ..report import GpuRow, Report
from .fit_text import WIDTH
from .labels import short_labels
from .writers import table_text


def serving_table(report: Report, fmt: str) -> str | None:
    """The engine's answers and the speed bounds per GPU, with vLLM's start-up errors below; None when no
    GPU runs an inference scenario."""
    rows = [row for row in report.gpus if row.serving is not None or row.speed is not None]
    if not rows:
        return None
    labels = short_labels(report.estimates, report.facts)
    engine = report.engine
    headers = ["GPU", "variant" if engine == "llama.cpp" else "precision"]
    if engine == "vllm":
        headers += ["KV tokens", "requests", "max context"]
    elif engine == "llama.cpp":
        headers += ["layers on card", "max context"]
    scenarios = [_scenario(row) for row in rows]
    batch = max((report.estimates[i].options.batch_size for i in scenarios if i is not None), default=1)
    headers += ["decode tok/s"] + (["all seqs tok/s"] if batch > 1 else []) + ["prefill tok/s"]
    table: list[list[str]] = []
    errors: dict[str, list[str]] = {}  # one error, the cards it stops
    for row, index in zip(rows, scenarios, strict=True):
        serving, speed = row.serving or {}, row.speed or {}
        cells = [row.gpu.name, labels[index] if index is not None else "-"]
        if engine == "vllm":
            concurrency = serving.get("max_concurrency")
            cells += [
                _count(serving.get("kv_cache_tokens")),
                "-" if concurrency is None else f"{concurrency:,.2f}x",
                _count(serving.get("max_model_len")),
            ]
        elif engine == "llama.cpp":
            layers = serving.get("layers")
            on_card = f"{serving['n_gpu_layers']}/{layers}" if layers else "all" if serving else "-"
            cells += [on_card, _count(serving.get("max_model_len"))]
        cells.append(_rate(speed.get("decode_tokens_per_s")))
        if batch > 1:
            cells.append(_rate(speed.get("decode_aggregate_tokens_per_s")))
        cells.append(_rate(speed.get("prefill_tokens_per_s")))
        table.append(cells)
        if serving.get("error"):
            errors.setdefault(serving["error"], []).append(row.gpu.name)
    shown = next((report.estimates[i].options for i in scenarios if i is not None), None)
    shape = f"batch {shown.batch_size}, {shown.seq_len:,} tokens" if shown else ""
    tp = shown.tensor_parallel if shown else 1
    where = f"on each of {tp} cards (tensor parallel)" if tp > 1 else "on one card"
    heading = textwrap.fill(_heading(report, rows, shape, where), WIDTH)
    text = f"{heading}\n{table_text(table, headers, fmt)}"
    notes = [f"{', '.join(names)}: {error}" for error, names in errors.items()] + _legend(report, rows)
    if fmt == "markdown":
        return text + "\n\n" + "\n".join(f"- {n}" for n in notes)
    return "\n".join([text, *(textwrap.fill(n, WIDTH, subsequent_indent="  ") for n in notes)])


def _heading(report: Report, rows: list[GpuRow], shape: str, where: str) -> str:
    if report.engine == "vllm":
        serving = next(r.serving for r in rows if r.serving)
        return (
            f"served by {serving['engine']} {where} (gpu_memory_utilization "
            f"{serving['gpu_memory_utilization']}, requests of {serving['asked_max_model_len']:,} tokens):"
        )
    if report.engine == "llama.cpp":
        return f"served by llama.cpp {where} ({shape or 'as sized above'}):"
    return f"tokens/s {where} ({shape}):" if shape else f"tokens/s {where}:"


def _legend(report: Report, rows: list[GpuRow]) -> list[str]:
    lines = [
        f"tok/s: upper bounds per sequence, decode at {DECODE_EFFICIENCY:.0%} of the card's memory bandwidth "
        f"(weights and KV cache read per token), prefill at {PREFILL_EFFICIENCY:.0%} of its dense 16-bit "
        "FLOP/s (notes/THROUGHPUT.md); -: bandwidth or FLOP/s unknown, or the scenario does not run there"
    ]
    if report.engine == "vllm":
        lines.append(
            "KV tokens: vLLM's 'GPU KV cache size'; requests: its 'Maximum concurrency' at the requested "
            "length; max context: the longest max_model_len its KV cache holds"
        )
    notes = {n for r in rows if r.speed for n in r.speed.get("notes", [])}
    return lines + sorted(notes)


def _scenario(row: GpuRow) -> int | None:
    """The scenario a row's serving answers are for: the engine's, else the first with a speed bound."""
    if row.serving is not None:
        return row.serving["scenario"]
    return next((i for i, s in enumerate(row.speeds) if s is not None), None)


def _count(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
