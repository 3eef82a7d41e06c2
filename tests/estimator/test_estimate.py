"""The estimator's formulas, pinned on numbers worked out by hand or published (vLLM, QLoRA, ZeRO papers)."""

from __future__ import annotations

import pytest

from hubvram.errors import MissingField, UsageError
from hubvram.estimator import (
    COMPONENT_KEYS,
    EstimateOptions,
    estimate,
    kv_cache_bytes,
    kv_cache_bytes_per_token,
    lora_parameters,
    optimizer_state_bytes_per_param,
    training_layer_bytes_per_token,
    weight_bytes_per_param,
)
from hubvram.estimator.result import CUBLAS_WORKSPACE_BYTES, CUDA_CONTEXT_BYTES
from hubvram.model import Architecture, ModelFacts, ParameterCount
from hubvram.model.families import is_encoder_only, is_gated_mlp, mlp_kind

# Architectures copied by hand from the published config.json files.
LLAMA2_7B = Architecture(
    model_type="llama",
    hidden_size=4096,
    num_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    intermediate_size=11008,
    vocab_size=32000,
    hidden_act="silu",
    torch_dtype="float16",
)
MISTRAL_7B = Architecture(
    model_type="mistral",
    hidden_size=4096,
    num_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=14336,
    vocab_size=32000,
    hidden_act="silu",
    torch_dtype="bfloat16",
    sliding_window=4096,
)
OPT_13B = Architecture(
    model_type="opt",
    hidden_size=5120,
    num_layers=40,
    num_attention_heads=40,
    intermediate_size=20480,
    vocab_size=50272,
    hidden_act="relu",
    torch_dtype="float16",
)
DEEPSEEK_V3 = Architecture(
    model_type="deepseek_v3",
    hidden_size=7168,
    num_layers=61,
    num_attention_heads=128,
    num_key_value_heads=128,
    intermediate_size=18432,
    vocab_size=129280,
    kv_lora_rank=512,
    qk_rope_head_dim=64,
    num_experts=256,
    num_experts_per_token=8,
    num_shared_experts=1,
    moe_intermediate_size=2048,
    torch_dtype="bfloat16",
)
GEMMA2_9B = Architecture(
    model_type="gemma2",
    hidden_size=3584,
    num_layers=42,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=256,
    intermediate_size=14336,
    vocab_size=256000,
    sliding_window=4096,
    torch_dtype="bfloat16",
    layer_types=tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(42)),
)
GPT_OSS_20B = Architecture(
    model_type="gpt_oss",
    hidden_size=2880,
    num_layers=24,
    num_attention_heads=64,
    num_key_value_heads=8,
    head_dim=64,
    intermediate_size=2880,
    vocab_size=201088,
    sliding_window=128,
    num_experts=32,
    num_experts_per_token=4,
    layer_types=tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(24)),
)
BERT_BASE = Architecture(
    model_type="bert",
    architectures=("BertForMaskedLM",),
    hidden_size=768,
    num_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    vocab_size=30522,
    hidden_act="gelu",
    torch_dtype="float32",
)

LLAMA2_PARAMS = 6_738_415_616


def facts(arch: Architecture, params: int, dtype: str = "F16", bytes_per: int = 2, model: str = "test/model"):
    count = ParameterCount(by_dtype={dtype: params}, stored_by_dtype={dtype: params})
    return ModelFacts(
        model_id=model,
        revision=None,
        sha=None,
        parameters=count,
        weights_bytes=params * bytes_per,
        architecture=arch,
    )


LLAMA2 = facts(LLAMA2_7B, LLAMA2_PARAMS, model="meta-llama/Llama-2-7b-hf")
# Qwen/Qwen3-0.6B's config.json, the fields the estimate reads
QWEN3_0_6B = Architecture(
    model_type="qwen3",
    hidden_size=1024,
    num_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    intermediate_size=3072,
    vocab_size=151936,
    tie_word_embeddings=True,
    torch_dtype="bfloat16",
    hidden_act="silu",
)


# --- KV cache ---------------------------------------------------------------------------------------------


def test_kv_cache_llama2_7b_is_half_a_mebibyte_per_token_in_fp16():
    # 2 (K and V) x 32 layers x 32 heads x 128 head_dim x 2 bytes
    assert kv_cache_bytes_per_token(LLAMA2_7B, 2) == 524_288


def test_kv_cache_mistral_7b_grouped_query_attention():
    # 2 x 32 layers x 8 KV heads x 128 x 2 bytes: a quarter of Llama-2-7B
    assert kv_cache_bytes_per_token(MISTRAL_7B, 2) == 131_072


