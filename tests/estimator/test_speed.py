"""Tokens/s bounds and MoE active parameters, worked by hand from the formulas of notes/THROUGHPUT.md."""

from __future__ import annotations

import pytest
from reads import read

from hubvram.estimator.moe import active_parameters, expected_distinct_experts, expert_split
from hubvram.estimator.speed import (
    DECODE_EFFICIENCY,
    PREFILL_EFFICIENCY,
    SpeedOptions,
    decode_bound,
    prefill_bound,
    tokens_per_second,
)
from hubvram.gpus import custom_gpu, find_gpu

LLAMA2_WEIGHTS = 13_476_831_232  # 6,738,415,616 F16 parameters x 2 (fixture headers)
LLAMA2_EMBED = 32000 * 4096 * 2  # input embedding table, fp16: a lookup, not read whole
LLAMA2_KV_PER_TOKEN = 2 * 32 * 128 * 2 * 32  # K and V x 32 heads x 128 x fp16 x 32 layers = 512 KiB


# --- active parameters ---------------------------------------------------------------------------------


def test_mixtral_8x7b_has_12_9b_active_of_46_7b(hub):
    _, facts = read("mistralai/Mixtral-8x7B-v0.1")
    split = expert_split(facts)
    expert = 3 * 4096 * 14336  # gate, up, down of one expert
    assert split.routed_params == 8 * 32 * expert  # 45,097,156,608
    assert split.total_params == 46_702_792_704
    # everything else (attention, embeddings, norms, routers) + 2 of 8 experts in each of 32 layers
    assert split.active_params == 46_702_792_704 - 8 * 32 * expert + 2 * 32 * expert == 12_879_925_248
    assert round(active_parameters(facts) / 1e9, 1) == 12.9  # Mistral AI: "12.9B active parameters"


def test_qwen3_30b_a3b_has_3_3b_active(hub):
    _, facts = read("Qwen/Qwen3-30B-A3B")
    expert = 3 * 2048 * 768
    active = 30_532_122_624 - 128 * 48 * expert + 8 * 48 * expert
    assert active_parameters(facts) == active == 3_353_032_704  # Qwen: "3.3B activated"


def test_gpt_oss_20b_and_deepseek_v3_active(hub):
    _, oss = read("openai/gpt-oss-20b")
    # experts carry biases (gate_up 2 x 2880, down 2880); OpenAI's model card: 3.6B active without the
    # input embedding (201,088 x 2880)
    assert round((active_parameters(oss) - 201_088 * 2880) / 1e9, 1) == 3.6
    _, ds = read("deepseek-ai/DeepSeek-V3")
    split = expert_split(ds)
    # 3 dense layers first (first_k_dense_replace), 58 MoE layers + 1 MTP layer stored, 8 of 256 active
    assert split.moe_layers == 58 and split.routed_params == 256 * 59 * 3 * 7168 * 2048
    assert round(split.active_params / 1e9) == 38  # DeepSeek: 37B activated (671B without the MTP layer)
    assert split.mtp_params == pytest.approx(13_464_128_568, rel=0.01)  # layer 61 in the headers
    assert split.trunk_routed_bytes == pytest.approx(654_068_416_512, rel=1e-6)  # experts of layers 3-60


