"""The report stage: facts + what the user asked for -> estimates -> fit against GPUs.

This is the glue the CLI and the scanner share; the arithmetic itself lives in estimate.py and fit.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .estimate import Estimate, EstimateOptions, estimate
from .facts import ModelFacts
from .fit import Fit, fit, largest_fitting
from .gpus import Gpu

DEFAULT_SEQ_LEN = 2048
WHAT_IF_PRECISIONS = ("int8", "int4")  # shown beside the stored precision when --dtype is not given
MAX_BATCH_SEARCHED = 4096
MAX_CONTEXT_SEARCHED = 1 << 21


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for, as parsed from the flags (one object instead of a dozen parameters)."""

    mode: str = "both"
    dtype: str | None = None
    seq_len: int | None = None  # None: 2048, capped at the model's context
    scenario: dict = field(default_factory=dict)  # the remaining EstimateOptions fields, by name
    gpus: tuple[str, ...] = ()
    gpu_memory: tuple[str, ...] = ()
    fmt: str = "table"

    @property
    def batch_size(self) -> int:
        return self.scenario.get("batch_size", 1)


@dataclass(frozen=True)
class Transfer:
    """What reading the model cost on the network."""

    requests: int = 0
    bytes: int = 0
    header_files: int = 0


@dataclass(frozen=True)
class GpuRow:
    """One GPU held against every estimate of a report."""

    gpu: Gpu
    fits: tuple[Fit, ...]  # one per estimate, same order
    max_batch_size: int | None = None  # largest batch of the first estimate that fits on one card
    max_seq_len: int | None = None  # largest context of the first estimate that fits on one card

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.gpu.name,
            "memory_bytes": self.gpu.memory_bytes,
            "estimates": [f.to_dict() for f in self.fits],
            "max_batch_size": self.max_batch_size,
            "max_seq_len": self.max_seq_len,
        }


@dataclass(frozen=True)
class Report:
    """Everything `hubvram MODEL` prints: the facts, the estimates and the fit of each GPU."""

    facts: ModelFacts
    estimates: tuple[Estimate, ...]
    gpus: tuple[GpuRow, ...]
    transfer: Transfer = Transfer()

    def to_dict(self) -> dict[str, Any]:
        from .render import estimate_dict

        data = self.facts.to_dict()
        data["estimates"] = [estimate_dict(e, self.facts) for e in self.estimates]
        data["gpus"] = [row.to_dict() for row in self.gpus]
        data["transfer"] = {
            "requests": self.transfer.requests,
            "bytes": self.transfer.bytes,
            "safetensors_files": self.transfer.header_files,
        }
        return data


def read_facts(model: str, *, revision: str | None = None, token: str | None = None, pool=None):
    """Fetch a repo (or read a directory) and turn it into facts; returns (facts, transfer)."""
    from .facts import facts_from_snapshot
    from .hub import load_snapshot

    snapshot = load_snapshot(model, revision=revision, token=token, pool=pool)
    transfer = Transfer(snapshot.requests, snapshot.bytes_received, len(snapshot.weight_files))
    return facts_from_snapshot(snapshot), transfer


def scenarios(facts: ModelFacts, options: RunOptions) -> list[EstimateOptions]:
    """The estimates to show: the asked-for scenario first, then what-if precisions for inference."""
    seq_len = options.seq_len or min(
        DEFAULT_SEQ_LEN, facts.architecture.max_position_embeddings or DEFAULT_SEQ_LEN
    )
    base = EstimateOptions(seq_len=seq_len, **options.scenario)
    modes = ("inference", "training") if options.mode == "both" else (options.mode,)
    result = []
    for mode in modes:
        dtypes: tuple[str | None, ...] = (options.dtype,)
        if options.dtype is None and mode == "inference":
            dtypes += tuple(p for p in WHAT_IF_PRECISIONS if _smaller_than_stored(p, facts))
        if options.dtype is None and mode == "training" and not _stored_as_float(facts):
            dtypes = ("bf16",)  # FP8/MXFP4/GPTQ weights are trained dequantized (or with --lora-rank)
        if options.mode == "both" and not trainable(options, mode):
            continue  # `--dtype int4` under --mode both: the inference what-if, no full training at int4
        per_mode = base if mode == "training" else replace(base, mixed_precision=None)
        result.extend(replace(per_mode, mode=mode, dtype=dtype) for dtype in dtypes)
    return result


def trainable(options: RunOptions, mode: str) -> bool:
    """Full training at a quantized precision needs LoRA (QLoRA); --mode both then sizes inference only."""
    quantized = options.dtype in ("int8", "int4", "fp8", "nf4")
    return mode != "training" or not quantized or options.scenario.get("lora_rank") is not None


def _stored_as_float(facts: ModelFacts) -> bool:
    return set(facts.parameters.by_dtype) <= {"F32", "F16", "BF16", "F64"}


def _smaller_than_stored(precision: str, facts: ModelFacts) -> bool:
    bits = {"int8": 8, "int4": 4}[precision]
    return facts.bytes_per_parameter * 8 > bits * 1.5


def build_report(facts: ModelFacts, options: RunOptions, transfer: Transfer = Transfer()) -> Report:
    require_transformer(facts)
    estimates = tuple(estimate(facts, scenario) for scenario in scenarios(facts, options))
    gpus = resolve_gpus(options.gpus, options.gpu_memory)
    rows = tuple(gpu_row(facts, estimates, gpu) for gpu in gpus)
    return Report(facts, estimates, rows, transfer)


def require_transformer(facts: ModelFacts) -> None:
    """Pipelines without a transformer config (diffusers) get their weights named, then a clear refusal."""
    arch = facts.architecture
    if arch.hidden_size or arch.num_layers or not facts.pipeline_class:
        return
    from .errors import MalformedConfig

    raise MalformedConfig(
        f"{facts.model_id} is a {facts.pipeline_class} pipeline: "
        f"its weights take {facts.weights_bytes:,} bytes "
        f"({facts.parameters.total:,} parameters), but hubvram sizes activations of transformer models only"
    )


def resolve_gpus(names: tuple[str, ...], memories: tuple[str, ...]) -> tuple[Gpu, ...]:
    from .gpus import custom_gpu, default_gpus, find_gpu

    chosen = tuple(find_gpu(name) for name in names) + tuple(custom_gpu(size) for size in memories)
    return chosen or default_gpus()


def gpu_row(facts: ModelFacts, estimates: tuple[Estimate, ...], gpu: Gpu) -> GpuRow:
    fits = tuple(fit(e.total, gpu, replicated_bytes=min(e.replicated_bytes, e.total)) for e in estimates)
    if not estimates:
        return GpuRow(gpu, fits)
    first = estimates[0].options

    def with_batch(batch: int) -> int:
        return estimate(facts, replace(first, batch_size=batch)).total

    def with_context(tokens: int) -> int:
        return estimate(facts, replace(first, seq_len=tokens)).total

    context_limit = facts.architecture.max_position_embeddings or MAX_CONTEXT_SEARCHED
    max_batch = largest_fitting(with_batch, gpu.memory_bytes, hi=MAX_BATCH_SEARCHED)
    lowest_context = first.new_tokens + 1  # the prompt needs at least one token beside the generated ones
    max_context = largest_fitting(
        with_context,
        gpu.memory_bytes,
        lo=lowest_context,
        hi=max(lowest_context, min(context_limit, MAX_CONTEXT_SEARCHED)),
    )
    return GpuRow(gpu, fits, max_batch, max_context)