def test_kv_cache_mistral_sliding_window_caps_the_cache_at_4096_tokens():
    assert kv_cache_bytes(MISTRAL_7B, 2, batch_size=1, tokens=4096) == 131_072 * 4096
    assert kv_cache_bytes(MISTRAL_7B, 2, batch_size=1, tokens=32768) == 131_072 * 4096
    assert kv_cache_bytes(MISTRAL_7B, 2, batch_size=3, tokens=100) == 131_072 * 100 * 3


def test_kv_cache_opt_13b_is_800_kb_per_token_as_in_the_vllm_paper():
    # 2 x 40 layers x 5120 hidden x 2 bytes = 819,200 = 800 KiB (Kwon et al. 2023, section 3)
    assert kv_cache_bytes_per_token(OPT_13B, 2) == 800 * 1024


def test_kv_cache_deepseek_v3_mla_caches_the_latent_not_the_heads():
    # 61 layers x (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes
    assert kv_cache_bytes_per_token(DEEPSEEK_V3, 2) == 61 * 576 * 2 == 70_272


def test_kv_cache_gemma2_hybrid_layers():
    per_layer = 2 * 8 * 256 * 2  # 8,192 bytes per token per layer
    assert kv_cache_bytes_per_token(GEMMA2_9B, 2) == 42 * per_layer
    # 8,192 tokens: 21 full layers hold all of them, 21 sliding layers hold the 4,096-token window
    assert kv_cache_bytes(GEMMA2_9B, 2, 1, 8192) == (21 * 8192 + 21 * 4096) * per_layer


def test_kv_cache_gemma2_without_layer_types_alternates_sliding_and_full():
    arch = Architecture(**{**GEMMA2_9B.__dict__, "layer_types": ()})
    assert kv_cache_bytes(arch, 2, 1, 8192) == kv_cache_bytes(GEMMA2_9B, 2, 1, 8192)


def test_kv_cache_gpt_oss_sliding_window_of_128():
    per_layer = 2 * 8 * 64 * 2
    assert kv_cache_bytes(GPT_OSS_20B, 2, 2, 1000) == 2 * (12 * 1000 + 12 * 128) * per_layer


def test_kv_cache_fp8_halves_bf16():
    options = EstimateOptions(seq_len=4096, kv_cache_dtype="fp8", overhead=0)
    fp8 = estimate(LLAMA2, options).resident["kv_cache"]
    fp16 = estimate(LLAMA2, EstimateOptions(seq_len=4096, overhead=0)).resident["kv_cache"]
    assert fp16 == 524_288 * 4096 and fp8 == fp16 // 2


def test_inference_llama2_7b_weights_and_kv_cache():
    est = estimate(LLAMA2, EstimateOptions(seq_len=4096, batch_size=2, overhead=0))
    assert est.components["weights"] == 13_476_831_232
    assert est.components["kv_cache"] == 2 * 4096 * 524_288
    assert est.components["gradients"] == est.components["optimizer_states"] == 0
    assert est.total == sum(est.components.values())
    assert set(COMPONENT_KEYS) <= set(est.components)


def test_inference_decode_holds_the_full_cache_plus_one_layer_copy_while_it_grows():
    est = estimate(LLAMA2, EstimateOptions(seq_len=1024, new_tokens=512, overhead=0))
    full = 1024 * 524_288
    assert est.phases["decode"]["kv_cache"] == full
    assert est.phases["decode"]["activations"] == full // 32  # torch.cat: one layer's old and new cache
    assert est.phases["prefill"]["kv_cache"] == 512 * 524_288


def test_inference_prefill_live_set_is_one_mlp_plus_four_hidden_states():
    # Llama-2-7B fp16, batch 1, 4096-token prompt: gate/act/up (3 x 11008) and 4 hidden states of 4096
    # per token, in 2 bytes, plus the last position's logits and their fp32 copy.
    est = estimate(LLAMA2, EstimateOptions(seq_len=4096, overhead=0))
    assert est.components["activations"] == 4096 * 2 * (3 * 11008 + 4 * 4096) + 32000 * (2 + 4)


def test_encoder_only_models_have_no_kv_cache():
    bert = facts(BERT_BASE, 109_514_298, dtype="F32", bytes_per=4)
    assert is_encoder_only(BERT_BASE)
    est = estimate(bert, EstimateOptions(seq_len=512, overhead=0))
    assert est.components["kv_cache"] == 0
    assert est.components["weights"] == 109_514_298 * 4


