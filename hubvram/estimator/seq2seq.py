"""Encoder-decoder models (T5/Flan-T5, BART, Marian, Whisper): two stacks joined by cross-attention.

The encoder runs once over S source tokens (Whisper: its fixed 1500 positions after the conv stem); the
decoder runs over T target tokens in training and over one token per step in generation, every decoder layer
attending to the encoder's output through its own cross-attention K and V. Counted op by op in the
transformers 5 classes (T5ForConditionalGeneration, BartForConditionalGeneration, MarianMTModel,
WhisperForConditionalGeneration) and checked with saved-tensor hooks on 1- and 2-layer builds
(benchmarks/ACCURACY-HELD-OUT-2.md, findings). The kernels are the GPU's: SDPA's fused kernels (T5's
position bias enters them as a float mask, which they keep), 1-byte dropout masks.

Bytes per token unless said: e = compute dtype, m = one dropout mask element (1: CUDA keeps a bool mask),
h = d_model, n = heads x head_dim (T5: num_heads x d_kv), f = FFN width, H = heads, V = vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dtypes import FLOAT_BYTES, FLOAT_DTYPES, QUANTIZED_DTYPES
from ..model.facts import Architecture, EncoderDecoder, ModelFacts
from ..model.families import GELU_PYTHON, T5_FAMILY, WHISPER, family, family_is
from .activations import loss_bytes
from .options import EstimateOptions
from .result import Estimate, finish
from .shape import layer_shape, require
from .training import finish_training, resident
from .weights import param_split, stored_compute_dtype, weights_bytes

MASK = 1  # CUDA's dropout keeps a bool mask (at::native_dropout); the CPU keeps one of the input's dtype
# Tensors an activation keeps besides its output: GPT-2's Python GELU (gelu_new) keeps its input, tanh, 0.5x
# and 1 + tanh; aten GELU/SiLU their input; ReLU only its output (transformers/activations.py, autograd).
ACT_INTERNAL = {"gelu_python": 4, "gelu": 1, "silu": 1, "relu": 0}
EMBEDDING_NORM = frozenset({"bart", "mbart", "plbart", "blenderbot-small"})  # layernorm_embedding
PRE_LN = frozenset({"mbart", "pegasus", "m2m_100", "blenderbot"})  # + a final LayerNorm per stack


@dataclass(frozen=True)
class Stack:
    layers: int
    heads: int
    inner: int  # heads x head_dim
    ffn: int


@dataclass(frozen=True)
class Seq2SeqShape:
    style: str  # "t5" | "bart" | "whisper"
    hidden: int
    vocab: int
    encoder: Stack
    decoder: Stack
    act: str  # gelu_python | gelu | silu | relu
    gated: bool  # T5 v1.1 / Flan-T5: act(wi_0 x) * wi_1 x
    dropout: bool  # hidden dropout > 0: every residual branch keeps a mask
    act_dropout: bool  # dropout inside the MLP (T5 reuses dropout_rate; BART/Whisper activation_dropout)
    buckets: int  # T5 relative position buckets (0: none)
    source_positions: int  # Whisper: the encoder's fixed length (0: the source tokens)
    mel_bins: int
    target_positions: int  # Whisper: the decoder's longest sequence (0: no limit)
    frozen: int  # parameters in the files that are never trained (Whisper's encoder positions)
    unstored: int  # parameters the class creates but checkpoints omit, never trained (Marian's sinusoids)
    tied: bool  # lm_head shares the embedding
    embedding_norm: bool
    final_norm: bool


def seq2seq_shape(arch: Architecture, model: str = "model") -> Seq2SeqShape:
    """Both stacks' shapes from the config (T5: num_layers / num_decoder_layers, d_kv, d_ff, ...)."""
    ed = arch.seq2seq or EncoderDecoder()
    h = require(arch, "hidden_size", "an encoder-decoder", model)
    heads = require(arch, "num_attention_heads", "an encoder-decoder", model)
    layers = require(arch, "num_layers", "an encoder-decoder", model)
    name = family(arch)
    t5 = family_is(arch, T5_FAMILY)

    def stack(layers_: int | None, heads_: int | None, ffn: int | None) -> Stack:
        count = heads_ or heads
        head_dim = (arch.head_dim if t5 else None) or h // count  # T5: d_kv; BART/Whisper: d_model / heads
        return Stack(layers_ or layers, count, count * head_dim, ffn or arch.intermediate_size or 4 * h)

    if t5:  # T5Config: feed_forward_proj "relu" (v1.0) or "gated-gelu" (v1.1: gelu_new), "gated-silu", ...
        proj = (ed.feed_forward_proj or "relu").lower()
        gated, act = proj.startswith("gated-"), proj.split("-")[-1]
        act = "gelu_python" if (act == "gelu" and gated) or act in GELU_PYTHON else act
    else:
        gated, act = False, (arch.hidden_act or "gelu").lower()
        act = "gelu_python" if act in GELU_PYTHON else act
    act = {"swish": "silu"}.get(act, act)
    act = act if act in ACT_INTERNAL else "gelu"
    dropout = ed.dropout is None or ed.dropout > 0  # the config classes default to 0.1
    whisper = family_is(arch, WHISPER)
    source = (ed.max_source_positions or 1500) if whisper else 0
    static = ed.static_position_embeddings or name == "marian"
    return Seq2SeqShape(
        style="t5" if t5 else "whisper" if whisper else "bart",
        hidden=h,
        vocab=require(arch, "vocab_size", "an encoder-decoder", model),
        encoder=stack(ed.encoder_layers, ed.encoder_heads, ed.encoder_ffn),
        decoder=stack(ed.decoder_layers, ed.decoder_heads, ed.decoder_ffn),
        act=act,
        gated=gated,
        dropout=dropout,
        act_dropout=dropout if t5 else bool(ed.activation_dropout),
        buckets=(ed.relative_attention_num_buckets or 32) if t5 else 0,
        source_positions=source,
        mel_bins=(ed.num_mel_bins or 80) if whisper else 0,
        target_positions=(ed.max_target_positions or 448) if whisper else 0,
        frozen=source * h,  # WhisperEncoder: embed_positions.requires_grad_(False)
        # MarianSinusoidalPositionalEmbedding (requires_grad=False) per stack; MarianMTModel's
        # _keys_to_ignore_on_save keeps them out of the files
        unstored=2 * (arch.max_position_embeddings or 512) * h if static and name == "marian" else 0,
        tied=arch.tie_word_embeddings is not False,  # every one of these classes ties by default
        embedding_norm=name in EMBEDDING_NORM,
        final_norm=t5 or whisper or name in PRE_LN,
    )


