"""Activation bytes per token: what each layer saves for backward, and the live set of an inference forward.

Bytes per token. e = bytes of the compute dtype; h, q, kv, i = hidden, query heads x head_dim, KV heads x
head_dim, MLP width. The method is Korthikanti et al. 2022 (sec. 4.1: count what each op saves for
backward), applied to the transformers implementations rather than to Megatron's.
"""

from __future__ import annotations

from ..model.facts import Architecture
from ..model.families import (
    ABSOLUTE_POSITIONS_IN_FORWARD,
    ATTENTION_SOFTCAP,
    DROPOUT,
    FINAL_SOFTCAP,
    FUSED_QKV_ROPE,
    GEMMA_NORM,
    KEEPS_ATTN_WEIGHTS,
    LAYERNORM,
    NO_ROPE,
    PARALLEL_BLOCK,
    PARTIAL_ROTARY,
    QK_NORM,
    SCORES_KEPT_BESIDE_MASKED,
    SOFTMAX_IN_DTYPE,
    family_is,
    mlp_kind,
)
from .options import EstimateOptions
from .shape import Shape, layer_shape


def _norm_saved(arch: Architecture, e: int, h: int, feeds_linear: bool = True) -> float:
    """Bytes per token one norm keeps for backward (its output too when a linear consumes it)."""
    out = e * h if feeds_linear else 0
    if family_is(arch, LAYERNORM):
        return (
            e * h + out
        )  # nn.LayerNorm saves its input (+ mean, rstd per token); the next linear its output
    if family_is(arch, GEMMA_NORM):
        return (
            8 * h + out
        )  # Gemma RMSNorm: x.float() and the fp32 normalised x (scaled by 1 + weight in fp32)
    return (4 + e) * h + out  # Llama RMSNorm: x.to(fp32) for pow/mul, normalised x cast back for weight *


def _attention_saved(arch: Architecture, s: Shape, e: int, seq: int, options: EstimateOptions) -> float:
    """Bytes per token the attention block saves: SDPA's q, k, v and output, plus what feeds them."""
    rope = not family_is(arch, NO_ROPE)
    eager = options.attention == "eager"
    saved = e * (s.q + 2 * s.kv) + e * s.q  # SDPA saves q, k, v and its output (FlashAttention-2, Dao 2023)
    if not eager:  # eager saves q, k, v, the probabilities and the head-merged copy o_proj reads (no output)
        saved += 4 * s.heads  # + the fp32 logsumexp per head
        if not rope:
            saved += e * s.q  # no RoPE: the head-merged output is copied before o_proj
    if rope and family_is(arch, PARTIAL_ROTARY):
        saved += e * (s.q + s.kv)  # rotary on part of each head: cat(rotated, pass-through) copies q and k
    if rope and family_is(arch, FUSED_QKV_ROPE):
        saved += e * (s.q + s.kv)  # fused qkv: V is a view, so SDPA keeps the whole qkv output alive
    if family_is(arch, QK_NORM):
        saved += (4 + e) * (s.q + s.kv)  # q_norm/k_norm (Qwen3, Gemma 3): fp32 copy + normalised cast
    if eager:  # scores per query row: b x heads x s x s (Vaswani et al. 2017)
        upcast = softmax_upcast(arch, e)  # softmax(dtype=float32) saves its fp32 output, .to(dtype) the cast
        softcap = e if family_is(arch, ATTENTION_SOFTCAP) else 0  # tanh(scores / cap) kept
        saved += s.heads * seq * (e + upcast + softcap)
        saved += 2 * e * (s.q - s.kv)  # repeat_kv copies K and V out to every query head
    return saved


def softmax_upcast(arch: Architecture, e: int) -> int:
    """Bytes per score of eager attention's fp32 softmax beside the scores' dtype (0 where it runs in it).

    Llama-style, OPT, BLOOM and MPT call softmax(scores, dtype=float32).to(dtype) (MPT: scores.float());
    GPT-2, BERT, T5, BART, Whisper and Falcon soft-max in the scores' dtype (families.SOFTMAX_IN_DTYPE).
    """
    return 4 if e < 4 and not family_is(arch, SOFTMAX_IN_DTYPE) else 0


def eager_prefill_scores(arch: Architecture, e: int, layers: int) -> float:
    """Bytes per score (batch x heads x query x key) alive at once in an eager prefill's softmax, no_grad."""
    upcast = softmax_upcast(arch, e)
    if family_is(arch, KEEPS_ATTN_WEIGHTS):  # ALiBi eager (BloomAttention, MptAttention)
        kept = e if layers > 1 else 0  # the previous block's probabilities, held by the model's block loop
        masked = e if family_is(arch, SCORES_KEPT_BESIDE_MASKED) else 0  # BLOOM: baddbmm scores + masked copy
        # the scores, softmax's fp32 input copy (a temporary inside aten::softmax when the dtype changes) and
        # its fp32 output, which is the probabilities themselves in fp32 (measured: 14 bytes bf16, 16 fp32)
        return kept + masked + e + (2 * upcast if upcast else 4)
    softcap = e if family_is(arch, ATTENTION_SOFTCAP) else 0  # tanh(scores / cap) kept
    return 2 * e + 4 + softcap  # scores, fp32 softmax, cast back (Llama-style eager)


