"""Family knowledge: which transformers families share a trait, matched on config model_type exactly.

The estimator's activation counts and the parameter counter both ask these questions; this module is
the one place that answers them. Counts behind the trait sets were taken op by op from the
transformers 5 implementations and checked per layer with torch's saved-tensor hooks.
"""

from __future__ import annotations

from .facts import Architecture

# nn.LayerNorm rather than RMSNorm.
LAYERNORM = frozenset(
    {
        "gpt2", "gptj", "gpt_neo", "gpt_neox", "opt", "bert", "roberta", "distilbert", "xlm-roberta",
        "electra", "camembert", "phi", "falcon", "refinedweb", "refinedwebmodel", "bloom", "stablelm",
        "whisper", "codegen", "mpt", "starcoder2", "gpt_bigcode", "albert", "mpnet", "deberta",
        "deberta-v2", "t5", "mt5", "bart",
    }
)  # fmt: skip
# Gemma's RMSNorm computes in fp32 and scales by (1 + weight).
GEMMA_NORM = frozenset(
    {"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma3n_text", "t5gemma", "vaultgemma"}
)
# Attention and MLP fed from one norm (GPT-J, Phi-2, Falcon).
PARALLEL_BLOCK = frozenset({"phi", "gptj", "falcon", "refinedweb", "refinedwebmodel", "codegen"})
# RMSNorm on q and k per head (Qwen3, Gemma 3, OLMo 2).
QK_NORM = frozenset(
    {"qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2", "olmoe", "qwen3_next", "smollm3"}
)
# One fused qkv projection followed by RoPE.
FUSED_QKV_ROPE = frozenset(
    {"phi3", "gpt_neox", "falcon", "refinedweb", "refinedwebmodel", "chatglm", "internlm2"}
)
# Hidden-state dropout sites that keep masks in training.
DROPOUT = frozenset(
    {
        "gpt2", "gptj", "gpt_neo", "opt", "bert", "roberta", "distilbert", "xlm-roberta", "electra",
        "camembert", "phi", "albert", "mpnet", "deberta", "deberta-v2", "whisper", "t5", "mt5", "bart",
        "gpt_bigcode", "codegen",
    }
)  # fmt: skip
# Encoder-only (masked LM) families: one forward over the sequence, no KV cache.
ENCODER_ONLY = frozenset(
    {
        "bert", "roberta", "distilbert", "xlm-roberta", "electra", "camembert", "albert", "mpnet",
        "deberta", "deberta-v2", "modernbert", "nomic_bert", "xlm",
    }
)  # fmt: skip
# No rotary embedding (learned or ALiBi positions).
NO_ROPE = frozenset(
    {
        "gpt2", "opt", "bert", "roberta", "distilbert", "xlm-roberta", "electra", "camembert", "bloom",
        "albert", "mpnet", "deberta", "deberta-v2", "whisper", "t5", "mt5", "bart", "gpt_bigcode", "mpt",
        "xlm",
    }
)  # fmt: skip
# Token + position embeddings added in the forward and kept alive through it.
ABSOLUTE_POSITIONS_IN_FORWARD = frozenset({"gpt2", "gpt_bigcode", "gpt_neo", "imagegpt"})
# Gated MLP (gate, up and down projections: SwiGLU/GeGLU, Shazeer 2020).
GATED = frozenset(
    {
        "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
        "gemma3", "gemma3_text", "phi3", "phimoe", "deepseek_v2", "deepseek_v3", "gpt_oss", "olmo",
        "olmo2", "olmoe", "granite", "granitemoe", "cohere", "cohere2", "internlm2", "exaone", "glm",
        "glm4", "minicpm", "t5gemma", "smollm3", "vaultgemma", "mistral3", "ministral", "qwen3_next",
        "hunyuan_v1_dense", "arcee", "helium", "stablelm",
    }
)  # fmt: skip
PARTIAL_ROTARY = frozenset({"phi", "stablelm", "persimmon", "gpt_neox"})  # partial_rotary_factor < 1
FINAL_SOFTCAP = frozenset({"gemma2"})  # final_logit_softcapping: logits / cap, tanh, x cap (Gemma 2 report)
ATTENTION_SOFTCAP = frozenset({"gemma2"})  # attn_logit_softcapping on the eager scores
# Families whose config may leave the MLP width out because it is 4 x hidden (GPT2Config n_inner=None).
FOUR_H_MLP = frozenset({"gpt2", "gptj", "bloom", "falcon", "refinedwebmodel", "refinedweb", "gpt_neox"})
# Every layer attends within the sliding window (Mistral-7B: 4096 tokens).
ALL_LAYERS_SLIDE = frozenset({"mistral", "mixtral"})
# Eager-only in transformers 5.24: the model class leaves `_supports_sdpa` unset (BLOOM, MPT, GPT-Neo:
# hand-written attention; Gemma 2, VaultGemma: softcapping; gpt-oss: attention sinks), so from_pretrained runs
# "eager" unless asked for flash/flex attention (PreTrainedModel.get_correct_attn_implementation falls back
# to eager when `_sdpa_can_dispatch` refuses). Text families only: state-space and sparse-attention models
# are left out.
EAGER_ONLY = frozenset(
    {
        "bloom", "mpt", "gpt_neo", "gemma2", "vaultgemma", "gpt_oss", "t5gemma", "xglm", "openai-gpt",
        "gpt_neox_japanese", "cpmant", "granite_swa", "granitemoe_swa", "mimo_v2_flash", "deepseek_v4",
        "hy_v4", "xlm", "flaubert", "deberta", "deberta-v2", "mpnet", "rembert", "roformer", "megatron-bert",
        "luke", "ibert", "squeezebert", "convbert", "funnel", "fsmt", "prophetnet", "mvp", "led", "longt5",
        "switch_transformers", "pegasus_x", "nllb-moe", "speech_to_text", "speecht5", "trocr",
    }
)  # fmt: skip
# Eager attention whose softmax runs in the scores' own dtype (no fp32 upcast, no cast back): GPT-2, BERT,
# T5, BART, Whisper, Falcon (`F.softmax(scores)`; the others call softmax(dtype=float32).to(dtype)).
SOFTMAX_IN_DTYPE = frozenset(
    {
        "gpt2", "bert", "roberta", "distilbert", "xlm-roberta", "electra", "camembert", "albert",
        "t5", "mt5", "umt5", "bart", "mbart", "marian", "pegasus", "whisper", "falcon", "refinedweb",
        "refinedwebmodel",
    }
)  # fmt: skip
# ALiBi eager attention whose block loop keeps each block's (hidden, attn_weights) output alive until the
# next block returns (BloomModel/MptModel.forward: `outputs = block(...)`): one layer's probabilities more.
KEEPS_ATTN_WEIGHTS = frozenset({"bloom", "mpt"})
# BLOOM's `alibi.baddbmm(q, k^T)` stays referenced while `+ causal_mask` makes a second scores tensor.
SCORES_KEPT_BESIDE_MASKED = frozenset({"bloom"})
# Encoder-decoder families the estimator models as two stacks (estimator/seq2seq.py): T5 (relative position
# buckets, RMS-style T5LayerNorm), BART-style (LayerNorm, learned or sinusoidal positions) and Whisper
# (BART-style stacks behind a convolutional stem over log-mel frames).
T5_FAMILY = frozenset({"t5", "mt5", "umt5"})
BART_FAMILY = frozenset(
    {"bart", "mbart", "marian", "pegasus", "plbart", "blenderbot", "blenderbot-small", "m2m_100"}
)
WHISPER = frozenset({"whisper"})
# GELUs written as elementwise Python ops (GPT-2's NewGELU): backward keeps 5 tensors of the MLP width.
GELU_PYTHON = ("gelu_new", "gelu_fast", "quick_gelu", "gelu_python")