# ----------------------------------------------------------------------------------------------------
# What one layer saves for backward


def _block(m: Seq2SeqShape, e: int) -> float:
    """One residual block's norm, dropout mask and residual sum (the sublayer itself aside)."""
    h = m.hidden
    if m.style == "t5":  # T5LayerNorm: pow saves x.float() (x itself in fp32), weight * saves the normed x
        norm = (4 * h if e < 4 else 0) + e * h + e * h  # + the output, saved by the sublayer's linears
    else:  # nn.LayerNorm saves its input (the residual sum, below), fp32 mean and rstd; a linear its output
        norm = 8 + e * h
    return norm + (MASK * h if m.dropout else 0) + e * h  # the residual sum, saved by the next norm


def _attention(stack: Stack, e: int, keys: int, eager: bool) -> float:
    """Self-attention per query token: SDPA keeps q, k, v, its output (o's input) and the logsumexp."""
    saved = 4 * e * stack.inner  # q, k, v, output (FlashAttention-2 / memory-efficient kernels)
    if eager:  # q @ k^T -> softmax (in the scores' dtype) -> @ v: the probabilities instead of the logsumexp
        return saved + stack.heads * keys * e
    return saved + 4 * stack.heads


def _cross_query(stack: Stack, e: int, keys: int, eager: bool) -> float:
    """Cross-attention per target token: q, output, logsumexp (eager: probabilities); K, V: per source."""
    return 2 * e * stack.inner + (stack.heads * keys * e if eager else 4 * stack.heads)