def _mlp_saved(arch: Architecture, s: Shape, e: int) -> float:
    if s.experts:  # transformers' grouped experts: every (token, expert) row is gathered, run and weighted
        # per routed row: the gathered input, gate_up, act, product and the expert's output
        routed = s.top_k * e * (2 * s.hidden + 4 * s.expert_width)
        router = s.experts * (e + 4)  # router logits and their fp32 softmax (Shazeer et al. 2017)
        return routed + router + 4 * e * s.shared_width
    kind = mlp_kind(arch)
    if kind == "gated":
        return 4 * e * s.inter  # gate, act(gate), up, act(gate) * up (SwiGLU, Shazeer 2020)
    if kind == "gelu_python":
        return 5 * e * s.inter  # fc out, tanh out, 0.5 x, 1 + tanh, product (GPT-2's NewGELU)
    if kind == "relu":
        return 1 * e * s.inter  # ReLU saves its output, which fc2 saves too
    return 2 * e * s.inter  # GELU saves its input; fc2 saves GELU's output


def training_layer_bytes(arch: Architecture, s: Shape, e: int, seq: int, options: EstimateOptions) -> float:
    """Bytes per token one transformer layer saves for backward (Korthikanti et al. 2022, op by op for HF)."""
    h = s.hidden
    if family_is(arch, PARALLEL_BLOCK):
        norms = _norm_saved(arch, e, h)  # one norm feeds attention and MLP (GPT-J, Phi-2, Falcon)
    elif family_is(arch, GEMMA_NORM):
        norms = 2 * _norm_saved(arch, e, h) + 2 * _norm_saved(arch, e, h, feeds_linear=False)  # pre and post
    else:
        norms = 2 * _norm_saved(arch, e, h)
    dropout = 2 * h if family_is(arch, DROPOUT) else 0  # two dropout sites, 1-byte masks (Korthikanti)
    return norms + _attention_saved(arch, s, e, seq, options) + _mlp_saved(arch, s, e) + dropout


def training_layer_bytes_per_token(
    arch: Architecture, dtype_bytes: int, seq_len: int = 0, attention: str = "sdpa"
) -> float:
    """Bytes one transformer layer saves for backward per token (see _training_layer_bytes)."""
    options = EstimateOptions(mode="training", seq_len=max(seq_len, 1), attention=attention)
    return training_layer_bytes(arch, layer_shape(arch, "model", "training"), dtype_bytes, seq_len, options)


def top_saved(arch: Architecture, s: Shape, e: int, encoder: bool) -> float:
    """Bytes per token saved outside the layers: final norm, encoder embedding norm and MLM head transform."""
    h = s.hidden
    saved = h if family_is(arch, DROPOUT) else 0  # embedding dropout mask
    if encoder:  # post-LN: no final norm, but an embedding LayerNorm and the MLM head's transform
        return saved + 2 * e * h + 3 * e * h  # LN in/out; dense out (GELU input), GELU out, LayerNorm out
    return saved + _norm_saved(arch, e, h)


def loss_bytes(arch: Architecture, e: int, encoder: bool) -> tuple[float, float, float]:
    """(forward transient, saved, backward-start transient) bytes per token per vocabulary entry.

    transformers' ForCausalLMLoss upcasts the logits (logits.float()) and cross_entropy saves log_softmax's
    output; backward holds that, nll's gradient and log_softmax's gradient at once. Masked-LM heads call
    CrossEntropyLoss on the logits as they are.
    """
    loss_e = e if encoder else 4
    upcast = 4 if (loss_e == 4 and e < 4) else 0
    softcap = e if family_is(arch, FINAL_SOFTCAP) else 0  # tanh output kept
    forward = e + upcast + loss_e + softcap
    saved = loss_e + softcap
    backward = 3 * loss_e + softcap
    return forward, saved, backward


def inference_live(
    arch: Architecture, s: Shape, e: int, batch: int, tokens: int, options: EstimateOptions, encoder: bool
) -> float:
    """Largest live set of a prefill forward under no_grad: one layer's temporaries + hidden states."""
    t = batch * tokens
    kind = mlp_kind(arch)
    mlp = {"gated": 3, "gelu_python": 4, "gelu": 2, "relu": 2}[kind] * e * s.inter  # gate/act/up or fc/act
    if s.experts:  # grouped experts: all top_k rows per token at once (gathered input, gate_up, act, product)
        mlp = s.top_k * e * max(4 * s.hidden, s.hidden + 4 * s.expert_width) + 3 * e * s.shared_width
    attn = e * (3 * s.q + 3 * s.kv)  # q, k, v, their RoPE'd copies, the output
    if (
        options.attention == "eager"
    ):  # per query token: heads x keys scores + the float causal mask (masking_utils)
        attn += s.heads * tokens * eager_prefill_scores(arch, e, s.layers) + tokens * e
        attn += 2 * e * (s.q - s.kv)  # repeat_kv copies K and V out to every query head
    hidden_states = 4 + (2 if family_is(arch, ABSOLUTE_POSITIONS_IN_FORWARD) else 0)
    layer = t * (max(mlp, attn) + hidden_states * e * s.hidden)
    if encoder:  # the MLM head's logits for every position, after the layers are done
        return max(layer, t * (s.vocab * e + 2 * e * s.hidden))
    return layer + batch * s.vocab * (e + 4)  # generation: last position's logits + their fp32 copy
