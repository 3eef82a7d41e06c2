"""Encoder-decoders (estimator/seq2seq.py): two stacks, cross-attention, seq2seq training and generation,
pinned on numbers worked out by hand from the transformers 5 classes (each term named where it is added)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubvram.errors import UsageError
from hubvram.estimator import EstimateOptions, estimate
from hubvram.model import Architecture, ModelFacts, ParameterCount, read_architecture
from hubvram.model.facts import EncoderDecoder

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hub"
CONFIGS = Path(__file__).resolve().parents[2] / "benchmarks" / "configs"


def facts(arch: Architecture, params: int, dtype: str = "F32", bytes_per: int = 4) -> ModelFacts:
    count = ParameterCount(by_dtype={dtype: params}, stored_by_dtype={dtype: params})
    return ModelFacts("test/seq2seq", None, None, count, params * bytes_per, arch)


# google-t5/t5-small's config.json, read by hand: T5 v1.0 (ReLU MLP, lm_head tied to the shared embedding).
T5_SMALL = Architecture(
    model_type="t5",
    architectures=("T5ForConditionalGeneration",),
    hidden_size=512,
    num_layers=6,
    num_attention_heads=8,
    head_dim=64,
    intermediate_size=2048,
    vocab_size=32128,
    tie_word_embeddings=True,
    is_encoder_decoder=True,
    seq2seq=EncoderDecoder(
        encoder_layers=6,
        decoder_layers=6,
        encoder_heads=8,
        decoder_heads=8,
        encoder_ffn=2048,
        decoder_ffn=2048,
        relative_attention_num_buckets=32,
        dropout=0.1,
    ),
)
T5_SMALL_PARAMS = 60_506_624


def test_t5_small_training_by_hand():
    """t5-small, fp32, batch 2, 64 source and 32 target tokens, AdamW: every saved tensor written out."""
    opts = EstimateOptions(mode="training", batch_size=2, seq_len=64, target_len=32, overhead=0)
    est = estimate(facts(T5_SMALL, T5_SMALL_PARAMS), opts)
    h, n, f, heads, vocab, e, mask = 512, 8 * 64, 2048, 8, 32128, 4, 1  # CUDA keeps 1-byte dropout masks
    b, s, t = 2, 64, 32
    # One residual block: T5LayerNorm keeps the normalised x (weight * reads it) and its output (the linears
    # read it; in fp32 its x.float() is x itself), the dropout mask, the residual sum (the next norm's input).
    block = (e * h + e * h) + mask * h + e * h
    assert block == 6656
    self_attention = 4 * e * n + 4 * heads  # SDPA: q, k, v, output (o's input), fp32 logsumexp per head
    cross_query = 2 * e * n + 4 * heads  # cross-attention: q, output, logsumexp (K, V are per source token)
    mlp = 2 * e * f + mask * f  # ReLU keeps its output, wo reads the dropout's output, + the dropout mask
    encoder_token = 2 * block + self_attention + mlp
    decoder_token = 3 * block + self_attention + cross_query + mlp
    assert (encoder_token, decoder_token) == (39_968, 50_752)
    encoder_bias = heads * s * s * e  # the (1, H, S, S) position-bias mask SDPA keeps, per layer
    decoder_bias = heads * t * t * e  # the causal (1, H, T, T) one
    cross_kv = 2 * e * n  # every decoder layer's K and V over each source token
    encoder_layer = b * s * encoder_token + encoder_bias
    decoder_layer = b * t * decoder_token + b * s * cross_kv + decoder_bias
    # Outside the layers, per token: ids (int64), embedding dropout mask and output, final norm (normalised
    # x), final dropout mask, the stack's output (read by the cross K/V projections, or by lm_head).
    top = 8 + 2 * mask * h + 3 * e * h
    buckets = 8 * (s * s + t * t)  # the relative-position bucket indices (int64), once per stack
    zero_bias = heads * t * s * e  # the cross-attention's zero position bias, shared by every decoder layer
    saved = 6 * encoder_layer + 6 * decoder_layer + (b * s + b * t) * top + buckets + zero_bias
    logits = (
        b * t * vocab
    )  # over the target tokens; T5's CrossEntropyLoss keeps the logits' dtype (fp32 here)
    assert est.phases["forward"]["activations"] == pytest.approx(saved + logits * (e + e), abs=2)
    # Backward's start holds log_softmax, nll's gradient and log_softmax's gradient; the step's peak is its
    # end here (a small batch): every gradient, the shared embedding's last two summed beside them.
    assert est.peak_phase == "optimizer_step"
    assert est.phases["backward"]["gradients"] == T5_SMALL_PARAMS * 4
    assert est.phases["backward"]["activations"] == 2 * vocab * h * 4
    assert est.phases["optimizer_step"]["optimizer_scratch"] == T5_SMALL_PARAMS * 4  # foreach AdamW's sqrt
    assert any(
        "6 encoder layers over 64 source tokens, 6 decoder layers over 32 target" in x for x in est.notes
    )


def test_the_target_defaults_to_seq_len_and_the_logits_run_over_it():
    base = dict(mode="training", batch_size=8, seq_len=512, overhead=0, optimizer="sgd")
    same = estimate(facts(T5_SMALL, T5_SMALL_PARAMS), EstimateOptions(**base))
    short = estimate(facts(T5_SMALL, T5_SMALL_PARAMS), EstimateOptions(**base, target_len=128))
    assert (
        same.phases
        == estimate(facts(T5_SMALL, T5_SMALL_PARAMS), EstimateOptions(**base, target_len=512)).phases
    )
    # the logits and their loss scale with the target, not the source: 8 x (512 - 128) x V x (4 + 4) fewer
    gap = same.phases["forward"]["activations"] - short.phases["forward"]["activations"]
    assert gap > 8 * (512 - 128) * 32128 * 8


def test_flan_t5_reads_d_kv_and_its_gated_gelu_from_the_config():
    arch = read_architecture(json.loads((CONFIGS / "google__flan-t5-small" / "config.json").read_text()))
    assert arch.seq2seq and arch.seq2seq.feed_forward_proj == "gated-gelu"
    one = EstimateOptions(mode="training", batch_size=1, seq_len=1, target_len=1, overhead=0, optimizer="sgd")
    two = EstimateOptions(mode="training", batch_size=2, seq_len=1, target_len=1, overhead=0, optimizer="sgd")
    params = 76_961_152
    per_token = estimate(facts(arch, params), two).phases["forward"]["activations"]
    per_token -= estimate(facts(arch, params), one).phases["forward"]["activations"]
    h, n, f, heads, e, vocab, layers = 512, 6 * 64, 1024, 6, 4, 32128, 8  # n = heads x d_kv = 384, not 512
    block = 2 * e * h + h + e * h
    # gelu_new keeps its input, tanh, 0.5x and 1 + tanh; then the gelu output, wi_1's output, wo's input
    mlp = 7 * e * f + f
    encoder = 2 * block + (4 * e * n + 4 * heads) + mlp
    decoder = 3 * block + (4 * e * n + 4 * heads) + (2 * e * n + 4 * heads) + mlp + 2 * e * n  # + K, V
    top = 2 * (8 + 2 * h + 3 * e * h)
    assert per_token == layers * (encoder + decoder) + top + vocab * 8


# flan-t5-base's config.json (untied lm_head, 12 + 12 layers, d_kv 64 x 12 heads).
FLAN_T5_BASE = read_architecture(json.loads((CONFIGS / "google__flan-t5-base" / "config.json").read_text()))


def test_generation_keeps_both_caches_and_the_encoder_output():
    """flan-t5-base, fp32, batch 4, 512 source tokens, 32 new tokens (measured: 1.161 GB on the CPU)."""
    params = 247_577_856
    est = estimate(
        facts(FLAN_T5_BASE, params), EstimateOptions(batch_size=4, seq_len=512, new_tokens=32, overhead=0)
    )
    layers, b, s, new, n, h, e = 12, 4, 512, 32, 12 * 64, 768, 4
    cross = (
        2 * layers * b * s * n * e
    )  # EncoderDecoderCache.cross_attention_cache: K, V per layer over the source
    self_cache = 2 * layers * b * new * n * e  # the start token and 31 generated tokens fed back
    assert est.phases["decode"]["kv_cache"] == cross + self_cache
    encoder_output = b * s * h * e
    first_step = (
        2 * b * s * n * e + 2 * layers * b * n * e
    )  # the last layer's K, V before the cache copies them
    assert sum(est.phases["decode"].values()) == pytest.approx(
        params * 4 + cross + encoder_output + first_step
    )
    assert est.peak_phase == "decode"
    assert est.total == pytest.approx(1.160e9, rel=0.002)


def test_new_tokens_are_decoder_tokens_independent_of_the_source():
    est = estimate(facts(T5_SMALL, T5_SMALL_PARAMS), EstimateOptions(seq_len=16, new_tokens=200, overhead=0))
    assert est.phases["decode"]["kv_cache"] == 2 * 6 * (16 + 200) * 512 * 4
    none = estimate(facts(T5_SMALL, T5_SMALL_PARAMS), EstimateOptions(seq_len=16, overhead=0))
    assert none.phases["decode"]["kv_cache"] == 2 * 6 * (16 + 1) * 512 * 4  # one decoder step at least
    assert any("one decoder step" in note for note in none.notes)
    llama = Architecture(
        model_type="llama", hidden_size=64, num_layers=2, num_attention_heads=4, vocab_size=100
    )
    with pytest.raises(UsageError, match="new_tokens"):
        estimate(facts(llama, 1000), EstimateOptions(seq_len=16, new_tokens=200))


WHISPER = read_architecture(
    json.loads((FIXTURES / "openai" / "whisper-medium" / "files" / "config.json").read_text())
)


def test_whisper_encoder_always_runs_its_1500_positions_and_its_positions_are_frozen():
    params = 763_857_920
    base = dict(mode="training", batch_size=1, target_len=128, overhead=0)
    short = estimate(facts(WHISPER, params), EstimateOptions(**base, seq_len=16))
    long = estimate(facts(WHISPER, params), EstimateOptions(**base, seq_len=4096))
    assert short.phases == long.phases  # seq_len is only the target's default: the encoder has 1500 positions
    frozen = 1500 * 1024  # WhisperEncoder.embed_positions.requires_grad_(False)
    assert short.resident["gradients"] == (params - frozen) * 4
    assert any("1500 positions" in note for note in short.notes)
    capped = estimate(facts(WHISPER, params), EstimateOptions(mode="training", seq_len=2048, overhead=0))
    assert any("448 positions" in note for note in capped.notes)


def test_marian_sinusoidal_tables_are_in_memory_but_not_trained():
    arch = read_architecture(
        json.loads((CONFIGS / "Helsinki-NLP__opus-mt-en-fr" / "config.json").read_text())
    )
    stored = (
        74_624_000  # what the Hub's files hold: no embed_positions (MarianMTModel._keys_to_ignore_on_save)
    )
    est = estimate(facts(arch, stored), EstimateOptions(mode="training", seq_len=8, overhead=0))
    tables = 2 * 512 * 512  # encoder and decoder MarianSinusoidalPositionalEmbedding, requires_grad=False
    assert est.resident["weights"] == (stored + tables) * 4
    assert est.resident["gradients"] == stored * 4


def test_config_fields_of_both_stacks():
    t5 = read_architecture(
        json.loads((FIXTURES / "google-t5" / "t5-small" / "files" / "config.json").read_text())
    )
    assert t5.seq2seq == EncoderDecoder(6, 6, 8, 8, 2048, 2048, None, 32, dropout=0.1)
    assert WHISPER.seq2seq and (WHISPER.seq2seq.max_source_positions, WHISPER.seq2seq.num_mel_bins) == (
        1500,
        80,
    )
    bad = {"model_type": "bart", "is_encoder_decoder": True, "d_model": 8, "encoder_layers": -1}
    with pytest.raises(Exception, match="encoder_layers"):
        read_architecture(bad, allow_transformers=False)


def test_an_unmodelled_encoder_decoder_family_says_so():
    arch = Architecture(
        model_type="prophetnet",
        hidden_size=64,
        num_layers=2,
        num_attention_heads=4,
        vocab_size=100,
        is_encoder_decoder=True,
    )
    est = estimate(facts(arch, 10_000), EstimateOptions(seq_len=16, overhead=0))
    assert any("does not model as two stacks" in note for note in est.notes)