def _ffn(m: Seq2SeqShape, stack: Stack, e: int) -> float:
    """The MLP per token (T5DenseActDense / T5DenseGatedActDense, BART's fc1 -> act -> dropout -> fc2)."""
    internal = ACT_INTERNAL[m.act]
    if m.gated:  # act(wi_0 x) keeps its own, then act out and wi_1 x (saved by *), then wo's input
        tensors = internal + 3
    else:  # act's own + wo/fc2's input (the dropout's output, or the activation's); ReLU keeps its output too
        tensors = internal + 1 + (1 if m.act_dropout and m.act == "relu" else 0)
    return tensors * e * stack.ffn + (MASK * stack.ffn if m.act_dropout else 0)


def encoder_layer(m: Seq2SeqShape, e: int, batch: int, src: int, eager: bool) -> float:
    """Bytes one encoder layer saves over the batch: two blocks, self-attention, MLP."""
    per_token = 2 * _block(m, e) + _attention(m.encoder, e, src, eager) + _ffn(m, m.encoder, e)
    bias = m.encoder.heads * src * src * e if (m.buckets and not eager) else 0  # T5: SDPA's (1, H, S, S) mask
    return batch * src * per_token + bias


def decoder_layer(m: Seq2SeqShape, e: int, batch: int, src: int, tgt: int, eager: bool) -> float:
    """Bytes one decoder layer saves: three blocks, self- and cross-attention (its K, V over the source)."""
    d = m.decoder
    per_target = (
        3 * _block(m, e) + _attention(d, e, tgt, eager) + _cross_query(d, e, src, eager) + _ffn(m, d, e)
    )
    bias = d.heads * tgt * tgt * e if (m.buckets and not eager) else 0  # T5: causal (1, H, T, T) bias mask
    return batch * (tgt * per_target + src * 2 * e * d.inner) + bias


def _stack_top(m: Seq2SeqShape, e: int, encoder: bool) -> float:
    """Per token outside a stack's layers: ids, embedding dropout, embedding/final norms, the output."""
    h, mask = m.hidden, (MASK * m.hidden if m.dropout else 0)
    if (
        m.style == "t5"
    ):  # embedding dropout mask + output, final norm (fp32 copy, normed), final dropout mask,
        # and the output the next consumer saves (cross K/V projections, or lm_head)
        return 8 + 2 * mask + 3 * e * h + (4 * h if e < 4 else 0)
    saved = 8 + mask + e * h  # ids, embedding dropout mask, first layer's input
    if m.embedding_norm:
        saved += 8 + e * h  # layernorm_embedding's input
    if m.final_norm:
        saved += 8 + e * h  # the final LayerNorm's output (the stack's output)
    if m.style == "whisper" and encoder:  # conv1 input (2 frames of mel bins), conv1 and GELU outputs over
        saved += e * (2 * m.mel_bins + 4 * h + h)  # 2 frames, conv2 output (WhisperEncoder's stem)
    return saved


def saved_bytes(
    m: Seq2SeqShape, e: int, batch: int, src: int, tgt: int, eager: bool, checkpointing: bool
) -> tuple[float, float]:
    """(encoder, decoder) bytes saved for backward at the end of the forward."""
    enc_top = batch * src * _stack_top(m, e, True) + (8 * src * src if m.buckets else 0)  # T5 bucket indices
    dec_top = batch * tgt * _stack_top(m, e, False) + (8 * tgt * tgt if m.buckets else 0)
    if m.buckets and not eager:  # the cross-attention's zero position bias (1, H, T, S), one for every layer
        dec_top += m.decoder.heads * tgt * src * e
    if checkpointing:  # HF checkpoints every layer: it keeps its input (Chen et al. 2016)
        bias = (m.encoder.heads * src * src + m.decoder.heads * tgt * tgt) * e if m.buckets else 0
        hidden = e * m.hidden * batch
        return m.encoder.layers * hidden * src + enc_top + bias, m.decoder.layers * hidden * tgt + dec_top
    enc = m.encoder.layers * encoder_layer(m, e, batch, src, eager) + enc_top
    dec = m.decoder.layers * decoder_layer(m, e, batch, src, tgt, eager) + dec_top
    return enc, dec


