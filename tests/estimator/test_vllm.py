"""vLLM's sizing of one GPU, pinned on hand calculations from its formulas (notes/VLLM.md) and real logs."""

from __future__ import annotations

import math

import pytest
from reads import read

from hubvram.errors import UsageError
from hubvram.estimator.vllm import VllmOptions, vllm_fit
from hubvram.estimator.vllm_kv import kv_layout
from hubvram.estimator.vllm_profile import profile_peak
from hubvram.gpus import custom_gpu, find_gpu
from hubvram.model import Architecture, ModelFacts, ParameterCount

GiB = 2**30

# Qwen/Qwen3-8B, from its published config.json: 36 layers, hidden 4096, 32 heads, 8 KV heads, head_dim 128,
# intermediate 12288, vocab 151936, untied lm_head, max_position_embeddings 40960, bfloat16.
QWEN3_8B = Architecture(
    model_type="qwen3",
    architectures=("Qwen3ForCausalLM",),
    hidden_size=4096,
    num_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=12288,
    vocab_size=151936,
    max_position_embeddings=40960,
    hidden_act="silu",
    tie_word_embeddings=False,
    torch_dtype="bfloat16",
)
QWEN3_8B_PARAMS = 8_190_735_360  # 2 x 151936 x 4096 + 36 x 192,946,432 + 4096 (notes/VLLM.md section 8)


def qwen3_8b() -> ModelFacts:
    count = ParameterCount(by_dtype={"BF16": QWEN3_8B_PARAMS}, stored_by_dtype={"BF16": QWEN3_8B_PARAMS})
    return ModelFacts("Qwen/Qwen3-8B", None, None, count, QWEN3_8B_PARAMS * 2, QWEN3_8B)


def test_qwen3_8b_on_an_h200_by_hand():
    """notes/VLLM.md section 8, with hubvram's activation term instead of the notes' assumed 3.0 GiB."""
    total = 150_020_816_896  # catalog usable bytes of the H200 = cudaMemGetInfo total (143,071 MiB)
    requested = math.ceil(total * 0.92)  # request_memory; 0.92 = vLLM 0.33 default (0.20+)
    assert requested == 138_019_151_545
    weights = QWEN3_8B_PARAMS * 2  # bf16 as stored
    assert weights == 16_381_470_720
    # vllm serve on an H200 (139.7 GiB: >= 70 GiB, < 160 GiB, not an A100): 8192 tokens, 1024 sequences
    tokens, rows = 8192, min(8192, 1024)
    forward = tokens * (2 * 4096 + 3 * 12288) * 2  # residual + normed input + gate_up + activation, bf16
    assert forward == 738_197_504  # 0.69 GiB, the notes' "activations" line
    sampler = rows * 151936 * (2 + 3 * 4) + tokens * 4096 * 2  # bf16 logits + 3 fp32 copies + hidden states
    assert sampler == 2_245_263_360  # 2.09 GiB: the sampler is the larger term here
    non_torch = int(0.2 * GiB)  # 0.16-0.20 GiB observed (vllm#12126, #14447)
    graphs = int(0.52 * GiB)  # Qwen3-8B's observed CUDA graph estimate (LMCache#3430)
    budget = requested - weights - sampler - non_torch - graphs
    assert budget == 118_619_323_353  # 110.47 GiB ("Available KV cache memory")
    page = 2 * 16 * 8 * 128 * 2  # K and V, 16 tokens, 8 KV heads, head_dim 128, bf16
    per_block = page * 36
    assert (page, per_block) == (65_536, 2_359_296)
    blocks = budget // per_block
    assert blocks == 50_277
    per_request = math.ceil(32768 / 16)  # --max-model-len 32768
    concurrency = blocks / per_request
    kv_tokens = int(concurrency * 32768)
    assert kv_tokens == blocks * 16 == 804_432

    fit = vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(max_model_len=32768))
    assert fit.requested_bytes == requested and fit.weights_bytes == weights
    assert fit.activation_peak_bytes == sampler and fit.non_torch_bytes == non_torch
    assert fit.cudagraph_bytes == graphs and fit.kv_budget_bytes == budget
    assert (fit.max_num_batched_tokens, fit.max_num_seqs) == (8192, 1024)
    assert fit.kv_bytes_per_token_per_layer == 4096 and fit.kv_bytes_per_token == 147_456  # 144 KiB
    assert fit.num_blocks == blocks and fit.kv_cache_tokens == kv_tokens
    assert fit.max_concurrency == pytest.approx(24.55, abs=0.005)
    # the notes' worked example (X = 3.0 GiB): 803,056 tokens, 24.51x; within 0.2 %
    assert fit.kv_cache_tokens == pytest.approx(803_056, rel=0.01)
    assert fit.max_concurrency == pytest.approx(24.51, rel=0.01)
    assert fit.log_line() == (
        "GPU KV cache size: 804,432 tokens, Maximum concurrency for 32,768 tokens per request: 24.55x"
    )
    assert fit.max_model_len == 40960 and fit.fits and fit.error is None
    assert fit.serving_dict() == {
        "engine": "vllm 0.33.0",
        "kv_cache_tokens": 804_432,
        "max_concurrency": 24.55,
        "max_model_len": 40960,
    }