def test_tensor_parallel_splits_weights_and_kv_heads():
    one = estimate(facts(MISTRAL_7B, 7_241_732_096, "BF16"), EstimateOptions(seq_len=4096, overhead=0))
    tp16 = estimate(
        facts(MISTRAL_7B, 7_241_732_096, "BF16"),
        EstimateOptions(seq_len=4096, overhead=0, tensor_parallel=16),
    )
    assert tp16.components["weights"] == one.components["weights"] // 16
    assert (
        tp16.components["kv_cache"] == one.components["kv_cache"] // 8
    )  # 8 KV heads: replicated beyond 8 GPUs


# --- weights and precision ----------------------------------------------------------------------------


def test_weight_bytes_per_param_include_quantization_scales():
    assert weight_bytes_per_param("fp32") == 4
    assert weight_bytes_per_param("bf16") == 2
    assert weight_bytes_per_param("nf4") == 0.5 + 4 / 64  # QLoRA: fp32 absmax per block of 64
    assert weight_bytes_per_param("int4") == 0.5 + 2.5 / 128  # GPTQ: fp16 scale + 4-bit zero per 128
    assert weight_bytes_per_param("int8", in_features=4096) == 1 + 4 / 4096  # LLM.int8: fp32 scale per row
    assert weight_bytes_per_param("fp8") == 1 + 4 / (128 * 128)


def test_what_if_dtype_requantizes_all_but_the_embeddings():
    options = EstimateOptions(dtype="nf4", seq_len=1, overhead=0)
    est = estimate(LLAMA2, options)
    embeddings = 2 * 32000 * 4096  # embed_tokens + untied lm_head stay fp16
    expected = (LLAMA2_PARAMS - embeddings) * 0.5625 + embeddings * 2
    assert est.components["weights"] == int(expected)
    assert (
        estimate(LLAMA2, EstimateOptions(dtype="fp32", overhead=0)).components["weights"] == LLAMA2_PARAMS * 4
    )


def test_weights_as_stored_come_from_the_header_bytes():
    packed = ModelFacts(
        "x/gptq",
        None,
        None,
        ParameterCount(by_dtype={"I32": 6_000_000_000, "F16": 738_415_616}),
        weights_bytes=3_900_000_000,
        architecture=LLAMA2_7B,
    )
    assert estimate(packed, EstimateOptions(overhead=0)).components["weights"] == 3_900_000_000


# --- optimizers and training --------------------------------------------------------------------------


def test_optimizer_state_bytes_per_parameter():
    assert optimizer_state_bytes_per_param("adamw", 4) == 8  # exp_avg + exp_avg_sq in fp32
    assert optimizer_state_bytes_per_param("adam", 2) == 4  # pure bf16: states in bf16
    assert optimizer_state_bytes_per_param("sgd", 4) == 0
    assert optimizer_state_bytes_per_param("sgd-momentum", 4) == 4
    assert optimizer_state_bytes_per_param("adagrad", 4) == 4
    assert optimizer_state_bytes_per_param("rmsprop", 4) == 4
    assert optimizer_state_bytes_per_param("adamw-8bit", 4) == 2 * (1 + 4 / 2048)


def test_training_fp32_adamw_peak_at_optimizer_step_is_16_bytes_per_param_plus_scratch():
    est = estimate(
        facts(LLAMA2_7B, LLAMA2_PARAMS, "F32", 4), EstimateOptions(mode="training", seq_len=8, overhead=0)
    )
    step = est.phases["optimizer_step"]
    p = LLAMA2_PARAMS
    assert (step["weights"], step["gradients"], step["optimizer_states"]) == (4 * p, 4 * p, 8 * p)
    assert step["optimizer_scratch"] == 4 * p  # foreach sqrt(exp_avg_sq)
    assert est.peak_phase == "optimizer_step" and est.total == 20 * p


def test_training_sgd_keeps_no_state_and_no_scratch():
    est = estimate(LLAMA2, EstimateOptions(mode="training", seq_len=8, optimizer="sgd", overhead=0))
    assert est.resident["optimizer_states"] == 0
    assert est.phases["optimizer_step"]["optimizer_scratch"] == 0


def test_mixed_precision_keeps_fp32_master_weights_and_states():
    est = estimate(LLAMA2, EstimateOptions(mode="training", seq_len=8, mixed_precision="bf16", overhead=0))
    p = LLAMA2_PARAMS
    assert est.resident["weights"] == 4 * p
    assert est.resident["gradients"] == 4 * p
    assert est.resident["optimizer_states"] == 8 * p
    assert est.phases["forward"]["autocast_weights"] == 2 * p


