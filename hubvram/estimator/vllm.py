"""How vLLM sizes one GPU: its memory budget, the KV cache it allocates, and the error it would print.

Pure arithmetic after vLLM's V1 engine (``Worker.determine_available_memory``, the KV cache planning in
``vllm/v1/core/kv_cache_utils.py``), as read from its source in notes/VLLM.md. The default behaviour is
**vLLM 0.33.0** (the newest release on PyPI when the notes were written); ``VllmOptions.version`` selects
the documented differences of 0.14-0.32. Per GPU:

    requested  = ceil(total x gpu_memory_utilization)                   # request_memory (0.14+)
    non_kv     = weights + profile-run activation peak + non-torch growth
    kv budget  = requested - non_kv - CUDA graph estimate (0.20+, not with enforce_eager)
    num_blocks = kv budget // bytes per block                           # get_kv_cache_config_from_groups

``total`` is cudaMemGetInfo's total, i.e. the catalog's ``memory_bytes``. What is on the GPU before the
worker's memory snapshot (CUDA context, NCCL, cuBLAS handles) lives in the ``1 - utilization`` slack.
The activation peak and the CUDA graph term are the uncertain part (see ``profile_peak``); for
Qwen3-8B on an H200, +-1.5 GiB of them moves the KV cache by +-1.4 % (notes/VLLM.md section 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..dtypes import FLOAT_BYTES
from ..errors import UsageError
from ..model.facts import ModelFacts
from ..model.families import is_encoder_only
from .device import Device
from .moe import expert_split
from .vllm_kv import KvLayout, capacity, kv_layout
from .vllm_messages import no_memory_message, oom_message, startup_message, too_long_message
from .vllm_profile import (
    CUDAGRAPH_BYTES,
    NON_TORCH_BYTES,
    batch_defaults,
    in_flight_tokens,
    mla_block_size,
    model_dtype_bytes,
    profile_peak,
)
from .weights import stored_compute_dtype

VLLM_VERSION = "0.33.0"  # default behaviour: vllm==0.33.0 (PyPI), read in notes/VLLM.md
OLDEST_VERSION = (0, 14)  # V1 with request_memory's ceil and the docs link in its messages
GiB = 1 << 30
DEFAULT_MAX_MODEL_LEN = 2048  # _get_and_verify_max_len: no context key in config.json -> 2048, with a warning
# --kv-cache-dtype values modelled, bytes per value: auto = the model dtype; fp8 variants 1 byte, per-tensor
# scales and no extra bytes (notes/VLLM.md section 4; per-token-head and nvfp4 modes are not modelled)
KV_CACHE_DTYPES = {"auto": None, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}


@dataclass(frozen=True)
class VllmOptions:
    """`vllm serve` settings, defaulting to vLLM 0.33.0's own defaults (notes/VLLM.md)."""

    version: str = VLLM_VERSION
    gpu_memory_utilization: float | None = None  # None: 0.92 from 0.20 on, 0.9 before (CacheConfig)
    max_model_len: int | None = None  # None: the model's context (max_position_embeddings), else 2048
    max_num_batched_tokens: int | None = None  # None: EngineArgs.get_batch_defaults by device and usage
    max_num_seqs: int | None = None  # None: same table
    usage: str = "serve"  # "serve" (vllm serve, OPENAI_API_SERVER) or "llm" (the LLM class, LLM_CLASS)
    block_size: int | None = None  # None: 16 (CacheConfig.DEFAULT_BLOCK_SIZE); MLA backends raise it
    kv_cache_dtype: str = "auto"  # auto = the model dtype; fp8 / fp8_e4m3 / fp8_e5m2 = 1 byte
    dtype: str = "auto"  # model dtype; auto: the config's, fp32 checkpoints run in 16-bit
    tensor_parallel: int = 1
    enforce_eager: bool = False  # no CUDA graphs: nothing captured, nothing estimated
    hybrid_kv_cache: bool = True  # False = --disable-hybrid-kv-cache-manager
    kv_cache_memory: int | None = None  # --kv-cache-memory: exactly this many KV bytes, utilization ignored
    activation_peak_bytes: int | None = None  # override the profile-run formula
    non_torch_bytes: int | None = None  # override NON_TORCH_BYTES
    cudagraph_bytes: int | None = None  # override the CUDA graph estimate

    def __post_init__(self) -> None:
        parse_version(self.version)
        util = self.gpu_memory_utilization
        if util is not None and not 0 < util <= 1:
            raise UsageError(f"gpu_memory_utilization {util} must be in (0, 1]")  # Field(gt=0, le=1)
        if self.usage not in ("serve", "llm"):
            raise UsageError(f"usage {self.usage!r}; accepted: serve, llm")
        if self.kv_cache_dtype not in KV_CACHE_DTYPES:
            raise UsageError(
                f"kv_cache_dtype {self.kv_cache_dtype!r}; accepted: {', '.join(KV_CACHE_DTYPES)}"
            )
        if self.dtype not in ("auto", "float16", "bfloat16", "float32"):
            raise UsageError(f"dtype {self.dtype!r}; accepted: auto, float16, bfloat16, float32")
        for name in (
            "max_model_len",
            "max_num_batched_tokens",
            "max_num_seqs",
            "block_size",
            "tensor_parallel",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                raise UsageError(f"{name} {value!r} must be a positive integer")

    @property
    def release(self) -> tuple[int, int]:
        return parse_version(self.version)

    def utilization(self) -> float:
        if self.gpu_memory_utilization is not None:
            return self.gpu_memory_utilization
        return 0.92 if self.release >= (0, 20) else 0.9  # 0.92 since 0.20.0 (vllm/config/cache.py)


def parse_version(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in str(text).split(".")[:2])
    except ValueError:
        raise UsageError(f"vLLM version {text!r}: give major.minor[.patch], e.g. 0.33.0") from None
    if (major, minor) < OLDEST_VERSION:
        raise UsageError(f"vLLM {text} is not modelled; 0.14 and later are (V1 engine)")
    return major, minor


@dataclass(frozen=True)
class VllmFit:
    """One GPU under vLLM: the budget, the KV cache it gets, and whether the engine starts."""

    gpu: str
    engine: str  # "vllm 0.33.0"
    gpu_memory_utilization: float
    total_bytes: int  # cudaMemGetInfo total (the catalog's usable bytes)
    requested_bytes: int
    weights_bytes: int  # per GPU
    activation_peak_bytes: int  # the profile run's transient torch peak
    non_torch_bytes: int
    cudagraph_bytes: int  # taken out of the KV budget (0 with enforce_eager or vLLM < 0.20)
    kv_budget_bytes: int  # "Available KV cache memory"; negative when nothing is left
    max_num_batched_tokens: int
    max_num_seqs: int
    tensor_parallel: int
    asked_max_model_len: int  # the max_model_len the engine is started with
    model_max_len: int  # the model's own context (vLLM's derived max_model_len)
    layout: KvLayout | None  # None: no KV cache (encoder-only)
    num_blocks: int = 0
    kv_cache_tokens: int | None = None  # "GPU KV cache size: N tokens"; None when the engine does not start
    max_concurrency: float | None = None  # "Maximum concurrency for L tokens per request: X.XXx"
    max_model_len: int | None = None  # longest context one request can hold here, capped at the model's
    error: str | None = None  # the ValueError vLLM raises at start-up, None when it starts
    notes: tuple[str, ...] = field(default=())

    @property
    def fits(self) -> bool:
        return self.error is None

    @property
    def non_kv_bytes(self) -> int:
        return self.weights_bytes + self.activation_peak_bytes + self.non_torch_bytes + self.cudagraph_bytes

    @property
    def kv_bytes_per_token(self) -> int | None:
        return self.layout.bytes_per_token if self.layout else None

    @property
    def kv_bytes_per_token_per_layer(self) -> int | None:
        return self.layout.bytes_per_token_per_layer if self.layout else None

    def log_line(self) -> str | None:
        """The start-up capacity line of vLLM 0.28+ (update_kv_cache_capacity), or None."""
        if self.kv_cache_tokens is None or self.max_concurrency is None:
            return None
        return (
            f"GPU KV cache size: {self.kv_cache_tokens:,} tokens, Maximum concurrency for "
            f"{self.asked_max_model_len:,} tokens per request: {self.max_concurrency:.2f}x"
        )

    def serving_dict(self) -> dict[str, Any]:
        """The report's per-GPU ``serving`` object."""
        return {
            "engine": self.engine,
            "kv_cache_tokens": self.kv_cache_tokens,
            "max_concurrency": None if self.max_concurrency is None else round(self.max_concurrency, 2),
            "max_model_len": self.max_model_len,
        }

    def to_dict(self) -> dict[str, Any]:
        layout = self.layout
        return {
            **self.serving_dict(),
            "gpu": self.gpu,
            "fits": self.fits,
            "error": self.error,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "total_bytes": self.total_bytes,
            "requested_bytes": self.requested_bytes,
            "weights_bytes": self.weights_bytes,
            "activation_peak_bytes": self.activation_peak_bytes,
            "non_torch_bytes": self.non_torch_bytes,
            "cudagraph_bytes": self.cudagraph_bytes,
            "kv_budget_bytes": self.kv_budget_bytes,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "max_num_seqs": self.max_num_seqs,
            "tensor_parallel": self.tensor_parallel,
            "asked_max_model_len": self.asked_max_model_len,
            "block_size": layout.block_size if layout else None,
            "kv_heads_per_gpu": layout.kv_heads_per_gpu if layout else None,
            "kv_bytes_per_token_per_layer": self.kv_bytes_per_token_per_layer,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "bytes_per_block": layout.bytes_per_block if layout else None,
            "kv_groups": [[g.kind, g.layers, g.window] for g in layout.groups] if layout else [],
            "num_blocks": self.num_blocks,
            "notes": list(self.notes),
        }


def model_max_len(facts: ModelFacts) -> int:
    """vLLM's derived max_model_len: the config's context (RoPE-scaled configs already hold the scaled value
    for yarn/llama3/longrope, the common ones), else 2048."""
    return facts.architecture.max_position_embeddings or DEFAULT_MAX_MODEL_LEN


def vllm_weights_bytes(facts: ModelFacts, options: VllmOptions) -> tuple[int, list[str]]:
    """Weight bytes on one GPU: as stored (quantized: the stored bytes, scales included), fp32 checkpoints in
    16-bit, MTP layers left out, split over tensor-parallel ranks (replicated KV projections added)."""
    notes: list[str] = []
    weights = facts.weights_bytes
    stored = stored_compute_dtype(facts)
    served = model_dtype_bytes(facts, options.dtype)
    if not facts.architecture.quantization and FLOAT_BYTES[stored] != served:
        # ModelConfig dtype: float weights are cast at load; "auto" serves float32 checkpoints in 16-bit
        # (_get_and_verify_dtype)
        weights = facts.parameters.total * served
        notes.append(f"{stored} checkpoint served in {served}-byte weights (vLLM dtype {options.dtype!r})")
    split = expert_split(facts)
    if split.mtp_bytes:
        weights -= (
            split.mtp_bytes
        )  # DeepSeek-V3 load_weights skips the spec-decode layer (num_nextn_predict_layers)
        notes.append(
            f"{split.mtp_bytes / GiB:.2f} GiB of multi-token-prediction weights not loaded (estimated)"
        )
    tp = options.tensor_parallel
    per_gpu = -(-weights // tp)  # column/row/vocab-parallel layers split; norms (replicated) are negligible
    arch = facts.architecture
    kv = arch.kv_heads or 0
    if tp > kv > 0 and not arch.kv_lora_rank:
        # QKVParallelLinear: each rank holds one replicated KV head's K and V projections
        hd, hidden, layers = arch.attention_head_dim or 0, arch.hidden_size or 0, arch.num_layers or 0
        bpp = facts.weights_bytes / facts.parameters.total if facts.parameters.total else 2
        per_gpu += int(2 * hidden * hd * layers * bpp * (1 - kv / tp))
    return per_gpu, notes


def vllm_fit(facts: ModelFacts, gpu: Device, options: VllmOptions | None = None) -> VllmFit:
    """Size ``facts`` on ``gpu`` (one of ``tensor_parallel`` identical ranks) as vLLM would."""
    options = options or VllmOptions()
    arch = facts.architecture
    release = options.release
    notes: list[str] = []
    tp = options.tensor_parallel
    util = options.utilization()
    total = gpu.memory_bytes
    requested = math.ceil(total * util)  # request_memory: ceil(total_memory * gpu_memory_utilization)
    model_len = model_max_len(facts)
    asked = options.max_model_len or model_len
    if asked > model_len:  # _get_and_verify_max_len refuses it unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1
        raise UsageError(f"max_model_len {asked} is longer than the model's {model_len} tokens")
    default_tokens, default_seqs = batch_defaults(gpu, release, options.usage)
    tokens = options.max_num_batched_tokens or default_tokens
    seqs = options.max_num_seqs or default_seqs
    e = model_dtype_bytes(facts, options.dtype)
    weights, weight_notes = vllm_weights_bytes(facts, options)
    notes += weight_notes
    peak = options.activation_peak_bytes
    if peak is None:
        peak = profile_peak(arch, tokens, min(tokens, seqs), e, tp).peak
    non_torch = NON_TORCH_BYTES if options.non_torch_bytes is None else options.non_torch_bytes
    graphs = cudagraph_estimate(options)
    if graphs == 0 and not options.enforce_eager and release < (0, 20):
        notes.append(
            "vLLM < 0.20 captures CUDA graphs after sizing the KV cache, in the 1 - utilization slack"
        )
    if options.kv_cache_memory is not None:
        budget = options.kv_cache_memory  # --kv-cache-memory: gpu_memory_utilization is ignored
    else:
        budget = requested - (weights + peak + non_torch) - graphs
    base = VllmFit(
        gpu=gpu.name,
        engine=f"vllm {options.version}",
        gpu_memory_utilization=util,
        total_bytes=total,
        requested_bytes=requested,
        weights_bytes=weights,
        activation_peak_bytes=peak,
        non_torch_bytes=non_torch,
        cudagraph_bytes=graphs,
        kv_budget_bytes=budget,
        max_num_batched_tokens=tokens,
        max_num_seqs=seqs,
        tensor_parallel=tp,
        asked_max_model_len=asked,
        model_max_len=model_len,
        layout=None,
    )
    if gpu.kind == "apple":
        notes.append("vLLM has no Apple GPU (Metal) backend: on a Mac it runs on the CPU")
    startup = startup_message(total, requested, util)
    if is_encoder_only(arch):
        notes.append("encoder-only model: vLLM serves it (pooling) without a KV cache")
        error = startup or (
            None if budget + graphs >= 0 else oom_message(weights + peak + non_torch, requested)
        )
        return replace(base, error=error, notes=tuple(notes))
    layout = kv_layout(
        arch,
        dtype_bytes=KV_CACHE_DTYPES[options.kv_cache_dtype] or e,
        tensor_parallel=tp,
        block_size=options.block_size or mla_block_size(arch, gpu) or 16,
        in_flight_tokens=in_flight_tokens(tokens, release),
        hybrid=options.hybrid_kv_cache,
    )
    notes += _layout_notes(facts, layout, tp)
    num_blocks = max(budget, 0) // layout.bytes_per_block
    # 0.29+: plan the checks against one block less, the null block BlockPool keeps back
    check = budget - layout.bytes_per_block if release >= (0, 29) else budget
    longest = layout.longest_request(check, model_len)
    error = startup or _kv_error(layout, check, asked, release)
    if error:
        return replace(
            base, layout=layout, num_blocks=num_blocks, max_model_len=longest or None, error=error,
            notes=tuple(notes),
        )  # fmt: skip
    concurrency, kv_tokens = capacity(layout, num_blocks, asked, by_concurrency=release >= (0, 21))
    return replace(
        base,
        layout=layout,
        num_blocks=num_blocks,
        kv_cache_tokens=kv_tokens,
        max_concurrency=concurrency,
        max_model_len=longest,
        notes=tuple(notes),
    )


def cudagraph_estimate(options: VllmOptions) -> int:
    """CUDA graph bytes taken out of the KV budget: 0.20+ estimate and subtract them by default
    (VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1); before, graphs live in the 1 - utilization slack."""
    if options.enforce_eager or options.release < (0, 20) or options.kv_cache_memory is not None:
        return 0
    return CUDAGRAPH_BYTES if options.cudagraph_bytes is None else options.cudagraph_bytes


def _kv_error(layout: KvLayout, available: int, max_model_len: int, release: tuple[int, int]) -> str | None:
    if available <= 0:
        return no_memory_message(release)
    needed = layout.bytes_per_request(max_model_len)
    if needed > available:
        estimated = layout.longest_request(
            available, max_model_len
        )  # estimate_max_model_len: [1, max_model_len]
        return too_long_message(max_model_len, needed, available, estimated, release)
    return None


def _layout_notes(facts: ModelFacts, layout: KvLayout, tp: int) -> list[str]:
    arch = facts.architecture
    notes = []
    if layout.mla:
        notes.append(
            f"MLA: each GPU caches the {layout.head_size}-wide latent per token and layer "
            "(kv_lora_rank + qk_rope_head_dim), replicated on every tensor-parallel rank"
        )
    kv = arch.kv_heads or 0
    if not layout.mla and tp > kv > 0:
        notes.append(
            f"{kv} KV heads over {tp} GPUs: each GPU holds 1 (replicated, num_kv_head_replicas = "
            f"{tp // kv}); more GPUs add no KV capacity per request"
        )
    sliding = [g for g in layout.groups if g.kind == "sliding_attention"]
    if sliding:
        held = (sliding[0].window or 1) - 1
        notes.append(
            f"{sum(g.layers for g in sliding)} sliding-window layers hold at most {held} + "
            f"{layout.in_flight_tokens:,} in-flight tokens per request (hybrid KV cache manager)"
        )
    if layout.padding_layers:
        notes.append(f"vLLM adds {layout.padding_layers} padding layer(s) to group the layer kinds evenly")
    other = sorted({k for k in arch.layer_types if k not in ("full_attention", "sliding_attention")})
    if other:
        notes.append(f"layer kinds {', '.join(other)} are not modelled: taken as full attention")
    return notes