def test_qwen3_8b_without_max_model_len_uses_the_models_40960():
    fit = vllm_fit(qwen3_8b(), find_gpu("H200"))
    assert fit.asked_max_model_len == 40960
    assert fit.max_concurrency == pytest.approx(50_277 / 2560)  # 19.64x, 2,560 blocks per request
    assert fit.kv_cache_tokens == 804_432  # 50,277 blocks x 16 either way


def test_block_arithmetic_matches_a_real_vllm_log():
    """LMCache/LMCache#3430 (Qwen3-8B): "Available KV cache memory: 6.37 GiB", "GPU KV cache size: 46,368
    tokens", "Maximum concurrency for 16,384 tokens per request: 2.83x" = 2,898 blocks of 2,359,296 B."""
    memory = 2898 * 2_359_296  # 6.37 GiB
    fit = vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(kv_cache_memory=memory, max_model_len=16384))
    assert round(fit.kv_budget_bytes / GiB, 2) == 6.37
    assert fit.num_blocks == 2898
    assert fit.kv_cache_tokens == 46_368
    assert round(fit.max_concurrency, 2) == 2.83
    assert fit.cudagraph_bytes == 0  # --kv-cache-memory: the budget is given, nothing is subtracted


def test_vllm_0_19_defaults_to_0_9_and_does_not_count_cuda_graphs():
    fit = vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(version="0.19.1", max_model_len=32768))
    assert fit.gpu_memory_utilization == 0.9 and fit.requested_bytes == math.ceil(150_020_816_896 * 0.9)
    assert fit.cudagraph_bytes == 0
    # the notes: 49,147 blocks, 786,352 tokens, 24.00x with X ~ 2.5 GiB; here X = 2.30 GiB
    assert fit.kv_cache_tokens == pytest.approx(786_352, rel=0.01)
    assert any("1 - utilization slack" in note for note in fit.notes)