def test_pure_bf16_training_keeps_everything_in_bf16():
    est = estimate(LLAMA2, EstimateOptions(mode="training", dtype="bf16", seq_len=8, overhead=0))
    p = LLAMA2_PARAMS
    assert (est.resident["weights"], est.resident["gradients"], est.resident["optimizer_states"]) == (
        2 * p,
        2 * p,
        4 * p,
    )


def test_large_activations_put_the_peak_before_gradients_exist():
    est = estimate(LLAMA2, EstimateOptions(mode="training", seq_len=4096, batch_size=8, overhead=0))
    assert est.peak_phase in ("forward", "backward")
    assert est.components["gradients"] == 0  # zero_grad(set_to_none=True) freed them
    assert est.components["activations"] > est.components["weights"]


def test_gradient_accumulation_keeps_gradients_through_the_forward():
    one = estimate(LLAMA2, EstimateOptions(mode="training", seq_len=4096, batch_size=8, overhead=0))
    acc = estimate(
        LLAMA2, EstimateOptions(mode="training", seq_len=4096, batch_size=8, grad_accumulation=4, overhead=0)
    )
    assert acc.phases["forward"]["gradients"] == 2 * LLAMA2_PARAMS
    assert acc.total == one.total + 2 * LLAMA2_PARAMS


def test_gradient_checkpointing_keeps_one_hidden_state_per_layer():
    options = dict(mode="training", seq_len=2048, batch_size=4, overhead=0)
    full = estimate(LLAMA2, EstimateOptions(**options))
    ckpt = estimate(LLAMA2, EstimateOptions(**options, gradient_checkpointing=True))
    assert ckpt.resident["activations"] < full.resident["activations"] / 3
    # what the forward saves: each layer's input (tokens x hidden x 2 bytes) plus the top of the model
    saved_layers = 32 * 4 * 2048 * 4096 * 2
    assert ckpt.phases["forward"]["activations"] > saved_layers


def test_eager_attention_adds_the_seq_by_seq_scores():
    options = dict(mode="training", seq_len=2048, batch_size=1, overhead=0)
    sdpa = estimate(LLAMA2, EstimateOptions(**options))
    eager = estimate(LLAMA2, EstimateOptions(**options, attention="eager"))
    scores = (
        32 * 1 * 32 * 2048 * 2048 * (4 + 2)
    )  # layers x batch x heads x s x s x (fp32 softmax + fp16 copy)
    logsumexp = 32 * 2048 * 32 * 4  # layers x tokens x heads x fp32: SDPA's, which eager does not keep
    assert (
        eager.phases["forward"]["activations"] - sdpa.phases["forward"]["activations"] == scores - logsumexp
    )


