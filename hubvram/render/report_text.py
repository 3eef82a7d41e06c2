"""A Report for people: the facts, the breakdown of each scenario and the fit table; and as CSV."""

from __future__ import annotations

import textwrap

from ..errors import printable
from ..estimator import COMPONENT_KEYS
from ..gpus import Fit
from ..report import GpuRow, Report, dtype_label
from .fit_text import WIDTH, fit_tables, verdicts
from .labels import scenario_label, shared_shape, short_labels
from .serving_text import serving_table
from .writers import GIB, csv_text, gib, json_text, table_text


def component_keys(estimates) -> tuple[str, ...]:
    """The standard components, then any extra ones an estimate carries (lora_adapters, ...)."""
    extra = [k for e in estimates for k in e.components if k not in COMPONENT_KEYS]
    return COMPONENT_KEYS + tuple(dict.fromkeys(extra))


# ---------------------------------------------------------------------------------------------


def render(report: Report, fmt: str) -> str:
    """One model's report in `fmt` (one of writers.REPORT_FORMATS)."""
    if fmt == "json":
        return json_text(report.to_dict())
    if fmt == "csv":
        return report_csv(report)
    return _text(report, fmt)


def _text(report: Report, fmt: str) -> str:
    """The facts, a verdict per GPU, the breakdown and the fit table, as plain text or markdown."""
    shape = shared_shape(report.estimates)
    verdict = "\n".join(verdicts(report))
    tp = {e.options.tensor_parallel for e in report.estimates if e.options.mode == "inference"}
    split = len(tp) == 1 and min(tp) > 1
    where = f"on each of {tp.pop()} cards (tensor parallel)" if split else "on one card"
    heading = f"{where} ({shape}):" if shape else f"{where}:"
    parts = [
        _summary(report, markdown=fmt == "markdown"),
        f"{heading}\n{verdict}" if fmt != "markdown" else f"**{heading}**\n\n{verdict}",
        _breakdown(report, fmt),
        fit_tables(report, fmt),
        serving_table(report, fmt),
    ]
    return "\n\n".join(part for part in parts if part)


def _summary(report: Report, *, markdown: bool) -> str:
    facts, arch = report.facts, report.facts.architecture
    revision = f" @ {facts.sha[:7]}" if facts.sha else ""
    lines = [f"{facts.model_id}{revision}"]
    shape = [f"{arch.num_layers} layers" if arch.num_layers else None]
    if arch.hidden_size:
        shape.append(f"hidden {arch.hidden_size}")
    if arch.num_attention_heads and arch.kv_lora_rank and arch.qk_nope_head_dim:
        qk = arch.qk_nope_head_dim + (arch.qk_rope_head_dim or 0)
        shape.append(
            f"{arch.num_attention_heads} heads (MLA: q/k head {qk}, v head {arch.v_head_dim or qk}, "
            f"KV latent {arch.kv_lora_rank} + rope {arch.qk_rope_head_dim or 0})"
        )
    elif arch.num_attention_heads:
        shape.append(
            f"{arch.num_attention_heads} heads ({arch.kv_heads} KV, head_dim {arch.attention_head_dim})"
        )
    if arch.intermediate_size:
        shape.append(f"MLP {arch.intermediate_size}")
    if arch.num_experts:
        shape.append(f"{arch.num_experts} experts ({arch.num_experts_per_token} active)")
    if arch.vocab_size:
        shape.append(f"vocab {arch.vocab_size}")
    if arch.max_position_embeddings:
        shape.append(f"context {arch.max_position_embeddings}")
    kind = arch.model_type or "unknown type"
    if arch.architectures:
        kind += f" ({', '.join(arch.architectures)})"
    elif facts.format != "safetensors":
        kind += f" ({facts.format})"
    rows = [("architecture", f"{kind}: {', '.join(s for s in shape if s)}")]
    count = facts.parameters
    by_dtype = ", ".join(f"{dtype} {n:,}" for dtype, n in count.by_dtype.items())
    rows.append(("parameters", f"{count.total:,} ({by_dtype}), {_count_source(report)}"))
    rows.append(("weights", f"{gib(facts.weights_bytes)} as stored ({facts.weights_bytes:,} bytes)"))
    if facts.variants:
        listed = ", ".join(f"{v.name} {gib(v.file_bytes)}" for v in facts.variants)
        rows.append(("variants", f"{len(facts.variants)} GGUF files: {listed}"))
    if facts.adapter:
        a = facts.adapter
        targets = ",".join(a.target_modules) or "?"
        rows.append(
            (
                "adapter",
                f"{a.peft_type} r{a.rank} on {targets}: {a.parameters:,} parameters "
                f"({gib(a.weights_bytes)}), base {a.base_model}",
            )
        )
    if arch.quantization:
        rows.append(("quantization", _clean(arch.quantization.get("quant_method")) or "yes"))
    for note in facts.notes:
        rows.append(("note", note))
    for warning in report.warnings:
        rows.append(("warning", warning))
    transfer = report.transfer
    if transfer.cached:
        recheck = f" ({transfer.requests} request to re-check the branch)" if transfer.requests else ""
        rows.append(("read", f"from hubvram's cache{recheck}, no header bytes"))
    elif transfer.requests:
        rows.append(("read", f"{transfer.requests} requests, {transfer.bytes / 1e3:,.1f} kB"))
    width = max(len(k) for k, _ in rows)
    if markdown:
        return "\n".join([f"### {lines[0]}", ""] + [f"- **{k}**: {v}" for k, v in rows])
    indent = " " * (width + 4)
    wrapped = [
        textwrap.fill(v, WIDTH, initial_indent=f"  {k.ljust(width)}  ", subsequent_indent=indent)
        for k, v in rows
    ]
    return "\n".join(lines + wrapped)