def test_does_not_fit_prints_vllms_error():
    """Qwen3-8B bf16 on an RTX 4090 at its 40,960-token context, worked by hand."""
    requested = math.ceil(25_250_627_584 * 0.92)  # RTX 4090 usable bytes x 0.92
    # < 70 GiB card, vllm serve: 2048 tokens over 256 sequences; the sampler term is the larger
    sampler = 256 * 151936 * 14 + 2048 * 4096 * 2
    budget = requested - 16_381_470_720 - sampler - int(0.2 * GiB) - int(0.52 * GiB)
    check = budget - 2_359_296  # 0.29+: the null block is kept back
    needed = math.ceil(40960 / 16) * 2_359_296  # 2,560 blocks
    estimated = check // 2_359_296 * 16  # the longest max_model_len whose blocks fit: 2,336 blocks
    assert (round(needed / GiB, 2), round(check / GiB, 2), estimated) == (5.62, 5.13, 37376)
    fit = vllm_fit(qwen3_8b(), find_gpu("RTX 4090"))
    assert not fit.fits and fit.kv_budget_bytes == budget
    assert fit.error == (
        "To serve at least one request with the model's max seq len (40960), (5.62 GiB KV cache is needed, "
        "which is larger than the available KV cache memory (5.13 GiB). Based on the available memory, the "
        "estimated maximum model length is 37376. Try increasing `gpu_memory_utilization` (which also "
        "controls CPU memory on the CPU backend) or decreasing `max_model_len` when initializing the "
        "engine. See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."
    )
    assert fit.max_model_len == 37376 and fit.kv_cache_tokens is None and fit.max_concurrency is None
    # and the same context lowered to what fits starts
    assert vllm_fit(qwen3_8b(), find_gpu("RTX 4090"), VllmOptions(max_model_len=37376)).fits


def test_older_wording_of_the_error():
    fit = vllm_fit(qwen3_8b(), find_gpu("RTX 4090"), VllmOptions(version="0.21"))
    assert fit.error.startswith("To serve at least one request with the models's max seq len (40960)")
    assert "(which also controls CPU memory" not in fit.error


def test_no_memory_left_for_the_cache():
    fit = vllm_fit(qwen3_8b(), find_gpu("RTX 3060 12GB"))  # 11.5 GiB card, 15.3 GiB of weights
    assert fit.kv_budget_bytes < 0 and fit.num_blocks == 0 and fit.max_model_len is None
    assert fit.error == (
        "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing "
        "the engine (this flag also controls CPU memory reservation on the CPU backend, despite its name). "
        "See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."
    )


def test_deepseek_v3_caches_its_mla_latent(hub):
    _, facts = read("deepseek-ai/DeepSeek-V3")
    fit = vllm_fit(facts, find_gpu("H200"), VllmOptions(tensor_parallel=8))
    # (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes (bf16 latent), one per token and layer, 61 layers
    assert fit.kv_bytes_per_token_per_layer == 1152 and fit.kv_bytes_per_token == 61 * 1152
    assert fit.layout.kv_heads_per_gpu == 1 and fit.layout.mla
    assert fit.layout.block_size == 64  # FlashMLA on Hopper forces 64
    assert fit.layout.bytes_per_block == 64 * 1152 * 61
    # weights: the stored FP8 bytes without the MTP layer (~15.4 GB, vLLM skips it), over 8 GPUs
    assert fit.weights_bytes == pytest.approx((688_574_839_360 - 15_424_227_552) / 8, rel=0.005)
    assert fit.fits and fit.max_model_len == 163840
    assert fit.num_blocks == fit.kv_budget_bytes // (64 * 1152 * 61)
    assert any("replicated on every tensor-parallel rank" in note for note in fit.notes)
    # 8 x H100 80GB hold 72.9 GiB each under 0.92, less than the 78.4 GiB of weights per GPU
    assert vllm_fit(facts, find_gpu("H100"), VllmOptions(tensor_parallel=8)).error.startswith(
        "No available memory for the cache blocks."
    )


