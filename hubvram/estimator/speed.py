"""Tokens/s bounds on one GPU: decode (memory-bandwidth bound) and prefill (compute bound).

Peak x efficiency, from the catalog's vendor peaks (``Gpu.bandwidth_bytes_per_s``, ``fp16_dense_flops``,
``fp8_dense_flops``) and the formulas of notes/THROUGHPUT.md. These are upper bounds for one engine step:
scheduling gaps, sampling, tensor-parallel all-reduce and queueing come on top. A GPU without known
figures (a ``--gpu-memory`` card) gets None, never a made-up number.

Decode step over B sequences of c tokens of context (per GPU, tensor parallelism splitting weights and
KV heads):

    bytes = weights read (all but the input embedding; MoE: shared parts + the experts B tokens touch)
            + B x KV read at c (sliding-window layers at most the window)
    time  = max(bytes / (bandwidth x eff_decode), flops / (peak_flops x eff_prefill))

Prefill of one n-token prompt:

    flops = 2 x active parameters (no embeddings, no lm_head) x n + causal attention + 2 x hidden x vocab once
    time  = max(flops / (peak_flops x eff_prefill), weights read once / (bandwidth x eff_decode))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..dtypes import FLOAT_BYTES
from ..model.facts import Architecture, ModelFacts
from ..model.families import is_encoder_only, layer_kinds
from .device import Device
from .moe import ExpertSplit, expert_split, expert_split_at, input_embedding_bytes
from .vllm_kv import kv_head_size, kv_heads_per_gpu
from .weights import stored_compute_dtype

# Fraction of peak bandwidth a compiled / CUDA-graph engine reaches in batch-1 decode: 0.63-0.72 measured
# (gpt-fast Llama-2-7B bf16 on A100 0.685, MI250X 0.63; MLC-LLM on RTX 4090 ~0.68; llama.cpp Metal
# matmuls 0.72): notes/THROUGHPUT.md, "Proposed defaults". Eager PyTorch runs far lower (0.27 on H100,
# arXiv 2605.30571).
DECODE_EFFICIENCY = 0.70
DECODE_EFFICIENCY_SOURCE = (
    "0.70 of peak memory bandwidth: compiled/CUDA-graph engines measure 0.63-0.72 (gpt-fast A100 0.685, "
    "MLC-LLM RTX 4090 ~0.68, llama.cpp Metal 0.72; notes/THROUGHPUT.md)"
)
# Fraction of peak dense FLOP/s (MFU) a prefill reaches: the low end of llm-analysis's 0.5-0.7 guidance for
# inference (cli99/llm-analysis README) and gpu_poor's effective 0.85 / 1.8 = 0.47: notes/THROUGHPUT.md.
PREFILL_EFFICIENCY = 0.50
PREFILL_EFFICIENCY_SOURCE = (
    "0.50 of peak dense FLOP/s: low end of llm-analysis's 0.5-0.7 for inference, gpu_poor's effective "
    "0.47 (notes/THROUGHPUT.md)"
)
FP8_LABELS = frozenset({"F8_E4M3", "F8_E5M2"})


@dataclass(frozen=True)
class SpeedOptions:
    batch_size: int = 1  # sequences decoded together
    context_tokens: int = 2048  # tokens of context each decoding sequence attends to
    prompt_tokens: int = 2048  # prefill: one prompt of this many tokens
    tensor_parallel: int = 1
    kv_cache_dtype: str | None = None  # fp32/fp16/bf16/fp8; None = the model's float dtype
    dtype: str | None = None  # weights re-quantized to this (fp8/int8/int4/nf4/...); None = as stored
    decode_efficiency: float = DECODE_EFFICIENCY
    prefill_efficiency: float = PREFILL_EFFICIENCY

    def __post_init__(self) -> None:
        for name in ("batch_size", "context_tokens", "prompt_tokens", "tensor_parallel"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        for name in ("decode_efficiency", "prefill_efficiency"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")


@dataclass(frozen=True)
class DecodeBound:
    """One decode step of ``batch_size`` sequences on one GPU."""

    batch_size: int
    context_tokens: int
    weight_bytes_read: int  # per step, per GPU
    kv_bytes_read: int  # per step, per GPU (all sequences)
    flops: float  # per step, per GPU
    memory_seconds: float  # bytes / (bandwidth x efficiency)
    compute_seconds: float  # flops / (peak x prefill efficiency)
    efficiency: float

    @property
    def bytes_per_step(self) -> int:
        return self.weight_bytes_read + self.kv_bytes_read

    @property
    def step_seconds(self) -> float:
        return max(self.memory_seconds, self.compute_seconds)

    @property
    def tokens_per_s(self) -> float:
        """Per sequence: one token per step."""
        return 1.0 / self.step_seconds

    @property
    def aggregate_tokens_per_s(self) -> float:
        return self.batch_size / self.step_seconds

    @property
    def bound(self) -> str:
        return "memory bandwidth" if self.memory_seconds >= self.compute_seconds else "compute"


@dataclass(frozen=True)
class PrefillBound:
    """One prompt of ``prompt_tokens`` tokens on one GPU."""

    prompt_tokens: int
    flops: float  # per GPU
    bytes_read: int  # weights read once (every expert a long prompt touches), per GPU
    peak_flops: int
    precision: str  # "fp16" (fp16/bf16 tensor peak) or "fp8"
    compute_seconds: float
    memory_seconds: float
    efficiency: float

    @property
    def seconds(self) -> float:
        """Time to the first token, at best."""
        return max(self.compute_seconds, self.memory_seconds)

    @property
    def tokens_per_s(self) -> float:
        return self.prompt_tokens / self.seconds

    @property
    def bound(self) -> str:
        return "compute" if self.compute_seconds >= self.memory_seconds else "memory bandwidth"


@dataclass(frozen=True)
class Speed:
    gpu: str
    decode: DecodeBound | None  # None: the GPU's bandwidth is unknown
    prefill: PrefillBound | None  # None: its FLOP/s or bandwidth is unknown
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The report's per-GPU ``speed`` object."""
        d, p = self.decode, self.prefill
        return {
            "decode_tokens_per_s": None if d is None else round(d.tokens_per_s, 1),
            "decode_aggregate_tokens_per_s": None if d is None else round(d.aggregate_tokens_per_s, 1),
            "decode_bound": None if d is None else d.bound,
            "batch_size": None if d is None else d.batch_size,
            "context_tokens": None if d is None else d.context_tokens,
            "prefill_tokens_per_s": None if p is None else round(p.tokens_per_s, 1),
            "prefill_bound": None if p is None else p.bound,
            "prompt_tokens": None if p is None else p.prompt_tokens,
            "efficiency": {
                "decode": None if d is None else d.efficiency,
                "prefill": None if p is None else p.efficiency,
                "decode_source": DECODE_EFFICIENCY_SOURCE,
                "prefill_source": PREFILL_EFFICIENCY_SOURCE,
            },
            "notes": list(self.notes),
        }


