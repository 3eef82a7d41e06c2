"""hubvram.estimator.llamacpp: hand-worked numbers, then values measured on a real llama.cpp.

Needs neither llama.cpp nor gguf: every model here is a literal LlamaCppModel.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hubvram.estimator.llamacpp import (
    GiB,
    LlamaCppModel,
    LlamaCppOptions,
    MiB,
    context_shape,
    estimate,
    gpu_layer_set,
    layers_that_fit,
    row_size,
    server_defaults,
    swa_pattern,
)

# ---------------------------------------------------------------------------------------------------
# Llama-2-7B Q4_K_M, tensor by tensor
#
# 32 layers, n_embd 4096, 32 heads (no GQA), head 128, FFN 11008, vocabulary 32,000, context 4096.
# Q4_K is 144 bytes per 256 weights, Q6_K 210 per 256. Q4_K_M (llama-quant.cpp) makes attn_v and
# ffn_down Q6_K in the layers where use_more_bits(i, 32) holds (i < 4, i >= 28, or (i - 4) % 3 == 2:
# 16 layers), Q4_K elsewhere; every other matrix is Q4_K, output.weight Q6_K, norms f32.

SQ = 4096 * 4096  # attn_q/k/v/output elements
FF = 4096 * 11008  # ffn_gate/up/down elements


def q4k(n: int) -> int:
    return n * 144 // 256


def q6k(n: int) -> int:
    return n * 210 // 256


MORE_BITS = (0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31)
# q, k, o Q4_K 28,311,552 + v Q6_K 13,762,560 + gate, up Q4_K 50,724,864 + down Q6_K 36,986,880
# + norms 32,768 = 129,818,624
LAYER_MORE = 3 * q4k(SQ) + q6k(SQ) + 2 * q4k(FF) + q6k(FF) + 2 * 4096 * 4
# the same with v 9,437,184 and down 25,362,432 in Q4_K: 113,868,800
LAYER_PLAIN = 4 * q4k(SQ) + 3 * q4k(FF) + 2 * 4096 * 4

LLAMA2_7B_Q4KM = LlamaCppModel(
    n_layer=32,
    n_embd=4096,
    n_head=32,
    n_head_kv=32,
    head_dim_k=128,
    head_dim_v=128,
    n_vocab=32000,
    n_ctx_train=4096,
    n_ff=11008,
    layer_weight_bytes=tuple(LAYER_MORE if i in MORE_BITS else LAYER_PLAIN for i in range(32)),
    token_embd_bytes=q4k(32000 * 4096),  # 73,728,000
    output_bytes=q6k(32000 * 4096),  # 107,520,000
    output_norm_bytes=4096 * 4,
    layer_max_tensor_bytes=tuple(q6k(FF) if i in MORE_BITS else q4k(FF) for i in range(32)),
)
CTX4096 = LlamaCppOptions(n_ctx=4096)
U = 4096 * 512 * 4  # one residual-sized slot: n_embd x ubatch x f32 = 8 MiB


def test_llama2_7b_q4km_tensor_bytes():
    assert LAYER_MORE == 129_818_624
    assert LAYER_PLAIN == 113_868_800
    m = LLAMA2_7B_Q4KM
    layers = sum(m.layer_weight_bytes)
    assert layers == 16 * 129_818_624 + 16 * 113_868_800 == 3_898_998_784
    assert layers + m.token_embd_bytes + m.output_bytes + m.output_norm_bytes == 4_080_263_168


def test_llama2_7b_kv_cache_is_2_gib_at_4096():
    est = estimate(LLAMA2_7B_Q4KM, CTX4096)
    # K = V = 32 layers x 4096 cells x 4096 (32 heads x 128) x 2 bytes = 1 GiB each
    assert est.kv_k_bytes == est.kv_v_bytes == GiB
    assert est.gpu.kv_cache == 2 * GiB
    assert est.host.kv_cache == 0


def test_llama2_7b_compute_buffer_flash_attention():
    terms = estimate(LLAMA2_7B_Q4KM, CTX4096).compute_terms
    # inputs: f16 mask 4096 x 512 x 2 = 4,194,304; k_idxs, v_idxs 512 x 8 each; tokens, positions
    # 512 x 4 each; out_ids 512 x 4  -> 4,208,640
    assert terms.inputs == 4_194_304 + 4096 + 4096 + 4096 + 2048 == 4_208_640
    # attention: residual 8 MiB + q and the result (128 + 128) x 32 heads x 512 x 4 = 16 MiB
    assert terms.attention == U + 256 * 32 * 512 * 4 == 25_165_824
    # FFN: residual + up, gate and swiglu 3 x 11008 x 512 x 4 = 67,633,152
    assert terms.ffn == U + 3 * 11008 * 512 * 4 == 76_021_760
    # output: final norm 8 MiB + logits 32000 x 512 x 4 = 65,536,000, + out_ids 2,048
    assert terms.output == U + 65_536_000 + 2048 == 73_926_656
    # peak = inputs + FFN + 3 slots (ggml-alloc fragmentation) = 105,396,224 (100.5 MiB)
    assert terms.peak == 4_208_640 + 76_021_760 + 3 * U == 105_396_224


def test_llama2_7b_compute_buffer_without_flash_attention():
    est = estimate(LLAMA2_7B_Q4KM, replace(CTX4096, flash_attn="off"))
    terms = est.compute_terms
    # f32 mask 8 MiB, v_idxs for the transposed V: 512 x 4096 x 8 = 16 MiB
    assert terms.inputs == 8 * MiB + 4096 + 16 * MiB + 4096 + 2048 == 25_176_064
    # kq f32 4096 x 512 x 32 heads x 4 = 256 MiB, kqv 128 x 512 x 32 x 4 = 8 MiB
    assert terms.attention == U + 256 * MiB + 8 * MiB == 285_212_672
    assert terms.peak == 25_176_064 + 285_212_672 + 3 * U == 335_554_560  # 320.01 MiB
    assert est.gpu.compute == terms.peak
    # the host compute buffer keeps the inputs and the ubatch embeddings (get_rows runs on the CPU)
    assert est.host.compute == 25_176_064 + U


def test_llama2_7b_full_offload_totals():
    est = estimate(LLAMA2_7B_Q4KM, CTX4096)
    assert est.n_gpu_layers == 33 and est.output_on_gpu and est.gpu_layers == tuple(range(32))
    assert est.gpu.weights == 3_898_998_784 + 107_520_000 + 16_384  # layers + output layer
    assert est.host.weights == 73_728_000  # token_embd stays on the CPU
    assert est.host.output == 32000 * 4  # logits for one sequence
    assert est.host.compute == 4_208_640 + U
    assert est.gpu.total == 4_006_535_168 + 2 * GiB + 105_396_224 == 6_259_415_040  # 5.83 GiB


def test_layers_that_fit_8_gib_and_6_gib():
    m = LLAMA2_7B_Q4KM
    # 8 GiB: everything (5.83 GiB), with or without llama.cpp's 1 GiB fit margin
    assert layers_that_fit(m, 8 * GiB, CTX4096)[0] == 33
    assert layers_that_fit(m, 8 * GiB, CTX4096, margin=GiB)[0] == 33
    # 6 GiB, no margin: 5.83 GiB still fits
    assert layers_that_fit(m, 6 * GiB, CTX4096)[0] == 33
    # 6 GiB with the 1 GiB margin: 5 GiB for the GPU. With -ngl k the GPU holds the output layer
    # (107,536,384), the last k-1 layers at weights + 64 MiB KV each (196,927,488 for a Q6_K layer,
    # 180,977,664 for a Q4_K one) and a compute buffer that now copies a host layer's largest weight
    # (ffn_down Q6_K, 36,986,880) into its FFN stage: 4,208,640 + 76,021,760 + 36,986,880 + 3 x 8 MiB
    # = 142,383,104. Layers 31..5 (27 layers, 11 of them Q6_K) add up to 5,077,794,816, so the total
    # is 5,327,714,304 <= 5,368,709,120; adding layer 4 would make it 5,508,692,608.
    ngl, est = layers_that_fit(m, 6 * GiB, CTX4096, margin=GiB)
    assert ngl == 28
    assert est.gpu_layers == tuple(range(5, 32))
    assert est.compute_terms.peak == 142_383_104
    assert est.gpu.total == 107_536_384 + 5_077_794_816 + 142_383_104 == 5_327_714_304
    # what stays in system RAM: token_embd and layers 0-4 (0-3 Q6_K-mixed, 4 plain), their KV
    assert est.host.weights == 73_728_000 + 4 * LAYER_MORE + LAYER_PLAIN
    assert est.host.kv_cache == 5 * 64 * MiB
    # 4 GiB: layers 11..31
    assert layers_that_fit(m, 4 * GiB, CTX4096)[0] == 22


def test_ngl_counts_the_output_layer_first():
    m = LLAMA2_7B_Q4KM
    assert gpu_layer_set(m, 1) == ((), True)  # -ngl 1: only the output layer
    assert gpu_layer_set(m, 2) == ((31,), True)
    assert gpu_layer_set(m, 33) == (tuple(range(32)), True)
    assert gpu_layer_set(m, 0) == ((), False)
    assert estimate(m, replace(CTX4096, n_gpu_layers=99)).n_gpu_layers == 33
    one = estimate(m, replace(CTX4096, n_gpu_layers=1))
    assert one.gpu.weights == 107_536_384 and one.gpu.kv_cache == 0
    # -ngl 0 on a GPU build: the prompt graph still runs on the GPU (op offload, ubatch >= 32) and
    # copies the output matrix in for the logits: 73,926,656 + 107,520,000 + 1 slot
    zero = estimate(m, replace(CTX4096, n_gpu_layers=0))
    assert zero.gpu.weights == 0 and zero.gpu.compute == 73_926_656 + 107_520_000 + U
    no_offload = estimate(m, replace(CTX4096, n_gpu_layers=0, op_offload=False))
    assert no_offload.gpu.total == 0 and no_offload.host.compute == 105_396_224


def test_tied_embeddings_are_duplicated_on_the_gpu():
    tied = replace(LLAMA2_7B_Q4KM, output_bytes=0)
    est = estimate(tied, CTX4096)
    assert est.gpu.weights == 3_898_998_784 + 73_728_000 + 16_384  # token_embd again, as the output
    assert est.host.weights == 73_728_000
    cpu = estimate(tied, replace(CTX4096, backend="cpu"))
    assert cpu.host.weights == 3_898_998_784 + 73_728_000 + 16_384  # one mmap'd copy


def test_cpu_backend_puts_everything_in_host_memory():
    est = estimate(LLAMA2_7B_Q4KM, replace(CTX4096, backend="cpu"))
    assert est.gpu.total == 0
    assert est.host.weights == 4_080_263_168
    assert est.host.kv_cache == 2 * GiB
    assert est.host.compute == 105_396_224


def test_context_shape():
    m = LLAMA2_7B_Q4KM
    assert context_shape(m, LlamaCppOptions()).n_ctx == 4096  # n_ctx 0 = the training context
    assert context_shape(m, LlamaCppOptions(n_ctx=1000)).n_ctx == 1024  # padded to 256
    s = context_shape(m, LlamaCppOptions(n_ctx=8192, n_seq=4))
    assert (s.n_ctx, s.n_ctx_seq, s.n_stream) == (8192, 2048, 4)
    s = context_shape(m, LlamaCppOptions(n_ctx=5000, n_seq=3))  # 5120 / 3 -> 1706 -> 1792 per stream
    assert (s.n_ctx, s.n_ctx_seq) == (5376, 1792)
    s = context_shape(m, server_defaults(n_ctx=8192))
    assert (s.n_ctx, s.n_ctx_seq, s.n_stream, s.n_tokens_reserve) == (8192, 8192, 1, 512)
    s = context_shape(m, LlamaCppOptions(n_ctx=256))
    assert (s.n_batch, s.n_ubatch, s.n_tokens_reserve) == (256, 256, 256)


def test_output_buffer_per_sequence():
    assert estimate(LLAMA2_7B_Q4KM, CTX4096).host.output == 128_000
    assert estimate(LLAMA2_7B_Q4KM, server_defaults(n_ctx=4096)).host.output == 4 * 128_000
    assert estimate(LLAMA2_7B_Q4KM, replace(CTX4096, embeddings=True)).host.output == 128_000 + 4096 * 4


def test_q8_0_cache():
    est = estimate(LLAMA2_7B_Q4KM, replace(CTX4096, type_k="q8_0", type_v="q8_0"))
    # a 4096-wide row of q8_0 is 128 blocks x 34 bytes = 4352: 34/64 of f16
    assert row_size("q8_0", 4096) == 4352
    assert est.kv_k_bytes + est.kv_v_bytes == 2 * 32 * 4096 * 4352 == 1_140_850_688
    k_only = estimate(LLAMA2_7B_Q4KM, replace(CTX4096, type_k="q8_0", flash_attn="off"))
    assert k_only.kv_k_bytes == 32 * 4096 * 4352 and k_only.kv_v_bytes == GiB
    with pytest.raises(ValueError, match="flash attention"):
        estimate(LLAMA2_7B_Q4KM, replace(CTX4096, type_v="q8_0", flash_attn="off"))
    with pytest.raises(ValueError, match="whole number"):
        row_size("q4_0", 100)


# Gemma-3-12B-like: 48 layers, n_embd 3840, 16 heads, 8 KV heads, head 256, window 1024, pattern 6
GEMMA3_12B = LlamaCppModel(
    n_layer=48,
    n_embd=3840,
    n_head=16,
    n_head_kv=8,
    head_dim_k=256,
    head_dim_v=256,
    n_vocab=262_144,
    n_ctx_train=131_072,
    n_ff=15_360,
    layer_weight_bytes=(100 * MiB,) * 48,
    token_embd_bytes=262_144 * 3840 * 2,
    output_bytes=0,
    n_swa=1024,
    swa_layers=swa_pattern(48, 6),
)


def test_swa_cache():
    assert sum(GEMMA3_12B.swa_layers) == 40
    est = estimate(GEMMA3_12B, LlamaCppOptions(n_ctx=32768))
    assert est.shape.kv_size_swa == 1536  # pad(min(32768, 1024 + 512), 256)
    per_cell = 8 * 256 * 2 * 2  # K and V, f16
    assert est.kv_k_bytes + est.kv_v_bytes == 8 * 32768 * per_cell + 40 * 1536 * per_cell == 2_650_800_128
    full = estimate(GEMMA3_12B, LlamaCppOptions(n_ctx=32768, swa_full=True))
    assert full.kv_k_bytes + full.kv_v_bytes == 48 * 32768 * per_cell == 12 * GiB
    # llama-server: 4 slots, unified cache -> the window is held for every slot
    srv = estimate(GEMMA3_12B, server_defaults(n_ctx=32768))
    assert srv.shape.kv_size_swa == 4608  # pad(1024 * 4 + 512, 256)
    # 4 slots, one stream each: 8192 cells per stream, 1536 for the sliding layers, times 4 streams
    split = estimate(GEMMA3_12B, LlamaCppOptions(n_ctx=32768, n_seq=4))
    assert (split.shape.n_ctx_seq, split.shape.kv_size_swa) == (8192, 1536)
    assert split.kv_k_bytes + split.kv_v_bytes == 4 * (8 * 8192 + 40 * 1536) * per_cell


def test_mla_stores_k_only_and_needs_equal_types():
    # DeepSeek-V3 as llama.cpp sees it: 61 layers, head_count_kv 1, key_length 576 (512 + 64)
    ds = LlamaCppModel(
        n_layer=61,
        n_embd=7168,
        n_head=128,
        n_head_kv=1,
        head_dim_k=576,
        head_dim_v=512,
        n_vocab=129_280,
        n_ctx_train=163_840,
        n_ff=18_432,
        layer_weight_bytes=(1,) * 61,
        token_embd_bytes=1,
        output_bytes=1,
        mla=True,
        n_expert=256,
        n_expert_used=8,
        n_ff_exp=2048,
        n_ff_shexp=2048,
        n_layer_dense_lead=3,
    )
    est = estimate(ds, LlamaCppOptions(n_ctx=32768))
    assert est.kv_k_bytes == 61 * 32768 * 576 * 2 == 2_302_672_896
    assert est.kv_v_bytes == 0
    with pytest.raises(ValueError, match="same K and V"):
        estimate(ds, LlamaCppOptions(n_ctx=32768, type_k="q8_0"))
    # a GGUF that carries the MTP (NextN) block as layer 61: no KV and no weights for it by default
    mtp = replace(ds, n_layer=62, n_layer_nextn=1, layer_weight_bytes=(1,) * 61 + (10**9,))
    est = estimate(mtp, LlamaCppOptions(n_ctx=32768))
    assert est.kv_k_bytes == 61 * 32768 * 576 * 2
    assert est.gpu.weights == 61 + 1
    assert estimate(mtp, LlamaCppOptions(n_ctx=32768, load_mtp=True)).gpu.weights == 61 + 1 + 10**9


def test_validation():
    with pytest.raises(ValueError, match="type_k"):
        LlamaCppOptions(type_k="q3_k")
    with pytest.raises(ValueError, match="layer_weight_bytes"):
        replace(LLAMA2_7B_Q4KM, layer_weight_bytes=(1, 2))
    with pytest.raises(ValueError, match="n_head_kv"):
        replace(LLAMA2_7B_Q4KM, n_head_kv=(8, 8))
    with pytest.raises(ValueError, match="backend"):
        layers_that_fit(LLAMA2_7B_Q4KM, GiB, LlamaCppOptions(backend="cpu"))


# ---------------------------------------------------------------------------------------------------
# Measured: llama.cpp 0c1e57098 (2026-10-01, as vendored in llama-cpp-python 0.3.36, built for the CPU
# with GGML_NATIVE=OFF), loading the small zero-weight GGUFs that benchmarks/llamacpp_check.py writes,
# and reading its log ("KV buffer size", "output buffer size", "model buffer size", the compute
# buffer from "~llama_context: CPU compute buffer size is %8.4f MiB"). See notes/LLAMACPP.md.


def _small(n_layer: int, layer: int, embd: int, out: int, biggest: int, **kw) -> LlamaCppModel:
    base = dict(
        n_layer=n_layer,
        n_embd=256,
        n_head=8,
        n_head_kv=2,
        head_dim_k=32,
        head_dim_v=32,
        n_vocab=32000,
        n_ctx_train=32768,
        n_ff=704,
        layer_weight_bytes=(layer,) * n_layer,
        token_embd_bytes=embd,
        output_bytes=out,
        output_norm_bytes=1024,
        layer_max_tensor_bytes=(biggest,) * n_layer,
    )
    base.update(kw)
    return LlamaCppModel(**base)


SMALL = {
    "llama-f16": _small(4, 1_411_072, 16_384_000, 16_384_000, 360_448),
    "llama-q8-tied": _small(4, 750_592, 8_704_000, 0, 191_488),
    "gemma3-swa": _small(
        6, 1_905_152, 16_384_000, 0, 524_288, n_head=4, n_head_kv=1, head_dim_k=64, head_dim_v=64,
        n_ff=1024, n_swa=512, swa_layers=swa_pattern(6, 6),
    ),
    "llama-moe": _small(4, 6_629_376, 16_384_000, 16_384_000, 2_097_152, n_ff=0, n_expert=8,
                        n_expert_used=2, n_ff_exp=512),
    "llama-v2k": _small(4, 2_492_416, 1_024_000, 1_024_000, 720_896, n_vocab=2000, n_ff=1408),
    "llama-deep": _small(24, 2_492_416, 1_024_000, 1_024_000, 720_896, n_vocab=2000, n_ff=1408),
    "llama-moe-v2k": _small(4, 6_629_376, 1_024_000, 1_024_000, 2_097_152, n_vocab=2000, n_ff=0,
                            n_expert=8, n_expert_used=2, n_ff_exp=512),
    "deepseek2-mla": LlamaCppModel(
        n_layer=3, n_embd=256, n_head=4, n_head_kv=1, head_dim_k=96, head_dim_v=64, n_vocab=2000,
        n_ctx_train=32768, n_ff=512, layer_weight_bytes=(1_067_776, 1_268_480, 1_268_480),
        token_embd_bytes=1_024_000, output_bytes=1_024_000, output_norm_bytes=1024, mla=True,
        n_expert=4, n_expert_used=2, n_ff_exp=128, n_ff_shexp=128, n_layer_dense_lead=1,
    ),
}  # fmt: skip

# (model, options, measured MiB: KV, output, weights, compute). Compute is exact (4 decimals) on the
# llama graphs; the rest differ by what the last column allows (ggml-alloc placement the model's
# 3-slot allowance does not capture: see notes/LLAMACPP.md).
MEASURED = [
    ("llama-f16", dict(n_ctx=512, flash_attn="off"), 0.50, 0.12, 36.63, 63.5020, 0),
    ("llama-f16", dict(n_ctx=512, flash_attn="on"), 0.50, 0.12, 36.63, 63.5020, 0),
    ("llama-f16", dict(n_ctx=4096, flash_attn="off"), 4.00, 0.12, 36.63, 74.7598, 0),
    ("llama-f16", dict(n_ctx=4096, flash_attn="on"), 4.00, 0.12, 36.63, 63.5020, 0),
    ("llama-f16", dict(n_ctx=32768, flash_attn="off"), 32.00, 0.12, 36.63, 578.7598, 0),
    ("llama-f16", dict(n_ctx=32768, flash_attn="on"), 32.00, 0.12, 36.63, 63.5020, 0),
    ("llama-f16", dict(n_ctx=4096, flash_attn="on", type_k="q8_0", type_v="q8_0"),
     2.12, 0.12, 36.63, 63.5020, 0),
    ("llama-f16", dict(n_ctx=4096, flash_attn="off", type_k="q8_0"), 3.06, 0.12, 36.63, 74.7598, 0),
    ("llama-f16", dict(n_ctx=4096, flash_attn="on", n_ubatch=128), 4.00, 0.12, 36.63, 15.8755, 0),
    ("llama-f16", dict(n_ctx=4096, flash_attn="off", n_ubatch=2048), 4.00, 0.12, 36.63, 299.0391, 0),
    ("llama-f16", dict(n_ctx=1000, flash_attn="off"), 1.00, 0.12, 36.63, 64.0020, 0.51),
    ("llama-f16", dict(n_ctx=8192, flash_attn="on", n_seq=4), 8.00, 0.49, 36.63, 63.5020, 0),
    ("llama-f16", dict(n_ctx=8192, flash_attn="off", n_seq=4, kv_unified=True),
     8.00, 0.49, 36.63, 146.7598, 0),
    ("llama-q8-tied", dict(n_ctx=4096, flash_attn="on"), 4.00, 0.12, 11.17, 63.5020, 0),
    ("gemma3-swa", dict(n_ctx=4096, flash_attn="on"), 2.25, 0.12, 26.53, 63.5020, 0),
    ("gemma3-swa", dict(n_ctx=32768, flash_attn="off"), 9.25, 0.12, 26.53, 323.0137, 2.01),
    ("gemma3-swa", dict(n_ctx=32768, flash_attn="on", swa_full=True), 48.00, 0.12, 26.53, 72.0215, 0),
    ("llama-moe", dict(n_ctx=4096, flash_attn="on"), 4.00, 0.12, 56.54, 63.5020, 0),
    ("llama-moe", dict(n_ctx=4096, flash_attn="off"), 4.00, 0.12, 56.54, 74.7598, 0),
    ("llama-v2k", dict(n_ctx=4096, flash_attn="on"), 4.00, 0.01, 11.46, 14.2637, 0),
    ("llama-v2k", dict(n_ctx=4096, flash_attn="off"), 4.00, 0.01, 11.46, 74.7598, 0),
    ("llama-v2k", dict(n_ctx=512, flash_attn="off"), 0.50, 0.01, 11.46, 11.7598, 0),
    ("llama-v2k", dict(n_ctx=8192, flash_attn="off", n_seq=4), 8.00, 0.03, 11.46, 38.7598, 0),
    ("llama-v2k", dict(n_ctx=0, flash_attn="on"), 32.00, 0.01, 11.46, 42.2637, 0),
    ("llama-v2k", dict(n_ctx=4096, flash_attn="auto"), 4.00, 0.01, 11.46, 14.2637, 0),  # resolved: on
    ("llama-moe-v2k", dict(n_ctx=4096, flash_attn="on"), 4.00, 0.01, 27.24, 12.0137, 0),
    ("llama-moe-v2k", dict(n_ctx=1024, flash_attn="off"), 1.00, 0.01, 27.24, 20.7598, 0),
    ("deepseek2-mla", dict(n_ctx=4096, flash_attn="on"), 2.25, 0.01, 5.39, 8.7598, 0.26),
    ("deepseek2-mla", dict(n_ctx=4096, flash_attn="off"), 2.25, 0.01, 5.39, 43.7793, 1.28),
    ("deepseek2-mla", dict(n_ctx=32768, flash_attn="on", type_k="q8_0", type_v="q8_0"),
     9.56, 0.01, 5.39, 36.7598, 0.26),
    ("llama-deep", dict(n_ctx=4096, flash_attn="off"), 24.00, 0.01, 59.00, 74.7598, 0),
    ("llama-deep", dict(n_ctx=4096, flash_attn="on"), 24.00, 0.01, 59.00, 14.2637, 0),
]  # fmt: skip


@pytest.mark.parametrize(("name", "opts", "kv", "out", "weights", "compute", "tol"), MEASURED)
def test_measured_on_llama_cpp_cpu(name, opts, kv, out, weights, compute, tol):
    est = estimate(SMALL[name], LlamaCppOptions(backend="cpu", **opts))
    assert est.gpu.total == 0
    assert round(est.host.kv_cache / MiB, 2) == kv
    assert round(est.host.output / MiB, 2) == out
    assert round(est.host.weights / MiB, 2) == weights
    # 0.0001: the printed value is rounded to 4 decimals
    assert abs(est.host.compute / MiB - compute) <= tol + 0.0001