def test_zero_sharding_divides_states_then_gradients_then_weights():
    base = dict(mode="training", seq_len=8, overhead=0, num_gpus=8, mixed_precision="bf16")
    p = LLAMA2_PARAMS
    z1 = estimate(LLAMA2, EstimateOptions(**base, zero_stage=1)).resident
    z2 = estimate(LLAMA2, EstimateOptions(**base, zero_stage=2)).resident
    z3 = estimate(LLAMA2, EstimateOptions(**base, zero_stage=3)).resident
    assert (z1["optimizer_states"], z1["gradients"], z1["weights"]) == (p, 4 * p, 4 * p)
    assert (z2["optimizer_states"], z2["gradients"], z2["weights"]) == (p, p // 2, 4 * p)
    assert (z3["optimizer_states"], z3["gradients"], z3["weights"]) == (p, p // 2, p // 2)


def test_cpu_offload_moves_optimizer_states_off_the_gpu():
    est = estimate(LLAMA2, EstimateOptions(mode="training", seq_len=8, overhead=0, offload="cpu"))
    assert est.resident["optimizer_states"] == 0
    assert any("offloaded to cpu" in note for note in est.notes)


def test_lora_trains_adapters_only():
    # q and v of Llama-2-7B at rank 16: 32 layers x 2 x 16 x (4096 + 4096)
    assert lora_parameters(LLAMA2_7B, 16, ("q", "v")) == 8_388_608
    est = estimate(LLAMA2, EstimateOptions(mode="training", lora_rank=16, seq_len=8, overhead=0))
    assert est.resident["lora_adapters"] == 8_388_608 * 4
    assert est.resident["gradients"] == 8_388_608 * 4
    assert est.resident["optimizer_states"] == 8_388_608 * 8
    assert est.resident["weights"] == LLAMA2_PARAMS * 2


def test_qlora_base_in_nf4():
    est = estimate(
        LLAMA2,
        EstimateOptions(
            mode="training", dtype="nf4", lora_rank=64, lora_targets=("all",), seq_len=8, overhead=0
        ),
    )
    embeddings = 2 * 32000 * 4096
    assert est.resident["weights"] == int((LLAMA2_PARAMS - embeddings) * 0.5625 + embeddings * 2)
    assert est.resident["lora_adapters"] == 4 * lora_parameters(LLAMA2_7B, 64, ("all",))


def test_auto_overhead_is_context_workspace_and_slack():
    zero = estimate(LLAMA2, EstimateOptions(overhead=0))
    auto = estimate(LLAMA2, EstimateOptions())
    assert auto.components["overhead"] == int(CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES + 0.05 * zero.total)
    assert auto.total == zero.total + auto.components["overhead"]
    # Split over cards, each pays its own context and workspace and the slack of its own share.
    assert (auto.fixed_bytes, auto.slack) == (CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES, 0.05)
    assert auto.replicated_bytes == 0  # tensor-parallel inference splits weights, KV and activations
    given = estimate(LLAMA2, EstimateOptions(overhead=2**30))
    assert (given.fixed_bytes, given.slack) == (2**30, 0.0)  # --overhead replaces both


def test_training_activations_per_layer_llama2_counted_op_by_op():
    # fp16: two RMSNorms (fp32 copy 4h + normalised 2h + output 2h), SDPA's q, k, v and output (2 x 4h),
    # the fp32 logsumexp of 32 heads, SwiGLU's gate, act, up and product (4 x 2 x 11008).
    per_token = 2 * 8 * 4096 + 2 * 4 * 4096 + 4 * 32 + 4 * 2 * 11008
    assert per_token == 186_496
    assert training_layer_bytes_per_token(LLAMA2_7B, 2) == per_token


def test_training_activations_per_layer_gpt2_fp32():
    gpt2 = Architecture(
        model_type="gpt2",
        hidden_size=768,
        num_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        vocab_size=50257,
        hidden_act="gelu_new",
        tie_word_embeddings=True,
    )
    # two LayerNorms (input + output) 4 x 768 x 4; q, k, v, SDPA output and its head-merged copy 5 x 768 x 4;
    # logsumexp 12 x 4; NewGELU keeps 5 tensors of 3072; two dropout masks of one byte
    expected = 4 * 768 * 4 + 5 * 768 * 4 + 12 * 4 + 5 * 3072 * 4 + 2 * 768
    assert training_layer_bytes_per_token(gpt2, 4) == expected == 90_672


def test_eager_attention_keeps_scores_per_layer():
    eager = training_layer_bytes_per_token(LLAMA2_7B, 2, seq_len=2048, attention="eager")
    sdpa = training_layer_bytes_per_token(LLAMA2_7B, 2, seq_len=2048)
    # heads x keys x (fp32 softmax + its fp16 cast), less SDPA's fp32 logsumexp per head
    assert eager - sdpa == 32 * 2048 * (2 + 4) - 32 * 4


def test_loss_upcasts_logits_to_fp32_and_backward_holds_three_copies():
    options = EstimateOptions(mode="training", seq_len=512, batch_size=8, optimizer="sgd", overhead=0)
    est = estimate(LLAMA2, options)
    tokens = 4096
    layers = 32 * tokens * 186_496
    top = tokens * (4 + 2 + 2) * 4096  # final RMSNorm: fp32 copy, normalised, output
    assert est.phases["forward"]["activations"] == layers + top + tokens * 32000 * (2 + 4 + 4)
    assert est.phases["backward"]["activations"] == layers + top + tokens * 32000 * 12


def test_tied_embeddings_sum_two_gradients_at_the_end_of_backward():
    facts_ = facts(QWEN3_0_6B, 596_049_920, "BF16")
    est = estimate(facts_, EstimateOptions(mode="training", seq_len=8, optimizer="sgd", overhead=0))
    assert est.peak_phase == "backward"
    assert est.components["activations"] == 2 * 151936 * 1024 * 2
    assert est.components["gradients"] == 2 * 596_049_920


def test_qwen3_training_matches_the_measured_peak():
    # benchmarks/accuracy.py: Qwen3-0.6B bf16, AdamW, batch 2, seq 512 peaked at 7.512 GB (CPU profiler)
    est = estimate(
        facts(QWEN3_0_6B, 596_049_920, "BF16"),
        EstimateOptions(mode="training", batch_size=2, seq_len=512, overhead=0),
    )
    assert abs(est.total - 7_512_000_000) / 7_512_000_000 < 0.01


def test_architecture_traits():
    assert is_gated_mlp(LLAMA2_7B) and is_gated_mlp(GEMMA2_9B)
    assert not is_gated_mlp(OPT_13B) and not is_gated_mlp(BERT_BASE)
    assert not is_encoder_only(LLAMA2_7B)
    assert mlp_kind(OPT_13B) == "relu" and mlp_kind(BERT_BASE) == "gelu" and mlp_kind(LLAMA2_7B) == "gated"


def test_to_dict_has_the_stable_keys():
    data = estimate(
        LLAMA2, EstimateOptions(mode="training", dtype="bf16", batch_size=2, seq_len=256)
    ).to_dict()
    assert {"mode", "dtype", "batch_size", "seq_len", "components", "total"} <= set(data)
    assert data["mode"] == "training" and data["dtype"] == "bf16" and data["batch_size"] == 2
    assert set(COMPONENT_KEYS) <= set(data["components"])


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "accepted"),
    [
        (dict(optimizer="lion"), "sgd, sgd-momentum, adam, adamw, adagrad, rmsprop, adamw-8bit"),
        (dict(dtype="fp64"), "fp32, fp16, bf16, fp8, int8, int4, nf4"),
        (dict(batch_size=0), "a positive integer"),
        (dict(seq_len=-1), "a positive integer"),
        (dict(mode="serve"), "inference, training"),
        (dict(new_tokens=4096, seq_len=4096), "seq_len - 1"),
        (dict(zero_stage=4), "0, 1, 2, 3"),
        (dict(attention="flash"), "sdpa, eager"),
    ],
)
def test_bad_options_raise_usage_error_listing_accepted_values(options, accepted):
    with pytest.raises(UsageError, match="accepted: ") as err:
        estimate(LLAMA2, EstimateOptions(**options))
    assert accepted in str(err.value) and "\n" not in str(err.value)


