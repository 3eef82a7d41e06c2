"""The attention a model really runs (transformers' default per family) and what eager attention keeps; the
training phases of shallow, logits-heavy models. Numbers worked out by hand from the transformers 5 code."""

from __future__ import annotations

import pytest

from hubvram.estimator import EstimateOptions, estimate, training_layer_bytes_per_token
from hubvram.estimator.activations import eager_prefill_scores
from hubvram.model import Architecture, ModelFacts, ParameterCount
from hubvram.model.families import default_attention


def facts(arch: Architecture, params: int, dtype: str = "BF16", bytes_per: int = 2) -> ModelFacts:
    count = ParameterCount(by_dtype={dtype: params}, stored_by_dtype={dtype: params})
    return ModelFacts("test/attention", None, None, count, params * bytes_per, arch)


# bigscience/bloomz-560m's config.json, read by hand (n_embed 1024, 16 heads, 24 layers, vocab 250880).
BLOOM = Architecture(
    model_type="bloom",
    hidden_size=1024,
    num_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    vocab_size=250880,
    tie_word_embeddings=True,
)
BLOOM_PARAMS = 559_214_592
LLAMA = Architecture(
    model_type="llama",
    hidden_size=2048,
    num_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=8192,
    vocab_size=128256,
    hidden_act="silu",
)


def test_auto_attention_is_what_transformers_runs():
    assert EstimateOptions().attention == "auto"
    assert default_attention(BLOOM)[0] == "eager"  # BloomPreTrainedModel leaves _supports_sdpa unset
    assert default_attention(LLAMA)[0] == "sdpa"
    bloom = estimate(facts(BLOOM, BLOOM_PARAMS), EstimateOptions(seq_len=1024, overhead=0))
    assert bloom.options.attention == "eager"
    assert "attention: eager (bloom has no SDPA path in transformers" in bloom.notes[0]
    asked = estimate(facts(BLOOM, BLOOM_PARAMS), EstimateOptions(seq_len=1024, overhead=0, attention="sdpa"))
    assert asked.total == bloom.total and "eager, not sdpa" in asked.notes[0]  # transformers refuses sdpa
    llama = estimate(facts(LLAMA, 1_235_814_400), EstimateOptions(seq_len=1024, overhead=0))
    assert llama.options.attention == "sdpa"  # the common case, said by no note on every estimate
    assert not any(note.startswith("attention:") for note in llama.notes)


def test_bloom_training_keeps_the_fp32_softmax_and_its_cast_per_layer():
    """BloomAttention: baddbmm -> + mask -> softmax(dtype=float32) -> .to(bf16); measured 83.9 MB per layer at
    batch 2 x 512 tokens (benchmarks/ACCURACY-HELD-OUT-2.md)."""
    e, h, heads, s = 2, 1024, 16, 512
    per_token = training_layer_bytes_per_token(BLOOM, e, seq_len=s, attention="eager")
    # q, k, v reshape copies + the merged context (4eh), two LayerNorm inputs + outputs (4eh), dense_h_to_4h
    # output + GELU output (8eh: BloomGelu's autograd function keeps its input only), the scores per query
    # token: fp32 softmax output + the bf16 probabilities
    assert per_token == 16 * e * h + heads * s * (4 + e)
    assert 2 * s * per_token == pytest.approx(83.9e6, rel=0.001)


def test_eager_prefill_scores_alive_at_the_softmax():
    # BLOOM bf16: previous block's probabilities, baddbmm scores, masked scores, softmax's fp32 input copy
    # and fp32 output: 3e + 8 = 14 bytes per score; fp32: 4e = 16 (softmax's output is the probabilities)
    assert eager_prefill_scores(BLOOM, 2, 24) == 14
    assert eager_prefill_scores(BLOOM, 4, 24) == 16
    assert eager_prefill_scores(BLOOM, 2, 1) == 12  # one layer: no previous block's probabilities
    mpt = Architecture(model_type="mpt", hidden_size=4096, num_layers=32, num_attention_heads=32)
    assert eager_prefill_scores(mpt, 2, 32) == 2 * 2 + 8  # MptAttention: one scores tensor, .float(), softmax
    assert eager_prefill_scores(LLAMA, 2, 16) == 2 * 2 + 4  # Llama-style: scores, fp32 softmax, cast