def _count_source(report: Report) -> str:
    """How the parameter count was had: read from headers, or derived."""
    facts, files = report.facts, report.transfer.header_files
    plural = "header" if files == 1 else "headers"
    if facts.parameters.source == "gguf":
        return f"read from {files} GGUF {plural} ({facts.variant})"
    if facts.parameters.source == "safetensors":
        return f"read from {files} safetensors {plural}"
    if facts.format == "meta-original":
        return "derived from params.json, not read"
    if facts.parameters.source == "stored size":
        return "derived from the stored size, not read"
    return "derived from the config, not read"


def _breakdown(report: Report, fmt: str) -> str:
    """Bytes at the peak of each scenario, in one unit for the table; components zero everywhere left out."""
    estimates = report.estimates
    keys = [k for k in component_keys(estimates) if any(e.components.get(k, 0) for e in estimates)]
    keys.sort(key=lambda k: k == "overhead")  # the runtime last, beside the total it is added to
    big = max((e.total for e in estimates), default=0) >= GIB
    unit, scale = ("GiB", GIB) if big else ("MiB", 2**20)
    shape = shared_shape(report.estimates)
    labels = (
        short_labels(report.estimates, report.facts)
        if shape
        else [scenario_label(e, report.facts) for e in report.estimates]
    )
    headers = [f"scenario ({unit})", *(_HEADERS.get(k, k) for k in keys), "total"]
    rows = []
    for label, estimate in zip(labels, report.estimates, strict=True):
        cells = [_number(estimate.components.get(k, 0), scale) for k in keys]
        rows.append([label, *cells, _number(estimate.total, scale)])
    return "\n".join([table_text(rows, headers, fmt), *_estimate_notes(report, labels, fmt)])


# Component names as column headers (JSON keeps the component keys).
_HEADERS = {
    "kv_cache": "KV cache",
    "activations": "activ.",
    "gradients": "grads",
    "optimizer_states": "optim.",
    "optimizer_scratch": "scratch",
    "overhead": "runtime",
    "lora_adapters": "adapters",
    "dequantized_weight": "dequant",
    "zero3_gathered": "gathered",
    "autocast_weights": "autocast",
}


def _number(nbytes: int, scale: int) -> str:
    return "-" if not nbytes else f"{nbytes / scale:,.2f}" if scale == GIB else f"{nbytes / scale:,.1f}"


def _estimate_notes(report: Report, labels: list[str], fmt: str) -> list[str]:
    """Each estimate's notes (peak phase, offload, LoRA size, ...), said once, naming the scenarios they
    concern when not all of them; wrapped to the width."""
    said: dict[str, list[str]] = {}
    for label, estimate in zip(labels, report.estimates, strict=True):
        for note in estimate.notes:
            said.setdefault(note, []).append(label)
    lines = []
    for note, which in said.items():
        text = note if len(which) == len(labels) else f"{', '.join(which)}: {note}"
        if fmt == "markdown":
            lines.append(f"- {text}")
        else:
            lines.append(textwrap.fill(text, WIDTH, initial_indent="* ", subsequent_indent="  "))
    return [""] + lines if lines and fmt == "markdown" else lines


def _clean(value: object) -> str | None:
    """Config text fit for a terminal (see errors.printable)."""
    return printable(value) if isinstance(value, str) else None


def report_csv(report: Report) -> str:
    """One line per scenario: its components and total in bytes, the cards each GPU needs, the tokens/s
    bounds there, and what the engine holds on it (on the row of the scenario it serves)."""
    gpu_names = [row.gpu.name for row in report.gpus]
    keys = component_keys(report.estimates)
    header = ["model", "sha", "mode", "dtype", "batch_size", "seq_len", "optimizer", *keys, "total"]
    header += [f"gpus_needed:{name}" for name in gpu_names]
    header += [f"{key}:{name}" for key in SPEED_COLUMNS for name in gpu_names]
    header += [f"{key}:{name}" for key in SERVING_COLUMNS for name in gpu_names]
    rows = []
    for index, estimate in enumerate(report.estimates):
        o = estimate.options
        rows.append(
            [
                report.facts.model_id,
                report.facts.sha or "",
                o.mode,
                dtype_label(estimate, report.facts),
                o.batch_size,
                o.seq_len,
            ]
            + [o.optimizer if o.mode == "training" else ""]
            + [estimate.components.get(key, 0) for key in keys]
            + [estimate.total]
            + [_needed(row.fits[index]) for row in report.gpus]
            + [_speed(row, index, key) for key in SPEED_COLUMNS for row in report.gpus]
            + [_serving(row, index, key) for key in SERVING_COLUMNS for row in report.gpus]
        )
    return csv_text(header, rows)


SPEED_COLUMNS = ("decode_tokens_per_s", "prefill_tokens_per_s")
SERVING_COLUMNS = ("kv_cache_tokens", "max_concurrency", "max_model_len")


def _speed(row: GpuRow, index: int, key: str) -> object:
    speed = row.speeds[index] if row.speeds else None
    return None if speed is None else speed[key]


def _serving(row: GpuRow, index: int, key: str) -> object:
    serving = row.serving
    return None if serving is None or serving["scenario"] != index else serving.get(key)


def _needed(fit: Fit) -> str:
    return "" if fit.gpus_needed is None else str(fit.gpus_needed)