def layer_parameters(m: Seq2SeqShape, stack: Stack, decoder: bool) -> int:
    """Parameters of one layer: attention projections (x2 with cross-attention), MLP, norms."""
    h = m.hidden
    attention = 4 * h * stack.inner + (0 if m.style == "t5" else 3 * stack.inner + h)  # BART: biases
    mlp = (3 if m.gated else 2) * h * stack.ffn + (0 if m.style == "t5" else stack.ffn + h)
    norms = (3 if decoder else 2) * (h if m.style == "t5" else 2 * h)
    return (2 if decoder else 1) * attention + mlp + norms


# ----------------------------------------------------------------------------------------------------
# Lengths


def lengths(m: Seq2SeqShape, options: EstimateOptions) -> tuple[int, int, list[str]]:
    """(source tokens, decoder tokens, notes): training's target, or generation's new tokens."""
    notes: list[str] = []
    src = m.source_positions or options.seq_len
    if options.mode == "training":
        tgt = options.target_len or options.seq_len
        what = "target tokens"
    else:
        tgt = max(options.new_tokens, 1)
        what = "generated tokens (the decoder's start token included in its cache)"
        if not options.new_tokens:
            notes.append("new_tokens 0: one decoder step (the start token) after the encoder")
    if m.target_positions and tgt > m.target_positions:
        notes.append(f"the decoder is capped at its {m.target_positions} positions (max_target_positions)")
        tgt = m.target_positions
    if m.source_positions:
        notes.append(
            f"Whisper's encoder always runs {src} positions (30 s of audio: 2 x {src} log-mel frames of "
            f"{m.mel_bins} bins, halved by its conv stem); seq_len only defaults the training target"
        )
    notes.insert(
        0,
        f"encoder-decoder: {m.encoder.layers} encoder layers over {src} source tokens, {m.decoder.layers} "
        f"decoder layers over {tgt} {what}, cross-attention K/V of every decoder layer over the source",
    )
    return src, tgt, notes


# ----------------------------------------------------------------------------------------------------
# Training and generation


