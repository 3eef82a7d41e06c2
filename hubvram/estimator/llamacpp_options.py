"""llama.cpp's run options and the shapes its memory is counted in (context, devices, compute terms).

Source read: ggml-org/llama.cpp commit 0c1e57098 (2026-10-01); see estimator/llamacpp.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from ..model.llamacpp_model import LlamaCppModel

LLAMACPP_COMMIT = "0c1e57098"  # ggml-org/llama.cpp, 2026-10-01
MiB = 1024 * 1024
GiB = 1024 * MiB

# ggml block size and bytes per block of the KV-cache types llama.cpp accepts for
# --cache-type-k/-v (common/arg.cpp kv_cache_types; ggml/src/ggml.c type_traits).
CACHE_TYPES: dict[str, tuple[int, int]] = {
    "f32": (1, 4),
    "f16": (1, 2),
    "bf16": (1, 2),
    "q8_0": (32, 34),
    "q4_0": (32, 18),
    "q4_1": (32, 20),
    "iq4_nl": (32, 18),
    "q5_0": (32, 22),
    "q5_1": (32, 24),
}
QUANTIZED_CACHE_TYPES = frozenset({"q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"})

FlashAttn = Literal["auto", "on", "off"]
Backend = Literal["cpu", "cuda"]

# ggml-cuda.cu ggml_backend_cuda_device_offload_op: ops with a batch of at least this many rows that
# use a weight held in host memory run on the GPU, the weight copied in (GGML_OP_OFFLOAD_MIN_BATCH).
OP_OFFLOAD_MIN_BATCH = 32

# compute_buffer's allowance for ggml-alloc fragmentation, in residual-sized slots (n_embd x T x 4 B)
FRAG_LAYER_SLOTS = 3
FRAG_OUTPUT_SLOTS = 1


def pad(x: int, n: int) -> int:
    """GGML_PAD: round x up to a multiple of n."""
    return (x + n - 1) // n * n


def row_size(type_name: str, n: int) -> int:
    """ggml_row_size(type, n): bytes of n elements of a (possibly block-quantized) type."""
    blck, size = CACHE_TYPES[type_name]
    if n % blck:
        raise ValueError(f"{n} elements are not a whole number of {type_name} blocks of {blck}")
    return n // blck * size


@dataclass(frozen=True)
class LlamaCppOptions:
    """llama.cpp run options, defaulting to the command-line tools' defaults (common/common.h).

    ``n_ctx`` 0 means the training context (``n_ctx = 0 == context the model was trained with``,
    common.h; ``llama_context::llama_context``: ``params.n_ctx == 0 ? hparams.n_ctx_train``). That
    default dates from mid-2025 (b6000s); before it, llama-cli/llama-server defaulted to 4096. Note the
    C library's own default (``llama_context_default_params``) is 512, and llama-cpp-python's
    ``Llama(n_ctx=512)`` too. With the default ``--fit on`` (common/fit.cpp) llama-cli/-server
    lower an unset n_ctx (not below 4096) and pick -ngl to leave 1 GiB free per device: this module
    computes the memory of one given configuration, ``layers_that_fit`` does the -ngl part.

    ``n_seq`` is ``-np``/``--parallel`` (n_seq_max). llama-server's default is 4 slots with a
    unified KV cache (tools/server/server.cpp: ``n_parallel < 0`` -> 4 and ``kv_unified = true``);
    llama-cli and the library use 1. See ``server_defaults()``.
    """

    n_ctx: int = 0
    n_batch: int = 2048  # -b
    n_ubatch: int = 512  # -ub
    n_seq: int = 1  # -np
    flash_attn: FlashAttn = "auto"  # -fa; "auto" is the default since 2025-09 (before: off)
    type_k: str = "f16"  # -ctk
    type_v: str = "f16"  # -ctv
    n_gpu_layers: int | Literal["all"] = "all"  # -ngl; "all" = n_layer + 1 (the output layer)
    swa_full: bool = False  # --swa-full (common default false; llama_context_default_params: true)
    kv_unified: bool = False  # -kvu
    offload_kqv: bool = True  # -nkvo turns it off: the KV cache stays in host memory
    op_offload: bool = True  # --no-op-offload turns it off
    backend: Backend = "cuda"  # "cpu": a CPU-only build, everything in host memory
    n_outputs_max: int = 0  # llama_context_params.n_outputs_max (0 = n_batch)
    embeddings: bool = False  # --embedding: the output buffer also holds n_embd floats per output
    load_mtp: bool = False

    def __post_init__(self) -> None:
        for name in ("type_k", "type_v"):
            t = getattr(self, name)
            if t not in CACHE_TYPES:
                raise ValueError(f"{name} {t!r} is not one of {', '.join(CACHE_TYPES)}")
        if self.flash_attn not in ("auto", "on", "off"):
            raise ValueError(f"flash_attn must be auto, on or off, not {self.flash_attn!r}")
        if self.backend not in ("cpu", "cuda"):
            raise ValueError(f"backend must be cpu or cuda, not {self.backend!r}")
        if self.n_seq < 1 or self.n_batch < 1 or self.n_ubatch < 1 or self.n_ctx < 0:
            raise ValueError("n_seq, n_batch and n_ubatch must be >= 1 and n_ctx >= 0")
        if self.n_gpu_layers != "all" and (not isinstance(self.n_gpu_layers, int) or self.n_gpu_layers < 0):
            raise ValueError(f"n_gpu_layers must be 'all' or an int >= 0, not {self.n_gpu_layers!r}")


def server_defaults(**overrides: object) -> LlamaCppOptions:
    """llama-server's defaults: 4 slots sharing one unified KV cache (tools/server/server.cpp)."""
    return replace(LlamaCppOptions(n_seq=4, kv_unified=True), **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DeviceMemory:
    weights: int = 0
    kv_cache: int = 0
    compute: int = 0
    output: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.compute + self.output


@dataclass(frozen=True)
class ContextShape:
    """The sizes llama.cpp derives from the options (``llama_context::llama_context``)."""

    n_ctx: int  # after padding to 256 and rounding to n_seq streams
    n_ctx_seq: int  # cells per stream (the KV cache's kv_size)
    n_stream: int  # 1 if unified, else n_seq
    n_batch: int
    n_ubatch: int
    n_tokens_reserve: int  # tokens of the worst-case ubatch (a multiple of n_seq)
    n_outputs_reserve: int  # outputs of that ubatch (its logits are in the compute buffer)
    kv_size_swa: int  # cells per stream of sliding-window layers (== n_ctx_seq if none or swa_full)
    flash_attn: bool


@dataclass(frozen=True)
class ComputeTerms:
    """The pieces of the compute-buffer estimate, in bytes (see ``compute_buffer``)."""

    inputs: int  # graph inputs alive through every layer: masks, KV indices, positions, tokens
    embd: int  # the f32 embeddings of the ubatch (get_rows of token_embd), host side
    attention: int  # largest layer's attention working set (without inputs)
    ffn: int  # largest layer's FFN working set (without inputs)
    output: int  # final norm + logits of the reserve ubatch
    peak: int  # max(inputs + max(attention, ffn) + 3 slots, output + 1 slot); slot = n_embd x T x 4
    partial_offload_extra: int = 0  # largest host weight copied into the GPU compute buffer (CUDA)


@dataclass(frozen=True)
class LlamaCppEstimate:
    gpu: DeviceMemory
    host: DeviceMemory
    shape: ContextShape
    n_gpu_layers: int  # resolved (0 .. n_layer + 1)
    gpu_layers: tuple[int, ...]  # repeating layers on the GPU
    output_on_gpu: bool
    kv_k_bytes: int  # K and V totals over both devices
    kv_v_bytes: int
    compute_terms: ComputeTerms
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return self.gpu.total + self.host.total


# ---------------------------------------------------------------------------------------------------
# context shape


def context_shape(model: LlamaCppModel, opts: LlamaCppOptions) -> ContextShape:
    # llama_context::llama_context (src/llama-context.cpp):
    n_ctx = opts.n_ctx or model.n_ctx_train  # n_ctx == 0 ? hparams.n_ctx_train : params.n_ctx
    n_ctx = pad(n_ctx, 256)  # cparams.n_ctx = GGML_PAD(cparams.n_ctx, 256)  (PR #17046, 2025-11)
    n_seq = opts.n_seq
    if opts.kv_unified:
        n_ctx_seq = n_ctx
    else:
        n_ctx_seq = pad(n_ctx // n_seq, 256)  # n_ctx_seq = GGML_PAD(n_ctx / n_seq_max, 256)
        n_ctx = n_ctx_seq * n_seq  # "n_ctx is not divisible by n_seq_max - rounding"
    n_stream = 1 if opts.kv_unified else n_seq  # llama_kv_cache: n_stream(unified ? 1 : n_seq_max)
    n_batch = min(n_ctx, opts.n_batch)  # causal attention: n_batch = min(n_ctx, n_batch)
    n_ubatch = min(n_batch, opts.n_ubatch)
    # llama_context::sched_reserve: n_tokens = min(n_ctx, n_ubatch); graph_reserve rounds it up to a
    # multiple of n_seqs (= n_seq_max)
    n_tokens = pad(min(n_ctx, n_ubatch), n_seq)
    n_outputs_max = opts.n_outputs_max or n_batch  # n_outputs_max == 0 ? n_batch
    n_outputs = min(min(n_ctx, n_ubatch), n_outputs_max)  # n_outputs_pp = min(n_tokens, n_outputs_max)
    # llama_kv_cache_iswa::llama_kv_cache_iswa: the SWA cache holds
    # GGML_PAD(min(size_base, n_swa*(unified ? n_seq_max : 1) + n_ubatch), 256) cells, or size_base
    # with swa_full. (Before 2025-11 the pad was n_pad: 256 with flash attention, 32 without.)
    if any(model.swa_layers) and not opts.swa_full:
        kv_size_swa = pad(min(n_ctx_seq, model.n_swa * (n_seq if opts.kv_unified else 1) + n_ubatch), 256)
    else:
        kv_size_swa = n_ctx_seq
    # cparams.flash_attn = flash_attn_type != DISABLED; "auto" is resolved in
    # llama_context::resolve_fused_ops by checking that every FLASH_ATTN_EXT node lands on its layer's
    # device. CPU and CUDA implement it for the usual head sizes, so auto is taken as on.
    flash = opts.flash_attn != "off"
    return ContextShape(
        n_ctx=n_ctx,
        n_ctx_seq=n_ctx_seq,
        n_stream=n_stream,
        n_batch=n_batch,
        n_ubatch=n_ubatch,
        n_tokens_reserve=n_tokens,
        n_outputs_reserve=n_outputs,
        kv_size_swa=kv_size_swa,
        flash_attn=flash,
    )


# ---------------------------------------------------------------------------------------------------
# layer placement
