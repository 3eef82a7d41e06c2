"""How llama.cpp allocates memory for a GGUF model: pure arithmetic, no I/O.

Every formula names the llama.cpp file and function it comes from. Source read: ggml-org/llama.cpp
commit 0c1e57098 (2026-10-01), the copy vendored in llama-cpp-python 0.3.36. Where an older
llama.cpp behaved differently and the difference matters for memory, the comment says so.

What llama.cpp allocates, per device (``llama_model::load_tensors``, ``llama_kv_cache::llama_kv_cache``,
``llama_context::output_reserve``, ``llama_context::sched_reserve``):

- **weights** ("model buffer"): the GGUF tensors, each on the device of its layer;
- **KV cache** ("KV buffer"): per layer, K and V rows of ``kv_size`` cells, on the layer's device;
- **compute buffer**: the worst-case graph (one ubatch of ``n_ubatch`` tokens over a full KV cache),
  sized by ggml-alloc for the largest set of live intermediate tensors;
- **output buffer** (host): the logits ``n_vocab x n_outputs`` f32 that ``llama_get_logits`` reads.

The compute buffer is an estimate of ggml-alloc's peak, not a replay of it: see ``compute_buffer``.
It was checked against a real llama.cpp run on the CPU backend (``notes/LLAMACPP.md``); the CUDA
terms follow the same source but were not measured here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

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


def swa_pattern(n_layer: int, n_pattern: int, dense_first: bool = False) -> tuple[bool, ...]:
    """Which layers slide, as llama_hparams::set_swa_pattern sets them (src/llama-hparams.cpp).

    n_pattern 6 (Gemma 3) gives five sliding layers then one full layer; 0 makes every layer slide.
    The GGUF key ``<arch>.attention.sliding_window_pattern`` may instead hold an explicit bool array
    (llama_model_base::load_swa_pattern), which callers pass as ``LlamaCppModel.swa_layers`` directly.
    """
    if dense_first:
        return tuple(n_pattern == 0 or il % n_pattern != 0 for il in range(n_layer))
    return tuple(n_pattern == 0 or il % n_pattern < n_pattern - 1 for il in range(n_layer))


def _per_layer(value: int | tuple[int, ...], n_layer: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n_layer
    if len(value) != n_layer:
        raise ValueError(f"{name} has {len(value)} entries for {n_layer} layers")
    return tuple(value)


@dataclass(frozen=True)
class LlamaCppModel:
    """A GGUF model as llama.cpp sees it (after ``llama_model_base::load_hparams``).

    Weight bytes come from the GGUF tensor infos: ``layer_weight_bytes[i]`` is the sum over the
    ``blk.i.*`` tensors, the others are the non-layer tensors by name. Head sizes are the GGUF
    ``attention.key_length`` / ``value_length`` (default ``n_embd // n_head``). Per-layer fields accept
    one int for every layer or a tuple of ``n_layer`` ints (GGUF arrays, e.g. OpenELM, Gemma 3n).

    MLA (DeepSeek-V2/V3, Kimi K2, GLM-4.7-Flash ... converted with MLA): the GGUF holds
    ``key_length = kv_lora_rank + rope dims`` (576), ``value_length = kv_lora_rank`` (512),
    ``head_count_kv = 1`` and ``key_length_mla``; set ``mla=True`` and pass those values: the cache
    stores K only (``llama_kv_cache::llama_kv_cache``: ``has_v = !is_mla``).
    """

    n_layer: int  # <arch>.block_count (n_layer_all, including any MTP/NextN layers)
    n_embd: int  # <arch>.embedding_length
    n_head: int | tuple[int, ...]  # <arch>.attention.head_count
    n_head_kv: int | tuple[int, ...]  # <arch>.attention.head_count_kv
    head_dim_k: int | tuple[int, ...]  # <arch>.attention.key_length
    head_dim_v: int | tuple[int, ...]  # <arch>.attention.value_length
    n_vocab: int  # tokenizer.ggml.tokens length (or <arch>.vocab_size)
    n_ctx_train: int  # <arch>.context_length
    n_ff: int | tuple[int, ...]  # <arch>.feed_forward_length (dense FFN width; 0 for MoE-only layers)
    layer_weight_bytes: tuple[int, ...]  # bytes of blk.N.* per layer, n_layer entries
    token_embd_bytes: int  # token_embd.weight (plus position/token-type embeddings, if any)
    output_bytes: int  # output.weight; 0 when the GGUF has none (tied to token_embd)
    output_norm_bytes: int = 0  # output_norm.weight (+ .bias) and any other output-layer tensors
    other_bytes: int = 0  # tensors in no layer llama.cpp places elsewhere (rope_freqs ...): host
    n_swa: int = 0  # <arch>.attention.sliding_window (0: no sliding-window layers)
    swa_layers: tuple[bool, ...] = ()  # which layers slide; () = none; see swa_pattern()
    mla: bool = False
    n_expert: int = 0  # <arch>.expert_count
    n_expert_used: int = 0  # <arch>.expert_used_count
    n_ff_exp: int = 0  # <arch>.expert_feed_forward_length (per expert)
    n_ff_shexp: int = 0  # width of the shared-expert FFN (n_expert_shared x expert width), 0 if none
    n_layer_dense_lead: int = 0  # <arch>.leading_dense_block_count: first layers use a dense FFN
    n_layer_nextn: int = 0  # <arch>.nextn_predict_layers: MTP layers (last ones), no KV, not loaded
    ffn_gated: bool = True  # SwiGLU/GeGLU (gate and up in parallel); False: up -> activation -> down
    # largest single tensor of each layer (e.g. ffn_down, or a stacked ffn_*_exps); () = unknown, then
    # taken as half the layer. Only used for the GPU copy of a host weight under partial offload.
    layer_max_tensor_bytes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.layer_weight_bytes) != self.n_layer:
            raise ValueError(
                f"layer_weight_bytes has {len(self.layer_weight_bytes)} entries for {self.n_layer} layers"
            )
        if self.layer_max_tensor_bytes and len(self.layer_max_tensor_bytes) != self.n_layer:
            raise ValueError("layer_max_tensor_bytes needs one entry per layer")
        if self.swa_layers and len(self.swa_layers) != self.n_layer:
            raise ValueError(f"swa_layers has {len(self.swa_layers)} entries for {self.n_layer} layers")
        if any(self.swa_layers) and self.n_swa <= 0:
            raise ValueError("swa_layers marks sliding layers but n_swa is 0")
        for name in ("n_head", "n_head_kv", "head_dim_k", "head_dim_v", "n_ff"):
            _per_layer(getattr(self, name), self.n_layer, name)

    # per-layer views
    def heads(self) -> tuple[int, ...]:
        return _per_layer(self.n_head, self.n_layer, "n_head")

    def heads_kv(self) -> tuple[int, ...]:
        return _per_layer(self.n_head_kv, self.n_layer, "n_head_kv")

    def dims_k(self) -> tuple[int, ...]:
        return _per_layer(self.head_dim_k, self.n_layer, "head_dim_k")

    def dims_v(self) -> tuple[int, ...]:
        return _per_layer(self.head_dim_v, self.n_layer, "head_dim_v")

    def ffs(self) -> tuple[int, ...]:
        return _per_layer(self.n_ff, self.n_layer, "n_ff")

    def is_swa(self, il: int) -> bool:
        return bool(self.swa_layers) and self.swa_layers[il]

    @property
    def n_layer_trunk(self) -> int:
        """llama_hparams::n_layer(): n_layer_all - n_layer_nextn."""
        return self.n_layer - self.n_layer_nextn

    def has_kv(self, il: int) -> bool:
        # llama_model::create_memory: MTP layers are filtered out of the main context's cache
        # (filter il < n_layer()); heads_kv 0 marks a layer without attention (OpenELM-style arrays).
        return il < self.n_layer_trunk and self.heads_kv()[il] > 0

    def n_embd_k_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_k_gqa(il) = n_embd_head_k(il) * n_head_kv(il)."""
        return self.dims_k()[il] * self.heads_kv()[il]

    def n_embd_v_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_v_gqa(il) = n_embd_head_v(il) * n_head_kv(il)."""
        return self.dims_v()[il] * self.heads_kv()[il]

    @property
    def tied_embeddings(self) -> bool:
        return self.output_bytes == 0

    @property
    def output_layer_bytes(self) -> int:
        """Weights of the "output layer" (LLM_TENSOR_LAYER_OUTPUT: output_norm, output).

        A GGUF without output.weight gets token_embd created a second time as the output
        (``create_tensor(..., TENSOR_DUPLICATED)`` in each arch's load_arch_tensors; the loader maps a
        duplicated TOKEN_EMBD to LLM_TENSOR_OUTPUT in llama_model_loader::create_tensor), so a tied
        model holds the embedding matrix twice once the output layer is on a GPU.
        """
        out = self.token_embd_bytes if self.tied_embeddings else self.output_bytes
        return out + self.output_norm_bytes

    def largest_tensor_bytes(self, il: int, load_mtp: bool = False) -> int:
        if il >= self.n_layer_trunk and not load_mtp:
            return 0
        if self.layer_max_tensor_bytes:
            return self.layer_max_tensor_bytes[il]
        return self.layer_weight_bytes[il] // 2

    def loaded_layer_bytes(self, il: int, load_mtp: bool = False) -> int:
        # MTP tensors are created with TENSOR_SKIP unless llama_model_params.load_mtp (e.g.
        # src/models/deepseek2.cpp load_arch_tensors), so they take no memory by default.
        if il >= self.n_layer_trunk and not load_mtp:
            return 0
        return self.layer_weight_bytes[il]


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


def resolve_n_gpu_layers(model: LlamaCppModel, opts: LlamaCppOptions) -> int:
    if opts.backend == "cpu":
        return 0
    # llama_model::n_gpu_layers(): n_gpu_layers >= 0 ? n_gpu_layers : n_layer_all + 1 ("plus 1 for the
    # output layer"); -ngl all (-2) and the library default (-1) both mean every layer.
    ngl = model.n_layer + 1 if opts.n_gpu_layers == "all" else int(opts.n_gpu_layers)
    return min(ngl, model.n_layer + 1)


def gpu_layer_set(model: LlamaCppModel, ngl: int) -> tuple[tuple[int, ...], bool]:
    """Repeating layers on the GPU and whether the output layer is, for -ngl ngl.

    llama_model_base::load_tensors: ``i_gpu_start = max(n_layer_all + 1 - n_gpu_layers, 0)``; layer il
    (0 .. n_layer_all, where il == n_layer_all is the output layer) is on the GPU iff
    ``il >= i_gpu_start``. So -ngl 1 offloads only the output layer, -ngl N the output layer and the
    last N-1 repeating layers (since PR #18148, 2025-12-17; before it the output layer went to the GPU
    only when N > n_layer). The input layer (token_embd) is always on the CPU: ``dev_input = cpu_dev``
    ("there is very little benefit to offloading the input layer").
    """
    i_gpu_start = max(model.n_layer + 1 - ngl, 0)
    layers = tuple(il for il in range(model.n_layer) if il >= i_gpu_start)
    return layers, ngl >= 1


# ---------------------------------------------------------------------------------------------------
# KV cache


def kv_cells(model: LlamaCppModel, shape: ContextShape, il: int) -> int:
    """Cells per stream of layer il's cache: the SWA cache size for sliding layers, else n_ctx_seq."""
    return shape.kv_size_swa if model.is_swa(il) else shape.n_ctx_seq


def kv_layer_bytes(
    model: LlamaCppModel, opts: LlamaCppOptions, shape: ContextShape, il: int
) -> tuple[int, int]:
    """(K bytes, V bytes) of layer il (llama_kv_cache::llama_kv_cache).

    ``k = ggml_new_tensor_3d(type_k, n_embd_k_gqa, kv_size, n_stream)``, V likewise; V has
    ``n_embd_v_gqa_max()`` columns when it is transposed (no flash attention) and the V width varies by
    layer ([TAG_V_CACHE_VARIABLE]); MLA layers store no V (``has_v = !is_mla``).
    """
    if not model.has_kv(il):
        return 0, 0
    cells = kv_cells(model, shape, il) * shape.n_stream
    k = row_size(opts.type_k, model.n_embd_k_gqa(il)) * cells
    if model.mla:
        return k, 0
    if not shape.flash_attn:
        n_embd_v = max(model.n_embd_v_gqa(j) for j in range(model.n_layer) if model.has_kv(j))
    else:
        n_embd_v = model.n_embd_v_gqa(il)
    v = row_size(opts.type_v, n_embd_v) * cells
    return k, v


# ---------------------------------------------------------------------------------------------------
# compute buffer


def compute_buffer(
    model: LlamaCppModel,
    opts: LlamaCppOptions,
    shape: ContextShape,
    copied_layers: frozenset[int] = frozenset(),
    copy_output: bool = False,
) -> ComputeTerms:
    """Estimate ggml-alloc's peak for the worst-case prompt-processing graph on one device.

    ``copied_layers`` / ``copy_output``: layers (and the output layer) whose weights and KV cache are
    in host memory while the graph runs on the GPU (CUDA partial offload with op offload): their
    attention also holds a copy of the layer's K and V, their FFN a copy of its largest weight, the
    output stage a copy of the output matrix (see ``estimate``).

    llama_context::sched_reserve reserves the graph of one ubatch of ``T = min(n_ctx, n_ubatch)``
    tokens (n_seq_max sequences, T outputs) over a full KV cache (llama_kv_cache_context for
    init_full: ``n_kv = kv->get_size()``); ggml_gallocr (ggml/src/ggml-alloc.c) places each
    intermediate tensor when it is made and frees it after its last use, reusing a parent's memory
    for in-place ops (ggml_op_can_inplace: RMS_NORM, MUL, ADD, SOFT_MAX, ROPE, SCALE, UNARY ...).
    The buffer is the peak of that, so the estimate is the largest set of tensors alive at one time:

    - inputs (allocated first, alive until their last use in the last layer;
      src/llama-graph.cpp build_attn_inp_kq_mask, src/llama-kv-cache.cpp build_input_k/v_idxs):
      per KV cache (full, sliding) a mask ``n_kv x T`` (f16 with flash attention, else f32), k_idxs
      ``T`` i64 and v_idxs ``T`` i64 (``T x n_embd_v_gqa_max`` i64 when V is transposed), plus
      tokens and positions ``T`` i32;
    - attention of layer l (llm_graph_context::build_attn_mha), next to the residual ``n_embd x T``
      f32: without flash attention ``kq = mul_mat(k, q)`` f32 ``n_kv x T x n_head`` (soft_max runs in
      place) and ``kqv`` f32 ``head_dim_v x T x n_head``; with flash attention Q and the result,
      ``(head_dim_k + head_dim_v) x n_head x T`` f32;
    - FFN (build_ffn): the residual plus up, gate and the GLU output, ``3 x n_ff x T`` f32 (ungated:
      up and down, ``n_ff + n_embd``); MoE (build_moe_ffn) ``3 x n_ff_exp x n_expert_used x T``, with
      the normed input kept for the shared expert;
    - output: the final norm ``n_embd x n_out`` and the logits ``n_vocab x n_out`` f32 (n_out =
      min(T, n_outputs_max), so T for a prompt ubatch: e.g. 250.5 MiB for a 128,256-token vocabulary
      at ubatch 512); the masks are freed by then.

    Fragmentation: ggml-alloc places a tensor best-fit in a freed hole, or else at the end of the
    last free block, behind whatever is still live up there, so the buffer exceeds the live sum.
    The estimate adds ``FRAG_LAYER_SLOTS`` residual-sized slots (``n_embd x T`` f32) to the layer
    stage and ``FRAG_OUTPUT_SLOTS`` to the output stage: exact for the llama graph measured, within
    a few slots for the others (notes/LLAMACPP.md).

    Not modelled: architecture extras (QK-norm, post-norms and soft-capping run in
    place; M-RoPE positions are 4 x T; attention sinks, ALiBi, DeepSeek's lightning indexer, Mamba
    and RWKV states are not covered), the CPU backend's per-op work buffer (converting activations to
    the weight's dot type; allocated at compute time outside this buffer), and the CUDA memory pool
    (cuBLAS workspace, f16 copies of activations for matmuls without flash attention) that sits
    outside the CUDA compute buffer too.
    """
    T = shape.n_tokens_reserve
    n_out = shape.n_outputs_reserve
    E = model.n_embd
    fa = shape.flash_attn
    f32 = 4
    mask_elt = 2 if fa else 4  # build_attn_inp_kq_mask: flash attention requires an f16 mask

    has_swa = any(model.swa_layers)
    kv_layers = [il for il in range(model.n_layer) if model.has_kv(il)]
    n_embd_v_max = max((model.n_embd_v_gqa(il) for il in kv_layers), default=0)
    caches = [shape.n_ctx_seq * shape.n_stream]  # n_kv (per stream) x streams: the mask covers T rows
    if has_swa:
        caches.append(shape.kv_size_swa * shape.n_stream)
    inputs = 0
    for n_kv_total in caches:
        # mask: ggml_new_tensor_4d(type, n_kv, n_tokens/n_stream, 1, n_stream) -> n_kv x T elements
        inputs += n_kv_total // shape.n_stream * T * mask_elt
        inputs += T * 8  # k_idxs: ggml_new_tensor_1d(GGML_TYPE_I64, n_tokens)
        if model.mla:
            pass  # no V cache, no v_idxs
        elif fa:
            inputs += T * 8  # v_idxs: I64 n_tokens
        else:
            inputs += T * n_embd_v_max * 8  # v_idxs for a transposed V: I64 n_tokens*n_embd_v_gqa_max
    inputs += T * 4 * 2  # inp_tokens (I32) and inp_pos (I32)
    inputs += n_out * 4  # out_ids (I32 n_outputs), kept until the last layer's get_rows

    embd = E * T * f32  # build_inp_embd: get_rows(tok_embd, inp_tokens) -> f32 [n_embd, T]

    heads, dk, dv, ffs = model.heads(), model.dims_k(), model.dims_v(), model.ffs()
    copy_attn = copy_ffn = 0
    attention = 0
    for il in kv_layers:
        if il in copied_layers:
            # ggml_backend_sched_split_graph: the K/V views read by kq (or flash_attn_ext) live in a
            # host buffer, so the split that runs them on the GPU gets a copy of each as an input
            k, v = kv_layer_bytes(model, opts, shape, il)
            copy_attn = k + v
        else:
            copy_attn = 0
        n_kv = kv_cells(model, shape, il)  # per stream; kq is [n_kv, T/ns, n_head, ns]
        H = heads[il]
        if fa:
            # q (f32, [head_dim_k, n_head, T]) and flash_attn_ext's f32 result [head_dim_v, n_head, T]
            work = (dk[il] + dv[il]) * H * T * f32
        else:
            # kq = ggml_mul_mat(k, q): f32 [n_kv, T, n_head];
            # kqv = ggml_mul_mat(v, kq): f32 [head_dim_v, T, n_head]
            work = n_kv * T * H * f32 + dv[il] * T * H * f32
        attention = max(attention, E * T * f32 + work + copy_attn)

    ffn = 0
    for il in range(model.n_layer_trunk):
        # one offloaded weight at a time: split_graph starts a new split per host weight "so that the
        # memory of the previously offloaded weights can be reused"
        copy_ffn = model.largest_tensor_bytes(il, opts.load_mtp) if il in copied_layers else 0
        moe = model.n_expert > 0 and il >= model.n_layer_dense_lead
        if moe:
            F = model.n_ff_exp * model.n_expert_used
            # ffn_inp, then up, gate and swiglu, each [n_ff_exp, n_expert_used, T] (the router's
            # [n_expert, T] logits are freed by then); a shared expert keeps the normed input alive
            # meanwhile and then runs beside the routed experts' output
            shared = E * T * f32 if model.n_ff_shexp else 0
            work = E * T * f32 + shared + 3 * F * T * f32
            if model.n_ff_shexp:
                work = max(work, 3 * E * T * f32 + 3 * model.n_ff_shexp * T * f32)
        else:
            F = ffs[il]
            if model.ffn_gated:
                work = E * T * f32 + 3 * F * T * f32  # ffn_inp + up + gate + swiglu/geglu
            else:
                work = E * T * f32 + F * T * f32 + E * T * f32  # ffn_inp + act(up) (in place) + down
        ffn = max(ffn, work + copy_ffn)

    # result_norm [n_embd, n_out] and result_output = mul_mat(output, cur): f32 [n_vocab, n_out]
    # (+ out_ids, I32 [n_outputs], which stays below them)
    output = E * n_out * f32 + model.n_vocab * n_out * f32 + n_out * 4
    copy_out = 0
    if copy_output:
        copy_out = model.token_embd_bytes if model.tied_embeddings else model.output_bytes
        output += copy_out
    # ggml-alloc fragmentation: a tensor that fits no freed hole goes at the end of the last free block,
    # i.e. after whatever residual-sized tensors are still live up there. Measured on the llama graph
    # (notes/LLAMACPP.md) the buffer is exactly the live sum plus 3 residual-sized slots (n_embd x T f32)
    # in the layers and 1 at the output; other graphs measured land within -4/+3 slots of that.
    slot = E * T * f32
    peak = max(
        inputs + max(attention, ffn, embd) + FRAG_LAYER_SLOTS * slot, output + FRAG_OUTPUT_SLOTS * slot
    )
    copies = max(
        copy_out, max((model.largest_tensor_bytes(il, opts.load_mtp) for il in copied_layers), default=0)
    )
    return ComputeTerms(
        inputs=inputs,
        embd=embd,
        attention=attention,
        ffn=ffn,
        output=output,
        peak=peak,
        partial_offload_extra=copies if (copied_layers or copy_output) else 0,
    )


def host_inputs_bytes(terms: ComputeTerms) -> int:
    """What a GPU build keeps in its host compute buffer (CUDA_Host): the graph inputs set on the CPU
    and the token embeddings (get_rows of token_embd runs on the CPU, where the input layer is)."""
    return terms.inputs + terms.embd


# ---------------------------------------------------------------------------------------------------
# output buffer


def output_buffer(model: LlamaCppModel, opts: LlamaCppOptions) -> int:
    """llama_context::output_reserve(n_seq_max) at context creation (src/llama-context.cpp).

    ``n_outputs_max = max(n_outputs, n_seq_max)``; logits ``n_vocab x n_outputs_max`` f32, plus
    ``n_embd x n_outputs_max`` f32 with embeddings on. It lives in host memory (the output device's
    host buffer type, e.g. CUDA_Host). It grows when a batch asks for more outputs (llama_decode calls
    output_reserve(n_outputs_all)): all-logits runs (perplexity) need n_vocab x n_batch x 4 bytes.
    """
    n = opts.n_seq
    size = model.n_vocab * n * 4
    if opts.embeddings:
        size += model.n_embd * n * 4
    return size


# ---------------------------------------------------------------------------------------------------
# the estimate


def estimate(model: LlamaCppModel, opts: LlamaCppOptions | None = None) -> LlamaCppEstimate:
    opts = opts or LlamaCppOptions()
    shape = context_shape(model, opts)
    notes: list[str] = []
    if not shape.flash_attn and opts.type_v in QUANTIZED_CACHE_TYPES:
        # llama_context::llama_context: "quantized V cache was requested, but this requires Flash Attention"
        raise ValueError(f"a {opts.type_v} V cache needs flash attention (llama.cpp refuses to start)")
    if model.mla and opts.type_k != opts.type_v:
        # llama_init_from_model: "model does not support different K (%s) and V (%s) cache types"
        raise ValueError("an MLA model needs the same K and V cache types (llama.cpp refuses to start)")
    if not opts.offload_kqv and opts.backend == "cuda":
        # build_attn_mha: "all nodes between the KV store and the attention output are run on the CPU"
        notes.append("-nkvo: attention runs on the CPU; its working set is still counted on the GPU here")
    if opts.flash_attn == "auto":
        notes.append("flash attention 'auto' taken as on (it is, when the backend supports the head size)")

    ngl = resolve_n_gpu_layers(model, opts)
    gpu_layers, output_on_gpu = gpu_layer_set(model, ngl)
    on_gpu = set(gpu_layers)

    # weights: llama_model_base::load_tensors / llama_model_loader::create_tensor
    w_gpu = sum(model.loaded_layer_bytes(il, opts.load_mtp) for il in gpu_layers)
    w_host = sum(
        model.loaded_layer_bytes(il, opts.load_mtp) for il in range(model.n_layer) if il not in on_gpu
    )
    w_host += model.token_embd_bytes + model.other_bytes  # input layer: always the CPU
    if output_on_gpu:
        w_gpu += model.output_layer_bytes
    elif not model.tied_embeddings:
        w_host += model.output_layer_bytes
    else:
        # tied and on the CPU: the duplicate points into the same mmap'd token_embd bytes
        w_host += model.output_norm_bytes

    # KV cache: each layer's K/V on the layer's device when offload_kqv (llama_kv_cache: offload ?
    # model.dev_layer(il) : CPU)
    kv_gpu = kv_host = k_total = v_total = 0
    for il in range(model.n_layer):
        k, v = kv_layer_bytes(model, opts, shape, il)
        k_total += k
        v_total += v
        if opts.offload_kqv and il in on_gpu:
            kv_gpu += k + v
        else:
            kv_host += k + v

    out_buf = output_buffer(model, opts)
    T = shape.n_tokens_reserve
    if opts.backend == "cpu":
        terms = compute_buffer(model, opts, shape)
        gpu = DeviceMemory()
        host = DeviceMemory(weights=w_host, kv_cache=kv_host, compute=terms.peak, output=out_buf)
    else:
        # Which device runs the prompt graph (ggml_backend_sched_backend_id_from_cur): ops go where
        # their weights are, except that a host-weight op with a batch >= 32 is offloaded to the GPU
        # when op_offload is on ("1.off"), its weight copied in. With a 512-token ubatch that moves
        # every layer's work to the GPU; without op offload, host layers compute on the CPU.
        offload_ops = opts.op_offload and T >= OP_OFFLOAD_MIN_BATCH
        host_layers = frozenset(il for il in range(model.n_layer) if il not in on_gpu)
        if ngl == 0 and not offload_ops:
            terms = compute_buffer(model, opts, shape)
            gpu = DeviceMemory(weights=w_gpu, kv_cache=kv_gpu)
            host_compute = terms.peak
        else:
            copied = host_layers if offload_ops else frozenset()
            copy_output = offload_ops and not output_on_gpu
            terms = compute_buffer(model, opts, shape, copied, copy_output)
            gpu = DeviceMemory(weights=w_gpu, kv_cache=kv_gpu, compute=terms.peak)
            host_compute = host_inputs_bytes(terms)
            if host_layers and not offload_ops:
                # host layers run on the CPU: their working set lives in the CPU compute buffer
                host_compute = max(host_compute, compute_buffer(model, opts, shape).peak)
            if copied or copy_output:
                notes.append(
                    "partial offload: the GPU compute buffer holds copies of host weights and KV "
                    "(read from ggml-backend.cpp, not measured)"
                )
        host = DeviceMemory(weights=w_host, kv_cache=kv_host, compute=host_compute, output=out_buf)
        notes.append(
            "CUDA compute terms follow the source; only the CPU backend was measured (notes/LLAMACPP.md)"
        )

    return LlamaCppEstimate(
        gpu=gpu,
        host=host,
        shape=shape,
        n_gpu_layers=ngl,
        gpu_layers=gpu_layers,
        output_on_gpu=output_on_gpu,
        kv_k_bytes=k_total,
        kv_v_bytes=v_total,
        compute_terms=terms,
        notes=tuple(notes),
    )


def layers_that_fit(
    model: LlamaCppModel,
    gpu_bytes: int,
    opts: LlamaCppOptions | None = None,
    margin: int = 0,
) -> tuple[int, LlamaCppEstimate]:
    """The largest -ngl whose GPU total fits in ``gpu_bytes - margin``, and its estimate.

    -ngl counts the output layer first (llama_model_base::load_tensors, since PR #18148): -ngl 1 is the
    output layer alone, -ngl n_layer + 1 is everything. What is not on the GPU (``estimate.host``) stays
    in system RAM. llama.cpp's own fitter (common/fit.cpp, ``--fit on``, default) aims to leave 1 GiB
    free per device (``--fit-target``, fit_params_target), i.e. ``margin=GiB``. Returns (0, estimate at
    -ngl 0) when not even the output layer fits.
    """
    opts = opts or LlamaCppOptions()
    if opts.backend != "cuda":
        raise ValueError("layers_that_fit needs backend='cuda'")
    budget = gpu_bytes - margin
    best = estimate(model, replace(opts, n_gpu_layers=0))
    best_ngl = 0
    for ngl in range(1, model.n_layer + 2):
        est = estimate(model, replace(opts, n_gpu_layers=ngl))
        if est.gpu.total <= budget:
            best, best_ngl = est, ngl
    return best_ngl, best