def kv_bytes_read(arch: Architecture, context: int, kv_bytes: float, tp: int = 1) -> int:
    """KV bytes one sequence's decode step reads per GPU at ``context`` tokens: K and V of every cached token
    of every layer (MLA: the latent), sliding-window layers at most their window."""
    layers = arch.num_layers or 0
    kv_factor = 1 if arch.kv_lora_rank else 2
    per_token_layer = kv_factor * kv_heads_per_gpu(arch, tp) * kv_head_size(arch) * kv_bytes
    total = 0.0
    for kind in layer_kinds(arch, layers):
        window = arch.sliding_window if kind == "sliding_attention" else None
        total += per_token_layer * (min(context, window) if window else context)
    return int(total)


def decode_bound(facts: ModelFacts, gpu: Device, options: SpeedOptions | None = None) -> DecodeBound | None:
    """Decode step time and tokens/s on ``gpu``; None when its bandwidth is unknown or there is no decode."""
    options = options or SpeedOptions()
    if not gpu.bandwidth_bytes_per_s or is_encoder_only(facts.architecture):
        return None
    arch = facts.architecture
    tp, batch, context = options.tensor_parallel, options.batch_size, options.context_tokens
    split = expert_split_at(facts, options.dtype)
    embed = input_embedding_bytes(facts, options.dtype)
    weights = (split.shared_bytes - embed + split.routed_bytes_read(batch)) / tp
    kv = batch * kv_bytes_read(arch, context, _kv_dtype_bytes(facts, options), tp)
    flops = (
        batch * (2 * _matmul_parameters(facts, split, lm_head=True) + _attention_flops(arch, context)) / tp
    )
    peak, _ = _peak_flops(facts, gpu, options.dtype)
    return DecodeBound(
        batch_size=batch,
        context_tokens=context,
        weight_bytes_read=int(weights),
        kv_bytes_read=kv,
        flops=flops,
        memory_seconds=(int(weights) + kv) / (gpu.bandwidth_bytes_per_s * options.decode_efficiency),
        compute_seconds=flops / (peak * options.prefill_efficiency) if peak else 0.0,
        efficiency=options.decode_efficiency,
    )


def prefill_bound(facts: ModelFacts, gpu: Device, options: SpeedOptions | None = None) -> PrefillBound | None:
    """Prefill time and tokens/s of one prompt; None when the GPU's FLOP/s or bandwidth is unknown."""
    options = options or SpeedOptions()
    peak, precision = _peak_flops(facts, gpu, options.dtype)
    if not peak or not gpu.bandwidth_bytes_per_s:
        return None
    arch = facts.architecture
    n, tp = options.prompt_tokens, options.tensor_parallel
    split = expert_split(facts)
    lm_head = 0 if is_encoder_only(arch) else 2 * (arch.hidden_size or 0) * (arch.vocab_size or 0)
    # 2 FLOPs per multiply-add per weight per token; lm_head only for the last position (vLLM samples once)
    flops = (
        2 * _matmul_parameters(facts, split, lm_head=False) * n + _prompt_attention_flops(arch, n) + lm_head
    )
    flops /= tp
    at = expert_split_at(facts, options.dtype)
    read = int((at.shared_bytes - input_embedding_bytes(facts, options.dtype) + at.routed_bytes_read(n)) / tp)
    return PrefillBound(
        prompt_tokens=n,
        flops=flops,
        bytes_read=read,
        peak_flops=peak,
        precision=precision,
        compute_seconds=flops / (peak * options.prefill_efficiency),
        memory_seconds=read / (gpu.bandwidth_bytes_per_s * options.decode_efficiency),
        efficiency=options.prefill_efficiency,
    )


