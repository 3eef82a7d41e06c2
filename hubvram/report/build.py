"""Building a report: what the user asked for (RunOptions) -> the scenarios -> their estimates -> each
GPU's row (fit, largest batch and context, what the engine serves, tokens/s)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..dtypes import FLOAT_HEADER_DTYPES, QUANTIZED_DTYPES, precision_name
from ..errors import MalformedConfig
from ..estimator import Estimate, EstimateOptions, estimate
from ..estimator.gguf import PartialOffload, partial_offload
from ..estimator.weights import weights_bytes
from ..fetch.snapshot import RepoSnapshot
from ..gpus import Fit, Gpu, default_gpus, largest_fitting
from ..model import ModelFacts, facts_from_snapshot
from ..model.families import is_seq2seq_modelled
from .serving import Limits, VllmSettings, engine_serving, resolve_engine, scenario_speeds

DEFAULT_SEQ_LEN = 2048
WHAT_IF_PRECISIONS = ("int8", "int4")  # shown beside the stored precision when --dtype is not given
MAX_BATCH_SEARCHED = 4096
MAX_CONTEXT_SEARCHED = 1 << 21


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for, typed and resolved once: the scenarios to size and the GPUs to try.

    `settings` carries every setting of the asked-for scenario (batch, optimizer, LoRA, ZeRO, ...);
    its mode, dtype and seq_len are set per scenario from the fields here.
    """

    mode: str = "both"  # "inference", "training" or "both"
    dtype: str | None = None  # None: as stored (plus what-if precisions for inference)
    seq_len: int | None = None  # None: 2048, capped at the model's context
    settings: EstimateOptions = field(default_factory=EstimateOptions)
    gpus: tuple[Gpu, ...] = ()  # empty: the default set
    engine: str = "auto"  # serving.ENGINES: what the serving answers are sized for
    gpu_memory_utilization: float | None = None  # vLLM's --gpu-memory-utilization (None: its default)
    vllm_version: str | None = None  # the vLLM release whose defaults apply (None: estimator/vllm.py's)
    serving_columns: bool = False  # scan: add each GPU's serving answers and tokens/s (hubvram MODEL: always)

    @property
    def batch_size(self) -> int:
        return self.settings.batch_size

    def held_against(self) -> tuple[Gpu, ...]:
        return self.gpus or default_gpus()


@dataclass(frozen=True)
class Transfer:
    """What reading the model cost on the network."""

    requests: int = 0
    bytes: int = 0
    header_files: int = 0
    cached: bool = False  # answered from hubvram's cache

    @classmethod
    def of(cls, snapshot: RepoSnapshot) -> Transfer:
        """What reading the snapshot cost (an adapter's base model included)."""
        parts = (snapshot,) if snapshot.base is None else (snapshot, snapshot.base)
        return cls(
            sum(p.requests for p in parts),
            sum(p.bytes_received for p in parts),
            sum(p.header_files for p in parts),
            all(p.cached for p in parts),
        )


@dataclass(frozen=True)
class GpuRow:
    """One GPU held against every estimate of a report."""

    gpu: Gpu
    fits: tuple[Fit, ...]  # one per estimate, same order
    max_batch_size: int | None = None  # largest batch of the first estimate that fits on one card
    max_seq_len: int | None = None  # largest context of the first estimate that fits on one card
    offload: tuple[PartialOffload | None, ...] = ()  # GGUF: the layers a card too small for all holds
    limits_of: int | None = None  # the estimate max_batch_size / max_seq_len are for (the first that fits)
    batch_capped: bool = False  # the search stopped at its cap: the card holds at least that
    context_capped: bool = False
    serving: dict[str, Any] | None = None  # what the report's engine holds here (report/serving.py)
    speeds: tuple[dict[str, Any] | None, ...] = ()  # tokens/s bounds, one per estimate (None: not run)

    @property
    def speed(self) -> dict[str, Any] | None:
        """The tokens/s bounds of the scenario the engine serves here (else of the first that runs)."""
        if self.serving is not None and self.speeds:
            return self.speeds[self.serving["scenario"]]
        return next((s for s in self.speeds if s is not None), None)

    def to_dict(self) -> dict[str, Any]:
        offload = self.offload or (None,) * len(self.fits)
        speeds = self.speeds or (None,) * len(self.fits)
        return {
            "name": self.gpu.name,
            "memory_bytes": self.gpu.memory_bytes,
            "estimates": [
                f.to_dict()
                | ({"gpu_layers": o.n_gpu_layers, "host_bytes": o.host_bytes} if o else {})
                | {"speed": speed}
                for f, o, speed in zip(self.fits, offload, speeds, strict=True)
            ],
            "serving": self.serving,
            "speed": self.speed,
            "max_batch_size": self.max_batch_size,
            "max_seq_len": self.max_seq_len,
            "limits_of": self.limits_of,
            "max_batch_size_capped": self.batch_capped,
            "max_seq_len_capped": self.context_capped,
        }