def test_gpt_oss_sliding_window_layers_hold_only_their_window(hub):
    _, facts = read("openai/gpt-oss-20b")
    fit = vllm_fit(facts, find_gpu("H100"))
    layout = fit.layout
    # 24 layers alternating sliding (window 128) and full: two groups of 12, page 2 x 16 x 8 x 64 x 2 B
    assert [(g.kind, g.layers, g.window) for g in layout.groups] == [
        ("full_attention", 12, None),
        ("sliding_attention", 12, 128),
    ]
    assert layout.page_bytes == 32_768 and layout.bytes_per_block == 12 * 32_768
    # 0.33 vllm serve on an H100: in flight 2 x 8192; at L = 131,072 the full group needs 8,192 blocks and
    # the sliding one cdiv(min(127 + 16384, 131072), 16) + 1 = 1,033 (notes/VLLM.md: 9,225 per request)
    assert layout.in_flight_tokens == 16384
    assert layout.blocks_per_request(131072) == 8192 + 1033
    assert fit.max_concurrency == pytest.approx(fit.num_blocks / 9225)
    assert fit.kv_cache_tokens == int(fit.num_blocks / 9225 * 131072)
    # without the hybrid manager both groups allocate every token: 16,384 blocks per request
    unified = vllm_fit(facts, find_gpu("H100"), VllmOptions(hybrid_kv_cache=False))
    assert unified.layout.blocks_per_request(131072) == 8192 and unified.layout.groups[0].layers == 24
    assert unified.max_concurrency == pytest.approx(unified.num_blocks / 8192)
    assert unified.max_concurrency < fit.max_concurrency


def test_hybrid_grouping_pads_the_smaller_kind():
    """Gemma-3-style 5 sliding : 1 full over 26 layers: buckets 22 and 4, group size 4 -> 6 + 1 groups,
    2 padding layers (_get_kv_cache_groups_uniform_page_size)."""
    kinds = tuple("full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(26))
    arch = Architecture(
        hidden_size=1152, num_layers=26, num_attention_heads=4, num_key_value_heads=1, head_dim=256,
        sliding_window=512, layer_types=kinds,
    )  # fmt: skip
    layout = kv_layout(arch, dtype_bytes=2, in_flight_tokens=2048)
    assert layout.group_size == 4 and layout.padding_layers == 2
    assert sorted(g.layers for g in layout.groups if g.kind == "sliding_attention") == [3, 3, 4, 4, 4, 4]
    assert layout.bytes_per_block == 4 * layout.page_bytes


def test_tensor_parallel_beyond_the_kv_heads_replicates_them(hub):
    _, facts = read("Qwen/Qwen3-30B-A3B")  # 4 KV heads
    tp4 = vllm_fit(facts, find_gpu("H100"), VllmOptions(tensor_parallel=4))
    tp8 = vllm_fit(facts, find_gpu("H100"), VllmOptions(tensor_parallel=8))
    # max(1, 4 // tp) = 1 head per GPU either way: 2 x 1 x 128 x 2 B per token and layer, 48 layers
    assert tp4.layout.kv_heads_per_gpu == tp8.layout.kv_heads_per_gpu == 1
    assert tp4.kv_bytes_per_token == tp8.kv_bytes_per_token == 512 * 48
    assert any("num_kv_head_replicas = 2" in note for note in tp8.notes)
    assert not any("replicas" in note for note in tp4.notes)
    # weights split 8 ways, plus each rank's replicated K/V projection (2 x 2048 x 128 x 48 x 2 B x 1/2)
    assert tp8.weights_bytes == -(-61_064_245_248 // 8) + 2 * 2048 * 128 * 48 * 2 // 2
    single = vllm_fit(facts, find_gpu("H100"))
    assert single.layout.kv_heads_per_gpu == 4


def test_encoder_only_models_get_no_kv_cache(hub):
    _, facts = read("google-bert/bert-base-uncased")
    fit = vllm_fit(facts, find_gpu("L4"))
    assert fit.layout is None and fit.kv_cache_tokens is None and fit.fits
    assert "encoder-only model: vLLM serves it (pooling) without a KV cache" in fit.notes
    assert fit.weights_bytes == 110_106_428 * 2  # fp32 checkpoint served in 16-bit


def test_profile_peak_of_a_moe_model_counts_the_fused_moe_caches(hub):
    _, facts = read("Qwen/Qwen3-30B-A3B")
    peak = profile_peak(facts.architecture, 8192, 1024, 2)
    # fused_moe: 8 experts x (2 x 768 + 768 + 2048) per token, beside residual and normed input (2 x 2048)
    assert peak.forward == 8192 * (2 * 2048 + 8 * (3 * 768 + 2048)) * 2
    assert peak.sampler == 1024 * 151936 * 14 + 8192 * 2048 * 2


def test_enforce_eager_gives_graph_memory_back():
    eager = vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(enforce_eager=True))
    graphs = vllm_fit(qwen3_8b(), find_gpu("H200"))
    assert eager.cudagraph_bytes == 0
    assert eager.kv_budget_bytes - graphs.kv_budget_bytes == int(0.52 * GiB)


def test_llm_class_profiles_more_tokens_than_serve():
    llm = vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(usage="llm"))
    assert (llm.max_num_batched_tokens, llm.max_num_seqs) == (16384, 1024)
    a100 = vllm_fit(qwen3_8b(), find_gpu("A100 80GB"))
    assert (a100.max_num_batched_tokens, a100.max_num_seqs) == (
        2048,
        256,
    )  # A100 excluded from the 70 GiB tier
    b200 = vllm_fit(qwen3_8b(), find_gpu("B200"))
    assert (b200.max_num_batched_tokens, b200.max_num_seqs) == (16384, 1024)  # >= 160 GiB tier (0.28+)


