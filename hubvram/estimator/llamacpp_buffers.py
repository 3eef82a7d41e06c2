"""llama.cpp's buffers per layer: KV cache rows, and the compute buffer (the worst-case graph's live
intermediates, as ggml-alloc places them).

Source read: ggml-org/llama.cpp commit 0c1e57098 (2026-10-01); see estimator/llamacpp.py.
"""

from __future__ import annotations

from ..model.llamacpp_model import LlamaCppModel
from .llamacpp_options import (
    FRAG_LAYER_SLOTS,
    FRAG_OUTPUT_SLOTS,
    ComputeTerms,
    ContextShape,
    LlamaCppOptions,
    row_size,
)


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