@dataclass(frozen=True)
class Report:
    """Everything `hubvram MODEL` prints: the facts, the estimates and the fit of each GPU."""

    facts: ModelFacts
    estimates: tuple[Estimate, ...]
    gpus: tuple[GpuRow, ...]
    transfer: Transfer = Transfer()
    warnings: tuple[str, ...] = ()  # what the user asked for that the model may not support
    engine: str = "transformers"  # the engine the serving answers are sized for (resolved, never "auto")

    def to_dict(self) -> dict[str, Any]:
        data = self.facts.to_dict()
        data["warnings"] = list(self.warnings)
        data["engine"] = self.engine
        data["estimates"] = [estimate_dict(e, self.facts) for e in self.estimates]
        data["gpus"] = [row.to_dict() for row in self.gpus]
        data["transfer"] = {
            "requests": self.transfer.requests,
            "bytes": self.transfer.bytes,
            "safetensors_files": self.transfer.header_files,
        }
        return data


def read_facts(
    model: str, *, revision: str | None = None, token: str | None = None, pool=None
) -> tuple[ModelFacts, Transfer]:
    """Fetch a repo (or read a directory) and turn it into facts; returns (facts, transfer)."""
    from ..fetch.load import load_snapshot  # lazy: importing the report stage should not load the reader

    snapshot = load_snapshot(model, revision=revision, token=token, pool=pool)
    return facts_from_snapshot(snapshot), Transfer.of(snapshot)


def stored_precision(facts: ModelFacts) -> str:
    """The precision the weights are stored in: as the facts name it (a GGUF variant, an MLX packing),
    else by the dtype that holds most parameters."""
    return facts.stored_precision or precision_name(next(iter(facts.parameters.by_dtype), "F32"))


def dtype_label(estimate: Estimate, facts: ModelFacts) -> str:
    """The precision a scenario runs at: the one asked for, a GGUF variant, else the stored one."""
    return estimate.options.dtype or estimate.options.variant or stored_precision(facts)


def estimate_dict(estimate: Estimate, facts: ModelFacts) -> dict[str, Any]:
    data = estimate.to_dict()
    data["dtype"] = dtype_label(estimate, facts)
    data["dtype_as_stored"] = estimate.options.dtype is None
    return data


def scenarios(facts: ModelFacts, options: RunOptions) -> list[EstimateOptions]:
    """The estimates to show: the asked-for scenario first, then what-if precisions for inference."""
    seq_len = options.seq_len or min(
        DEFAULT_SEQ_LEN, facts.architecture.max_position_embeddings or DEFAULT_SEQ_LEN
    )
    base = replace(options.settings, mode="inference", dtype=None, seq_len=seq_len)
    if facts.format == "gguf":
        return _gguf_scenarios(facts, options, base)
    if facts.adapter and base.lora_rank is None and facts.adapter.rank:  # continue the adapter's training
        base = replace(
            base, lora_rank=facts.adapter.rank, lora_targets=facts.adapter.lora_targets or ("q", "v")
        )
    modes = ("inference", "training") if options.mode == "both" else (options.mode,)
    result = []
    for mode in modes:
        dtypes: tuple[str | None, ...] = (options.dtype,)
        if options.dtype is None and mode == "inference":
            dtypes += tuple(p for p in WHAT_IF_PRECISIONS if _smaller_than_stored(p, facts))
        if options.mode == "both" and not trainable(options, mode):
            continue  # `--dtype int4` under --mode both: the inference what-if, no full training at int4
        per_mode = base if mode == "training" else replace(base, mixed_precision=None)
        if mode == "training" and options.dtype is None and base.lora_rank is None:
            # What most fine-tuning runs use (transformers Trainer bf16=True, accelerate, Lightning
            # "bf16-mixed"): fp32 master weights, gradients and AdamW states, bf16 compute. Pure
            # precision is --dtype; FP8/MXFP4/GPTQ weights are trained dequantized the same way.
            per_mode = replace(per_mode, mixed_precision=per_mode.mixed_precision or "bf16")
        elif mode == "training" and options.dtype is None and not _stored_as_float(facts):
            dtypes = ("bf16",)  # LoRA on FP8/MXFP4/GPTQ weights: a bf16 base (or --dtype nf4: QLoRA)
        result.extend(replace(per_mode, mode=mode, dtype=dtype) for dtype in dtypes)
    return result


def _gguf_scenarios(facts: ModelFacts, options: RunOptions, base: EstimateOptions) -> list[EstimateOptions]:
    """Every variant of a GGUF repo (the one read first), or the one --variant names; inference only:
    llama.cpp does not train (--mode training is refused by the estimator, with the reason)."""
    if options.mode == "training":
        return [replace(base, mode="training")]
    if base.variant:
        return [base]
    read = [v.name for v in facts.variants if v.exact]
    others = [v.name for v in facts.variants if not v.exact]
    return [replace(base, variant=name) for name in read + others]