def test_training_a_quantized_model_needs_lora():
    with pytest.raises(UsageError, match="LoRA"):
        estimate(LLAMA2, EstimateOptions(mode="training", dtype="nf4"))


def test_missing_field_names_the_field_and_the_model():
    arch = Architecture(model_type="llama", num_layers=32, num_attention_heads=32, vocab_size=32000)
    with pytest.raises(MissingField, match="org/model: config.json has no usable 'hidden_size'.*inference"):
        estimate(facts(arch, 1000, model="org/model"), EstimateOptions())


def test_moe_activations_count_the_routed_rows_and_the_router():
    qwen3_moe = Architecture(
        model_type="qwen3_moe",
        hidden_size=2048,
        num_layers=48,
        num_attention_heads=32,
        num_key_value_heads=4,
        head_dim=128,
        intermediate_size=6144,
        moe_intermediate_size=768,
        num_experts=128,
        num_experts_per_token=8,
        vocab_size=151936,
        hidden_act="silu",
    )
    norms = 2 * (4 + 2 + 2) * 2048
    attention = (
        2 * (4096 + 2 * 512) + 2 * 4096 + 4 * 32 + (4 + 2) * (4096 + 512)
    )  # SDPA + logsumexp + qk-norm
    experts = 8 * 2 * (2 * 2048 + 4 * 768) + 128 * (2 + 4)  # 8 routed rows per token + router softmax
    assert training_layer_bytes_per_token(qwen3_moe, 2) == norms + attention + experts


def test_qlora_holds_one_dequantized_weight_at_a_time():
    est = estimate(LLAMA2, EstimateOptions(mode="training", dtype="nf4", lora_rank=16, seq_len=8, overhead=0))
    assert est.resident["dequantized_weight"] == 2 * 4096 * 11008  # the largest linear, in bf16


def test_encoder_decoder_models_say_how_they_are_estimated():
    t5 = Architecture(
        model_type="t5",
        hidden_size=512,
        num_layers=6,
        num_attention_heads=8,
        intermediate_size=2048,
        vocab_size=32128,
        is_encoder_decoder=True,
        hidden_act="relu",
    )
    est = estimate(facts(t5, 60_506_880, "F32", 4), EstimateOptions(seq_len=512))
    assert any("encoder-decoder" in note for note in est.notes)
