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

from dataclasses import replace

from ..model.llamacpp_model import LlamaCppModel, swa_pattern
from .llamacpp_buffers import compute_buffer, host_inputs_bytes, kv_layer_bytes
from .llamacpp_options import (
    CACHE_TYPES,
    LLAMACPP_COMMIT,
    OP_OFFLOAD_MIN_BATCH,
    QUANTIZED_CACHE_TYPES,
    DeviceMemory,
    GiB,
    LlamaCppEstimate,
    LlamaCppOptions,
    MiB,
    context_shape,
    row_size,
    server_defaults,
)

__all__ = [
    "CACHE_TYPES",
    "LLAMACPP_COMMIT",
    "GiB",
    "LlamaCppEstimate",
    "LlamaCppModel",
    "LlamaCppOptions",
    "MiB",
    "context_shape",
    "estimate",
    "gpu_layer_set",
    "layers_that_fit",
    "row_size",
    "server_defaults",
    "swa_pattern",
]


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