def trainable(options: RunOptions, mode: str) -> bool:
    """Full training at a quantized precision needs LoRA (QLoRA); --mode both then sizes inference only."""
    quantized = options.dtype in QUANTIZED_DTYPES
    return mode != "training" or not quantized or options.settings.lora_rank is not None


def _stored_as_float(facts: ModelFacts) -> bool:
    return set(facts.parameters.by_dtype) <= FLOAT_HEADER_DTYPES


def _smaller_than_stored(precision: str, facts: ModelFacts) -> bool:
    """A what-if precision is shown only where it changes something: a different precision than the
    stored one that saves at least a tenth of the weights (a GPTQ int4 repo gets no int4 what-if; a
    bnb-4bit one no int4 beside its nf4)."""
    if precision == stored_precision(facts):
        return False
    return weights_bytes(facts, precision) < 0.9 * facts.weights_bytes


def build_report(
    facts: ModelFacts,
    options: RunOptions,
    transfer: Transfer = Transfer(),
    *,
    search_limits: bool = True,
    serving: bool = True,
) -> Report:
    """Every scenario's estimate, its fit on each GPU and what the engine serves there. `search_limits=False`
    skips the search for the largest batch and context (~10 ms of CPU per model), `serving=False` the
    serving answers and tokens/s bounds: a scan row shows them only when asked."""
    require_transformer(facts)
    engine = resolve_engine(facts, options.engine)
    estimates = tuple(estimate(facts, scenario) for scenario in scenarios(facts, options))
    vllm = VllmSettings(options.gpu_memory_utilization, options.vllm_version, options.seq_len)
    rows = []
    for gpu in options.held_against():
        row = gpu_row(facts, estimates, gpu, search_limits)
        if serving:
            limits = Limits(row.limits_of, row.max_batch_size, row.max_seq_len)
            offload = row.offload or (None,) * len(estimates)
            row = replace(
                row,
                serving=engine_serving(facts, estimates, gpu, engine, limits, offload, vllm),
                speeds=scenario_speeds(facts, estimates, row.fits, gpu),
            )
        rows.append(row)
    return Report(facts, estimates, tuple(rows), transfer, warnings(facts, options), engine)


def warnings(facts: ModelFacts, options: RunOptions) -> tuple[str, ...]:
    """What was asked beyond what the model states it supports (estimated as asked all the same)."""
    context = facts.architecture.max_position_embeddings
    if options.seq_len and context and options.seq_len > context:
        return (
            f"--seq-len {options.seq_len:,} is beyond the {context:,} tokens {facts.model_id} was trained "
            "for (max_position_embeddings): estimated as asked, but the model may not work there",
        )
    return ()


def require_transformer(facts: ModelFacts) -> None:
    """Pipelines without a transformer config (diffusers) get their weights named, then a clear refusal."""
    arch = facts.architecture
    if arch.hidden_size or arch.num_layers or not facts.pipeline_class:
        return
    raise MalformedConfig(
        f"{facts.model_id} is a {facts.pipeline_class} pipeline: "
        f"its weights take {facts.weights_bytes:,} bytes "
        f"({facts.parameters.total:,} parameters), but hubvram sizes activations of transformer models only",
        model=facts.model_id,
    )


def gpu_row(
    facts: ModelFacts, estimates: tuple[Estimate, ...], gpu: Gpu, search_limits: bool = True
) -> GpuRow:
    fits = tuple(e.fit(gpu) for e in estimates)
    offload = tuple(partial_offload(facts, e, gpu.memory_bytes) for e in estimates) if facts.llamacpp else ()
    # The largest batch and context of the first scenario (in the table's order) that fits on one card:
    # on a card too small for bf16, the int4 what-if's limits rather than none.
    index = next((i for i, f in enumerate(fits) if f.fits), None)
    if index is None or not search_limits:
        return GpuRow(gpu, fits, offload=offload)
    first = estimates[index].options

    def with_batch(batch: int) -> int:
        return estimate(facts, replace(first, batch_size=batch)).total

    def with_context(tokens: int) -> int:
        return estimate(facts, replace(first, seq_len=tokens)).total

    context_limit = facts.architecture.max_position_embeddings or MAX_CONTEXT_SEARCHED
    max_batch = largest_fitting(with_batch, gpu.memory_bytes, hi=MAX_BATCH_SEARCHED)
    # a decoder's prompt holds at least one token beside the generated ones; an encoder-decoder generates
    # into its own decoder, beside the source
    lowest_context = 1 if is_seq2seq_modelled(facts.architecture) else first.new_tokens + 1
    highest = max(lowest_context, min(context_limit, MAX_CONTEXT_SEARCHED))
    max_context = largest_fitting(with_context, gpu.memory_bytes, lo=lowest_context, hi=highest)
    return GpuRow(
        gpu,
        fits,
        max_batch,
        max_context,
        offload,
        limits_of=index,
        batch_capped=max_batch == MAX_BATCH_SEARCHED,
        context_capped=max_context == highest and highest == MAX_CONTEXT_SEARCHED,
    )