def tokens_per_second(facts: ModelFacts, gpu: Device, options: SpeedOptions | None = None) -> Speed:
    """Decode and prefill bounds of ``facts`` on ``gpu``, with what is unknown said in notes."""
    options = options or SpeedOptions()
    notes: list[str] = []
    if not gpu.bandwidth_bytes_per_s or not gpu.fp16_dense_flops:
        notes.append(f"{gpu.name}: bandwidth / FLOP/s unknown, no tokens/s bound")
    if is_encoder_only(facts.architecture):
        notes.append("encoder-only model: no decode, prefill is its one forward")
    split = expert_split(facts)
    if split.experts:
        notes.append(
            f"MoE: {split.active_params / 1e9:.1f}B of {split.total_params / 1e9:.1f}B parameters active per "
            f"token; a step of {options.batch_size} reads the experts its tokens touch (uniform routing)"
        )
    if options.tensor_parallel > 1:
        notes.append("tensor parallel: per-GPU bound, all-reduce time between GPUs not included")
    _, precision = _peak_flops(facts, gpu, options.dtype)
    if precision == "fp8":
        notes.append("FP8 weights on a GPU with FP8 units: prefill against its FP8 peak")
    return Speed(
        gpu.name, decode_bound(facts, gpu, options), prefill_bound(facts, gpu, options), tuple(notes)
    )


def _peak_flops(facts: ModelFacts, gpu: Device, dtype: str | None = None) -> tuple[int, str]:
    """FP8 peak for FP8 (W8A8) weights on FP8 hardware; else the FP16/BF16 peak (weight-only quantized
    weights are dequantized to 16-bit for the matmul)."""
    counts = facts.parameters.by_dtype
    stored = max(counts, key=lambda k: counts[k]) if counts else ""
    fp8 = dtype == "fp8" or (dtype is None and stored in FP8_LABELS)
    if fp8 and gpu.fp8_dense_flops:
        return gpu.fp8_dense_flops, "fp8"
    return gpu.fp16_dense_flops or 0, "fp16"


def _matmul_parameters(facts: ModelFacts, split: ExpertSplit, *, lm_head: bool) -> int:
    """Active parameters a token multiplies by: no input embedding (a lookup); lm_head when asked."""
    arch = facts.architecture
    table = (arch.vocab_size or 0) * (arch.hidden_size or 0)
    tables = 1 if arch.tie_word_embeddings else 2  # embedding (+ an untied lm_head)
    without = max(split.active_params - table * tables, 0)
    return without + (table if lm_head else 0)


def _head_dims(arch: Architecture) -> tuple[int, int]:
    """(query-key, value) head sizes: MLA attends over qk_nope + qk_rope and v_head_dim (DeepSeek-V2)."""
    if arch.kv_lora_rank and arch.qk_nope_head_dim:
        return arch.qk_nope_head_dim + (arch.qk_rope_head_dim or 0), arch.v_head_dim or arch.qk_nope_head_dim
    d = arch.attention_head_dim or 0
    return d, d


def _attention_flops(arch: Architecture, context: int) -> float:
    """One new token attending to ``context`` cached tokens: QK^T and PV, 2 FLOPs per multiply-add."""
    heads = arch.num_attention_heads or 0
    dqk, dv = _head_dims(arch)
    total = 0
    for kind in layer_kinds(arch, arch.num_layers or 0):
        window = arch.sliding_window if kind == "sliding_attention" else None
        total += min(context, window) if window else context
    return 2.0 * heads * (dqk + dv) * total


def _prompt_attention_flops(arch: Architecture, n: int) -> float:
    """Causal attention of an n-token prompt: query i attends to min(i, window) keys, so
    2 x heads x (d_qk + d_v) x sum_i min(i, w) per layer (= 2 n^2 heads d for a plain causal layer,
    notes/THROUGHPUT.md); an encoder attends to all n."""
    heads = arch.num_attention_heads or 0
    dqk, dv = _head_dims(arch)
    if is_encoder_only(arch):
        return 2.0 * heads * (dqk + dv) * n * n * (arch.num_layers or 0)
    total = 0
    for kind in layer_kinds(arch, arch.num_layers or 0):
        w = arch.sliding_window if kind == "sliding_attention" else None
        if w and n > w:
            total += w * (w + 1) // 2 + (n - w) * w
        else:
            total += n * (n + 1) // 2
    return 2.0 * heads * (dqk + dv) * total


def _kv_dtype_bytes(facts: ModelFacts, options: SpeedOptions) -> float:
    if options.kv_cache_dtype:
        return FLOAT_BYTES[options.kv_cache_dtype]
    return FLOAT_BYTES[stored_compute_dtype(facts)]