def family(arch: Architecture) -> str:
    return (arch.model_type or "").lower()


def family_is(arch: Architecture, families: frozenset[str]) -> bool:
    return family(arch) in families


def default_attention(arch: Architecture) -> tuple[str, str]:
    """The attention transformers runs when none is asked for, and why (PreTrainedModel's default is SDPA)."""
    name = family(arch) or "this model"
    if family_is(arch, EAGER_ONLY):
        return "eager", f"{name} has no SDPA path in transformers, which runs its eager attention"
    return "sdpa", f"transformers' default for {name}"


def is_seq2seq_modelled(arch: Architecture) -> bool:
    """Encoder-decoders the estimator models as two stacks (T5, BART-style, Whisper)."""
    return arch.is_encoder_decoder and family_is(arch, T5_FAMILY | BART_FAMILY | WHISPER)


def is_encoder_only(arch: Architecture) -> bool:
    """Encoder-only models (BERT and kin) run one forward over the sequence and keep no KV cache."""
    if family_is(arch, ENCODER_ONLY):
        return True
    names = " ".join(arch.architectures)
    return "ForMaskedLM" in names and "CausalLM" not in names


def is_gated_mlp(arch: Architecture) -> bool:
    """SwiGLU/GeGLU MLP (gate, up and down projections; Shazeer 2020) vs a plain two-layer MLP."""
    if family_is(arch, GATED):
        return True
    if family_is(arch, LAYERNORM):
        return False
    return (arch.hidden_act or "").lower() in ("silu", "swish", "swiglu")


def mlp_kind(arch: Architecture) -> str:
    """The MLP's kind: gated, gelu_python (GPT-2's tanh GELU in Python ops), gelu or relu."""
    if is_gated_mlp(arch):
        return "gated"
    act = (arch.hidden_act or "gelu").lower()
    if act in GELU_PYTHON:
        return "gelu_python"
    return "relu" if act == "relu" else "gelu"


def alternating_layer_types(layers: int) -> tuple[str, ...]:
    """Gemma 2's layers: even ones slide, odd ones attend globally (Gemma2Config.layer_types)."""
    return tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers))


def layer_kinds(arch: Architecture, layers: int) -> list[str]:
    """Attention kind of every layer: the config's layer_types, else by family (Mistral: all windowed)."""
    if arch.layer_types and len(arch.layer_types) >= layers:
        return list(arch.layer_types[:layers])
    if arch.sliding_window and family_is(arch, ALL_LAYERS_SLIDE):
        return ["sliding_attention"] * layers
    if arch.sliding_window and family(arch).startswith("gemma2"):
        return list(alternating_layer_types(layers))
    return ["full_attention"] * layers