def test_custom_gpu_and_fp8_kv_cache():
    fit = vllm_fit(qwen3_8b(), custom_gpu("48GiB"), VllmOptions(kv_cache_dtype="fp8"))
    assert fit.kv_bytes_per_token_per_layer == 2048  # 1 byte per value
    assert fit.fits and fit.layout.block_size == 16


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="longer than the model's 40960"):
        vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(max_model_len=65536))
    with pytest.raises(UsageError, match="0.14 and later"):
        VllmOptions(version="0.8.5")
    with pytest.raises(UsageError, match="gpu_memory_utilization"):
        VllmOptions(gpu_memory_utilization=1.2)
    with pytest.raises(UsageError, match="kv_cache_dtype"):
        VllmOptions(kv_cache_dtype="int4")


def test_to_dict_is_json_ready():
    import json

    data = vllm_fit(qwen3_8b(), find_gpu("H200")).to_dict()
    assert json.loads(json.dumps(data))["kv_groups"] == [["full_attention", 36, None]]
    assert {"engine", "kv_cache_tokens", "max_concurrency", "max_model_len", "error"} <= set(data)


def test_serving_summary_of_a_scenario(hub):
    import json

    from hubvram.estimator import EstimateOptions, serving_summary

    _, facts = read("Qwen/Qwen3-0.6B")
    summary = serving_summary(facts, find_gpu("L4"), EstimateOptions(seq_len=4096, kv_cache_dtype="fp8"))
    json.dumps(summary)
    serving, speed = summary["serving"], summary["speed"]
    assert serving["engine"] == "vllm 0.33.0" and serving["fits"] and serving["error"] is None
    assert serving["max_model_len"] == 40960 and serving["kv_cache_tokens"] > 0
    assert speed["decode_tokens_per_s"] > 0 and speed["context_tokens"] == 4096
    # a what-if int4 scenario is not what vLLM would load: no serving object, a speed bound at int4
    what_if = serving_summary(facts, find_gpu("L4"), EstimateOptions(dtype="int4"))
    assert (
        what_if["serving"] is None and what_if["speed"]["decode_tokens_per_s"] > speed["decode_tokens_per_s"]
    )
    # a --gpu-memory card: vLLM still sizes it, the speed is unknown
    custom = serving_summary(facts, custom_gpu("16GiB"), EstimateOptions())
    assert custom["serving"]["fits"] and custom["speed"]["decode_tokens_per_s"] is None


def test_dtype_casts_float_weights():
    half = vllm_fit(qwen3_8b(), find_gpu("H200"), VllmOptions(dtype="float32"))
    assert half.weights_bytes == QWEN3_8B_PARAMS * 4
    assert any("served in 4-byte weights" in note for note in half.notes)