def test_dense_models_are_all_active(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    assert active_parameters(facts) == 6_738_415_616
    assert expert_split(facts).shared_bytes == LLAMA2_WEIGHTS


def test_expected_distinct_experts():
    assert expected_distinct_experts(8, 2, 1) == pytest.approx(2)  # one token: its top-k
    assert expected_distinct_experts(8, 2, 2) == pytest.approx(8 * (1 - 0.75**2))  # 3.5
    assert expected_distinct_experts(128, 8, 256) == pytest.approx(128, rel=1e-6)  # a big batch: all of them


# --- decode ------------------------------------------------------------------------------------------------


def test_llama2_7b_fp16_decode_on_an_rtx_4090_by_hand(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    gpu = find_gpu("RTX 4090")
    options = SpeedOptions(batch_size=1, context_tokens=1024)
    per_token = LLAMA2_WEIGHTS - LLAMA2_EMBED + 1024 * LLAMA2_KV_PER_TOKEN  # bytes read for one token
    assert per_token == 13_751_558_144
    expected = 1_008e9 / per_token * 0.70  # Ada whitepaper 1008 GB/s x decode efficiency 0.70
    assert round(expected, 2) == 51.31
    bound = decode_bound(facts, gpu, options)
    assert bound.bytes_per_step == per_token
    assert bound.tokens_per_s == pytest.approx(expected)
    assert bound.bound == "memory bandwidth" and bound.efficiency == DECODE_EFFICIENCY
    # the same on an H100 SXM (3.35 TB/s): 170.5 tokens/s
    h100 = decode_bound(facts, find_gpu("H100"), options)
    assert h100.tokens_per_s == pytest.approx(3.35e12 / per_token * 0.70)
    assert round(h100.tokens_per_s, 1) == 170.5


@pytest.mark.parametrize(
    "model",
    ["meta-llama/Llama-2-7b-hf", "mistralai/Mixtral-8x7B-v0.1", "openai/gpt-oss-20b", "Qwen/Qwen3-0.6B"],
)
@pytest.mark.parametrize("batch", [1, 8, 256])
@pytest.mark.parametrize("efficiency", [0.7, 1.0])
def test_decode_never_beats_bandwidth_over_bytes_per_token(hub, model, batch, efficiency):
    _, facts = read(model)
    for name in ("RTX 4090", "H100", "T4", "MI300X", "Apple M3 Max 128GB"):
        gpu = find_gpu(name)
        options = SpeedOptions(batch_size=batch, context_tokens=4096, decode_efficiency=efficiency)
        bound = decode_bound(facts, gpu, options)
        per_token = bound.bytes_per_step / batch  # one token per sequence per step
        assert bound.aggregate_tokens_per_s <= gpu.bandwidth_bytes_per_s / per_token * (1 + 1e-12)
        assert bound.tokens_per_s <= gpu.bandwidth_bytes_per_s / bound.bytes_per_step * (1 + 1e-12)
        assert bound.aggregate_tokens_per_s == pytest.approx(batch * bound.tokens_per_s)


def test_moe_decode_at_batch_1_reads_only_the_active_experts(hub):
    _, facts = read("mistralai/Mixtral-8x7B-v0.1")
    bound = decode_bound(facts, find_gpu("H100"), SpeedOptions(batch_size=1, context_tokens=1))
    # (active parameters - the input embedding) x 2 bytes: the 2 routed experts of each layer, nothing else
    assert bound.weight_bytes_read == (12_879_925_248 - 32000 * 4096) * 2 == 25_497_706_496
    # a batch of 64 touches almost all 8 experts: 8 x (1 - (6/8)^64) ~ 8
    big = decode_bound(facts, find_gpu("H100"), SpeedOptions(batch_size=64, context_tokens=1))
    assert big.weight_bytes_read == pytest.approx(93_405_585_408 - 32000 * 4096 * 2, rel=1e-6)


def test_sliding_window_layers_read_at_most_their_window(hub):
    _, facts = read("openai/gpt-oss-20b")
    bound = decode_bound(facts, find_gpu("H100"), SpeedOptions(context_tokens=100_000))
    per_token_layer = 2 * 8 * 64 * 2  # K and V, 8 heads of 64, bf16
    assert bound.kv_bytes_read == 12 * per_token_layer * 100_000 + 12 * per_token_layer * 128


def test_large_batches_become_compute_bound(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    bound = decode_bound(facts, find_gpu("RTX 4090"), SpeedOptions(batch_size=4096, context_tokens=1))
    assert bound.bound == "compute"
    assert bound.tokens_per_s < find_gpu("RTX 4090").bandwidth_bytes_per_s / bound.bytes_per_step


# --- prefill ------------------------------------------------------------------------------------------------


def test_llama2_7b_prefill_of_a_long_prompt_by_hand(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    n = 4096
    matmul = 6_738_415_616 - 2 * 32000 * 4096  # no input embedding, no lm_head (added once below)
    attention = 2 * 32 * (128 + 128) * (n * (n + 1) // 2) * 32  # QK^T and PV, causal, 32 layers
    lm_head = 2 * 4096 * 32000  # logits of the last position only
    flops = 2 * matmul * n + attention + lm_head
    h100 = find_gpu("H100")
    bound = prefill_bound(facts, h100, SpeedOptions(prompt_tokens=n))
    assert bound.flops == pytest.approx(flops)
    seconds = flops / (989.4e12 * PREFILL_EFFICIENCY)  # dense BF16 peak x 0.50
    assert bound.seconds == pytest.approx(seconds) and bound.bound == "compute"
    assert bound.tokens_per_s == pytest.approx(n / seconds)
    assert round(bound.tokens_per_s) == 35_269  # 57.45 TFLOP in 0.116 s
    assert bound.precision == "fp16"


def test_short_prompts_are_bounded_by_reading_the_weights(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    bound = prefill_bound(facts, find_gpu("H100"), SpeedOptions(prompt_tokens=16))
    assert bound.bound == "memory bandwidth"
    assert bound.seconds == pytest.approx((LLAMA2_WEIGHTS - LLAMA2_EMBED) / (3.35e12 * DECODE_EFFICIENCY))


def test_fp8_weights_use_the_fp8_peak_only_where_the_card_has_fp8(hub):
    _, facts = read("deepseek-ai/DeepSeek-V3")
    options = SpeedOptions(prompt_tokens=8192, tensor_parallel=8)
    h100 = prefill_bound(facts, find_gpu("H100"), options)
    a100 = prefill_bound(facts, find_gpu("A100 80GB"), options)
    assert (h100.precision, h100.peak_flops) == ("fp8", 1_978_900_000_000_000)
    assert (a100.precision, a100.peak_flops) == ("fp16", 312_000_000_000_000)
    _, llama = read("meta-llama/Llama-2-7b-hf")
    assert prefill_bound(llama, find_gpu("H100")).precision == "fp16"  # fp16 weights on an FP8 card


def test_unknown_gpu_figures_give_none(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    result = tokens_per_second(facts, custom_gpu("24GiB"))
    assert result.decode is None and result.prefill is None
    data = result.to_dict()
    assert data["decode_tokens_per_s"] is None and data["prefill_tokens_per_s"] is None
    assert any("unknown" in note for note in result.notes)


def test_speed_to_dict_has_the_report_keys(hub):
    _, facts = read("Qwen/Qwen3-30B-A3B")
    data = tokens_per_second(facts, find_gpu("H200"), SpeedOptions(batch_size=4)).to_dict()
    assert data["decode_tokens_per_s"] > 0 and data["prefill_tokens_per_s"] > 0
    assert data["efficiency"]["decode"] == 0.70 and data["efficiency"]["prefill"] == 0.50
    assert "THROUGHPUT.md" in data["efficiency"]["decode_source"]
    assert data["decode_aggregate_tokens_per_s"] == pytest.approx(4 * data["decode_tokens_per_s"], rel=1e-3)


def test_encoder_only_models_have_no_decode(hub):
    _, facts = read("google-bert/bert-base-uncased")
    result = tokens_per_second(facts, find_gpu("L4"), SpeedOptions(prompt_tokens=512))
    assert result.decode is None and result.prefill is not None


def test_options_are_checked():
    with pytest.raises(ValueError):
        SpeedOptions(decode_efficiency=1.5)
    with pytest.raises(ValueError):
        SpeedOptions(batch_size=0)


@pytest.mark.parametrize("dtype", ["int4", "int8", "fp8", "bf16"])
@pytest.mark.parametrize("model", ["meta-llama/Llama-2-7b-hf", "mistralai/Mixtral-8x7B-v0.1"])
def test_what_if_precisions_read_the_requantized_bytes(hub, model, dtype):
    from hubvram.estimator.moe import expert_split_at
    from hubvram.estimator.weights import weights_bytes

    _, facts = read(model)
    split = expert_split_at(facts, dtype)
    # the same bytes the memory estimate holds for that precision (embeddings kept 16-bit)
    assert split.weights_bytes == pytest.approx(weights_bytes(facts, dtype), rel=1e-9)
    bound = decode_bound(facts, find_gpu("H100"), SpeedOptions(context_tokens=1, dtype=dtype))
    if model.startswith("meta-llama"):
        assert bound.weight_bytes_read == pytest.approx(
            weights_bytes(facts, dtype) - 32000 * 4096 * 2, rel=1e-9
        )
    stored = decode_bound(facts, find_gpu("H100"), SpeedOptions(context_tokens=1))
    assert (bound.tokens_per_s > stored.tokens_per_s) == (dtype != "bf16")


def test_what_if_fp8_prefills_at_the_fp8_peak(hub):
    _, facts = read("meta-llama/Llama-2-7b-hf")
    assert prefill_bound(facts, find_gpu("H100"), SpeedOptions(dtype="fp8")).precision == "fp8"
    assert prefill_bound(facts, find_gpu("H100"), SpeedOptions(dtype="int4")).precision == "fp16"
    assert prefill_bound(facts, find_gpu("A100 80GB"), SpeedOptions(dtype="fp8")).precision == "fp16"