def test_bloom_prefill_by_hand():
    """bloomz-560m bf16, batch 2, 1024-token prompt, 8 new tokens (measured on the CPU: 1.823 GB)."""
    opts = EstimateOptions(batch_size=2, seq_len=1032, new_tokens=8, overhead=0)
    est = estimate(facts(BLOOM, BLOOM_PARAMS), opts)
    b, q, h, heads, e, vocab = 2, 1024, 1024, 16, 2, 250880
    scores = b * heads * q * q * 14 + b * q * q * e  # the live scores + the float causal mask
    kv = 24 * b * q * 2 * h * e
    mlp = 2 * e * 4 * h  # dense_h_to_4h and GELU outputs
    attention = e * 6 * h + scores / (b * q)
    live = b * q * (max(mlp, attention) + 4 * e * h) + b * vocab * (e + 4)  # + the last position's logits
    assert est.phases["prefill"]["activations"] == pytest.approx(live, abs=1)
    assert est.phases["prefill"]["kv_cache"] == kv
    assert est.total == pytest.approx(1.839e9, rel=0.001)


# A shallow model whose logits dwarf its layers: 2 GPT-2 layers under a 250k vocabulary.
SHALLOW = Architecture(
    model_type="gpt2",
    hidden_size=768,
    num_layers=2,
    num_attention_heads=12,
    intermediate_size=3072,
    vocab_size=250_000,
    hidden_act="gelu_new",
    tie_word_embeddings=True,
)
SHALLOW_PARAMS = 250_000 * 768 + 1024 * 768 + 2 * 7_087_872 + 2 * 768


@pytest.mark.parametrize("checkpointing", [False, True])
def test_a_shallow_logits_heavy_model_peaks_at_backward_start(checkpointing):
    opts = EstimateOptions(
        mode="training",
        dtype="fp32",
        batch_size=4,
        seq_len=512,
        optimizer="sgd",
        overhead=0,
        gradient_checkpointing=checkpointing,
    )
    est = estimate(facts(SHALLOW, SHALLOW_PARAMS, "F32", 4), opts)
    t, vocab, h, e = 4 * 512, 250_000, 768, 4
    # backward's start: log_softmax (saved), nll's gradient and log_softmax's gradient over fp32 logits
    assert est.peak_phase == "backward"
    loss = 12 * t * vocab
    layer = training_layer_bytes_per_token(SHALLOW, e, seq_len=512)
    kept = (e * h) if checkpointing else layer  # checkpointing: each layer's input only
    top = h + 2 * e * h  # embedding dropout mask, final LayerNorm input and output
    assert est.phases["backward"]["activations"] == pytest.approx(2 * t * kept + t * top + loss)
    assert est.phases["backward"]["gradients"] == 0  # zero_grad(set_to_none=True): none yet


def test_depth_adds_exactly_one_layer_whatever_the_vocabulary():
    def forward(layers: int, vocab: int, checkpointing: bool) -> float:
        arch = Architecture(**{**SHALLOW.__dict__, "num_layers": layers, "vocab_size": vocab})
        opts = EstimateOptions(
            mode="training", dtype="fp32", batch_size=2, seq_len=256, optimizer="sgd", overhead=0,
            gradient_checkpointing=checkpointing,
        )  # fmt: skip
        return estimate(facts(arch, 100_000_000, "F32", 4), opts).phases["forward"]["activations"]

    for vocab in (1_000, 50_257, 250_000):
        for checkpointing in (False, True):
            steps = [
                forward(n + 1, vocab, checkpointing) - forward(n, vocab, checkpointing) for n in (1, 2, 6, 47)
            ]
            assert len({round(x) for x in steps}) == 1  # the same layer every time: linear in depth
