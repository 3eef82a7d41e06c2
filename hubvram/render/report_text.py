"""A Report for people: the facts, the breakdown of each scenario and the fit table; and as CSV."""

from __future__ import annotations

from ..errors import printable
from ..estimator import COMPONENT_KEYS, Estimate
from ..estimator.gguf import PartialOffload
from ..gpus import Fit
from ..model import ModelFacts
from ..report import Report, dtype_label
from .writers import GIB, csv_text, gib, json_text, table_text


def component_keys(estimates) -> tuple[str, ...]:
    """The standard components, then any extra ones an estimate carries (lora_adapters, ...)."""
    extra = [k for e in estimates for k in e.components if k not in COMPONENT_KEYS]
    return COMPONENT_KEYS + tuple(dict.fromkeys(extra))


def scenario_label(estimate: Estimate, facts: ModelFacts) -> str:
    """A short name for a scenario: "training mixed-bf16 adamw lora8 ckpt b2 s512"."""
    o = estimate.options
    precision = f"mixed-{o.mixed_precision}" if o.mode == "training" and o.mixed_precision else None
    parts = [o.mode, precision or dtype_label(estimate, facts)]
    if o.mode == "training":
        parts.append(o.optimizer)
        parts += [f"lora{o.lora_rank}"] if o.lora_rank else []
        parts += ["ckpt"] if o.gradient_checkpointing else []
        parts += [f"zero{o.zero_stage}x{o.num_gpus}"] if o.zero_stage else []
        parts += [f"offload-{o.offload}"] if o.offload != "none" else []
    elif o.tensor_parallel > 1:
        parts.append(f"tp{o.tensor_parallel}")
    return " ".join([*parts, f"b{o.batch_size}", f"s{o.seq_len}"])


# ---------------------------------------------------------------------------------------------


def render(report: Report, fmt: str) -> str:
    """One model's report in `fmt` (one of writers.REPORT_FORMATS)."""
    if fmt == "json":
        return json_text(report.to_dict())
    if fmt == "csv":
        return report_csv(report)
    return _text(report, fmt)


def _text(report: Report, fmt: str) -> str:
    """The facts, the breakdown and the fit table, as plain text ("table") or markdown."""
    parts = [_summary(report, markdown=fmt == "markdown"), _breakdown(report, fmt), _fit_table(report, fmt)]
    return "\n\n".join(parts)


def _summary(report: Report, *, markdown: bool) -> str:
    facts, arch = report.facts, report.facts.architecture
    revision = f" @ {facts.sha[:7]}" if facts.sha else ""
    lines = [f"{facts.model_id}{revision}"]
    shape = [f"{arch.num_layers} layers" if arch.num_layers else None]
    if arch.hidden_size:
        shape.append(f"hidden {arch.hidden_size}")
    if arch.num_attention_heads:
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
    if report.transfer.requests:
        rows.append(("read", f"{report.transfer.requests} requests, {report.transfer.bytes / 1e3:,.1f} kB"))
    width = max(len(k) for k, _ in rows)
    if markdown:
        return "\n".join([f"### {lines[0]}", ""] + [f"- **{k}**: {v}" for k, v in rows])
    return "\n".join(lines + [f"  {k.ljust(width)}  {v}" for k, v in rows])


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
    return "derived from the config, not read"


def _breakdown(report: Report, fmt: str) -> str:
    keys = component_keys(report.estimates)
    headers = ["scenario", *keys, "total"]
    rows = []
    for estimate in report.estimates:
        components = [gib(estimate.components.get(key, 0)) for key in keys]
        rows.append([scenario_label(estimate, report.facts), *components, gib(estimate.total)])
    table = table_text(rows, headers, fmt)
    return "\n".join([table, *_estimate_notes(report)])


def _estimate_notes(report: Report) -> list[str]:
    """Each estimate's notes (peak phase, offload, LoRA size, ...), said once for the scenarios they share."""
    said: dict[str, list[str]] = {}
    for estimate in report.estimates:
        for note in estimate.notes:
            said.setdefault(note, []).append(scenario_label(estimate, report.facts))
    return [f"note ({', '.join(labels)}): {note}" for note, labels in said.items()]


def _fit_table(report: Report, fmt: str) -> str:
    headers = [
        "GPU",
        "usable",
        *(scenario_label(e, report.facts) for e in report.estimates),
        "max batch",
        "max context",
    ]
    rows = []
    for row in report.gpus:
        offload = row.offload or (None,) * len(row.fits)
        cells = [_fit_cell(fit, o) for fit, o in zip(row.fits, offload, strict=True)]
        rows.append(
            [row.gpu.name, gib(row.gpu.memory_bytes), *cells, _opt(row.max_batch_size), _opt(row.max_seq_len)]
        )
    note = "fits: free memory left on one card; Nx: cards needed when the model is split; -: does not fit"
    return table_text(rows, headers, fmt) + "\n" + note


def _fit_cell(fit: Fit, offload: PartialOffload | None = None) -> str:
    if fit.fits:
        return f"fits, {fit.headroom_bytes / GIB:,.1f} GiB free"
    if offload is not None and offload.n_gpu_layers:
        return f"-ngl {offload.n_gpu_layers}/{offload.layers}, {gib(offload.host_bytes)} in RAM"
    if fit.gpus_needed:
        return f"{fit.gpus_needed}x"
    return "-"


def _clean(value: object) -> str | None:
    """Config text fit for a terminal (see errors.printable)."""
    return printable(value) if isinstance(value, str) else None


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def report_csv(report: Report) -> str:
    """One line per scenario: its components and total in bytes, and the cards each GPU needs."""
    gpu_names = [row.gpu.name for row in report.gpus]
    keys = component_keys(report.estimates)
    header = ["model", "sha", "mode", "dtype", "batch_size", "seq_len", "optimizer", *keys, "total"]
    header += [f"gpus_needed:{name}" for name in gpu_names]
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
        )
    return csv_text(header, rows)


def _needed(fit: Fit) -> str:
    return "" if fit.gpus_needed is None else str(fit.gpus_needed)