def estimate_seq2seq(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    m = seq2seq_shape(facts.architecture, facts.model_id)
    if options.mode == "training":
        return _training(facts, options, m)
    return _generation(facts, options, m)


def _training(facts: ModelFacts, options: EstimateOptions, m: Seq2SeqShape) -> Estimate:
    arch = facts.architecture
    s = layer_shape(arch, facts.model_id, "training", param_split(facts))
    r = resident(facts, options, s, frozen=m.frozen, unstored=m.unstored)
    e, gb, eager, batch = r.e, r.grad_bytes, options.attention == "eager", options.batch_size
    src, tgt, notes = lengths(m, options)
    notes += r.notes
    ckpt = options.gradient_checkpointing
    enc, dec = saved_bytes(m, e, batch, src, tgt, eager, ckpt)
    saved = enc + dec
    # Logits and loss over the target tokens; CrossEntropyLoss runs on the logits' dtype (no fp32 upcast).
    loss_forward, _, loss_backward = (batch * tgt * m.vocab * x for x in loss_bytes(arch, e, encoder=True))
    embed = m.vocab * m.hidden * gb if not r.lora else 0.0  # one gradient of the (shared) embedding
    head_grad = 0.0 if m.tied else embed  # an untied lm_head's own gradient
    held = r.gradients if options.grad_accumulation > 1 else 0.0
    live = r.live

    def grads(present: float) -> float:
        return r.gradients if held else present

    forward = dict(live, gradients=held, activations=saved + loss_forward)
    # Backward's start: log_softmax (saved), nll's gradient and log_softmax's gradient.
    start = dict(live, gradients=held, activations=saved + loss_backward)
    head = dict(  # the logits' gradient and lm_head's weight gradient (in autograd's buffer when tied)
        live,
        gradients=grads(head_grad),
        activations=saved + batch * tgt * e * (m.vocab + m.hidden) + (embed if m.tied else 0.0),
    )
    # The decoder done, the encoder not yet: the decoder's gradients, its token embedding's gradient (tied:
    # summed out of place with lm_head's, 3 copies for a moment), the gradient reaching the encoder's output.
    dec_grads = 0.0 if r.lora else m.decoder.layers * layer_parameters(m, m.decoder, True) * gb
    decoder_done = dict(
        live,
        gradients=grads(min(dec_grads + head_grad, r.gradients)),
        activations=enc + (3 * embed if m.tied else embed) + batch * src * e * m.hidden,
    )
    # The end: every gradient; the encoder's lookup into the shared embedding is summed with the rest.
    shared = m.style != "whisper"
    end = dict(live, gradients=r.gradients, activations=2 * embed if shared else 0.0)
    backward = [start, head, decoder_done, end]
    if ckpt:  # the encoder's first layer recomputed last, with nearly every gradient present
        layer = encoder_layer(m, e, batch, src, eager)
        flowing = batch * src * 2 * e * (m.encoder.ffn + m.hidden)  # the gradients passing through it
        first = 0.0 if r.lora else layer_parameters(m, m.encoder, False) * gb
        backward.append(dict(live, gradients=r.gradients - first, activations=enc + layer + flowing))
    phases: dict[str, dict[str, float]] = {
        "forward": forward,
        "backward": max(backward, key=lambda d: sum(d.values())),
        "optimizer_step": dict(r.base, gradients=r.gradients, optimizer_scratch=r.scratch, activations=0.0),
    }
    if m.frozen or m.unstored:
        notes.append(
            f"{m.frozen + m.unstored:,} position-embedding parameters are not trained (no gradient or state)"
        )
    return finish_training(options, r, phases, held, notes)


def _generation(facts: ModelFacts, options: EstimateOptions, m: Seq2SeqShape) -> Estimate:
    compute = options.dtype if options.dtype in FLOAT_DTYPES else stored_compute_dtype(facts)
    if options.dtype in QUANTIZED_DTYPES and compute == "fp32":
        compute = "bf16"  # quantized weights compute in 16-bit (bitsandbytes/GPTQ compute dtype)
    e = FLOAT_BYTES[compute]
    kv_e = FLOAT_BYTES[options.kv_cache_dtype or compute]
    batch, eager, d = options.batch_size, options.attention == "eager", m.decoder
    src, new, notes = lengths(m, options)
    weights = weights_bytes(facts, options.dtype) + m.unstored * e
    # The encoder pass (generate's first step): one layer's largest live set beside the hidden states.
    f = m.encoder.ffn
    mlp = (3 if m.gated else 4 if m.act == "gelu_python" else 2) * e * f  # as activations.inference_live
    attn = 6 * e * m.encoder.inner + (m.encoder.heads * src * (2 * e) if eager else 0)
    stem = e * (2 * m.mel_bins + 4 * m.hidden) if m.source_positions else 0  # Whisper: conv1 output + GELU
    encoder = batch * src * (max(mlp, attn, stem) + 4 * e * m.hidden)
    if m.buckets:  # T5: the position bias (1, H, S, S) for every layer + the mask SDPA gets from it
        encoder += 2 * m.encoder.heads * src * src * e
    # Decoding: the cross-attention cache (every decoder layer's K, V over the source), the self-attention
    # cache (the start token and each new token fed back), the encoder's output generate keeps.
    cross = 2 * d.layers * batch * src * d.inner * kv_e  # EncoderDecoderCache.cross_attention_cache
    self_cache = 2 * d.layers * batch * new * d.inner * kv_e
    first_step = 2 * batch * src * d.inner * e + 2 * d.layers * batch * d.inner * kv_e  # last layer's K, V
    last_step = self_cache + self_cache / d.layers + batch * m.vocab * (e + 4)  # cat copy, logits + fp32 copy
    tp = options.tensor_parallel
    phases = {
        "prefill": {"weights": weights / tp, "kv_cache": 0.0, "activations": encoder / tp},
        "decode": {
            "weights": weights / tp,
            "kv_cache": (cross + self_cache) / tp,
            "activations": (batch * src * e * m.hidden + max(first_step, last_step) - self_cache) / tp,
        },
    }
    if tp > 1:
        notes.append(f"weights, caches and activations split over {tp} GPUs (tensor parallelism)")
    if facts.adapter:  # PEFT keeps the adapter unmerged beside the base weights, in its stored dtype
        for phase in phases.values():
            phase["lora_adapters"] = facts.adapter.weights_bytes / tp
    if options.dtype in QUANTIZED_DTYPES:
        notes.append(
            f"weights re-quantized to {options.dtype} (scales included); embeddings and lm_head stay 16-bit"
        )
    return finish(options, phases, notes)
