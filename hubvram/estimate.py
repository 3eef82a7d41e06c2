"""The estimator: ModelFacts + EstimateOptions in, an Estimate (bytes per component, peak total) out.

Pure arithmetic: no I/O, no globals that change. Every formula cites its source on the line beside it.
Memory is modelled as it happens in a PyTorch/transformers step, phase by phase, and the total is the
largest phase, not the sum of every component:

- inference: ``prefill`` (weights + KV cache of the prompt + one layer's temporaries + last-token
  logits) and ``decode`` (weights + the full KV cache + the copy made while it grows);
- training: ``forward`` (weights + optimizer state + saved activations + logits and loss),
  ``backward`` (the loss gradient over the logits beside every saved activation, then the gradients),
  ``optimizer_step`` (weights + gradients + optimizer state + the optimizer's scratch).

Activation counts are bytes saved for backward per token, per layer, counted op by op in the
transformers implementations (the method of Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", section 4) and checked against torch's memory profiler by
``benchmarks/accuracy.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from hubvram.errors import MissingField, UsageError
from hubvram.facts import Architecture, ModelFacts

MODES = ("inference", "training")
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "adagrad", "rmsprop", "adamw-8bit")
DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "int4", "nf4")
FLOAT_DTYPES = ("fp32", "fp16", "bf16")
QUANTIZED_DTYPES = ("fp8", "int8", "int4", "nf4")
KV_CACHE_DTYPES = ("fp32", "fp16", "bf16", "fp8")
MIXED_PRECISION = ("bf16", "fp16")
OFFLOAD = ("none", "cpu", "nvme")
ATTENTION = ("sdpa", "eager")
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
ZERO_STAGES = (0, 1, 2, 3)

COMPONENT_KEYS = ("weights", "kv_cache", "activations", "gradients", "optimizer_states", "overhead")

# Bytes per element of an unquantized dtype.
_FLOAT_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}
# Safetensors / config dtype names -> ours.
_DTYPE_ALIASES = {
    "F32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "F16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "BF16": "bf16",
    "bfloat16": "bf16",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
    "float8_e4m3fn": "fp8",
}

# Runtime overhead of one GPU process, documented rather than measured (a CPU has none):
# the CUDA context with lazy module loading, ~0.3-0.5 GB (PyTorch "CUDA semantics" notes);
CUDA_CONTEXT_BYTES = 500 * 2**20
# cuBLAS's workspace per handle on Hopper (NVIDIA cuBLAS docs, cublasSetWorkspace);
CUBLAS_WORKSPACE_BYTES = 32 * 2**20
# the caching allocator's block rounding and fragmentation, ~5% of the peak (PyTorch memory_stats docs).
ALLOCATOR_SLACK = 0.05

# Parameters per 4-bit/8-bit block and the bytes of its scale (see _weight_bytes_per_param).
NF4_BLOCK = 64  # QLoRA (Dettmers et al. 2023): blocksize 64, one fp32 absmax per block
INT4_GROUP = 128  # GPTQ/AWQ: group size 128, an fp16 scale and a packed 4-bit zero point per group
FP8_BLOCK = 128 * 128  # DeepSeek-V3 FP8: one fp32 scale per 128x128 weight block
ADAM8BIT_BLOCK = 2048  # Dettmers et al. 2022, 8-bit Optimizers via Block-wise Quantization: blocks of 2048

# Model families by trait, matched on config model_type exactly (``_family_is``). Counts below were taken op
# by op from the transformers 5 implementations and checked per layer with torch's saved-tensor hooks.
_LAYERNORM = {
    "gpt2",
    "gptj",
    "gpt_neo",
    "gpt_neox",
    "opt",
    "bert",
    "roberta",
    "distilbert",
    "xlm-roberta",
    "electra",
    "camembert",
    "phi",
    "falcon",
    "refinedweb",
    "refinedwebmodel",
    "bloom",
    "stablelm",
    "whisper",
    "codegen",
    "mpt",
    "starcoder2",
    "gpt_bigcode",
    "albert",
    "mpnet",
    "deberta",
    "deberta-v2",
    "t5",
    "mt5",
    "bart",
}
_GEMMA_NORM = {"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma3n_text", "t5gemma", "vaultgemma"}
_PARALLEL_BLOCK = {
    "phi",
    "gptj",
    "falcon",
    "refinedweb",
    "refinedwebmodel",
    "codegen",
}  # attn + MLP from one norm
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2", "olmoe", "qwen3_next", "smollm3"}
_FUSED_QKV_ROPE = {"phi3", "gpt_neox", "falcon", "refinedweb", "refinedwebmodel", "chatglm", "internlm2"}
_DROPOUT = {
    "gpt2",
    "gptj",
    "gpt_neo",
    "opt",
    "bert",
    "roberta",
    "distilbert",
    "xlm-roberta",
    "electra",
    "camembert",
    "phi",
    "albert",
    "mpnet",
    "deberta",
    "deberta-v2",
    "whisper",
    "t5",
    "mt5",
    "bart",
    "gpt_bigcode",
    "codegen",
}
_ENCODER_ONLY = {
    "bert",
    "roberta",
    "distilbert",
    "xlm-roberta",
    "electra",
    "camembert",
    "albert",
    "mpnet",
    "deberta",
    "deberta-v2",
    "modernbert",
    "nomic_bert",
    "xlm",
}
_NO_ROPE = {
    "gpt2",
    "opt",
    "bert",
    "roberta",
    "distilbert",
    "xlm-roberta",
    "electra",
    "camembert",
    "bloom",
    "albert",
    "mpnet",
    "deberta",
    "deberta-v2",
    "whisper",
    "t5",
    "mt5",
    "bart",
    "gpt_bigcode",
    "mpt",
    "xlm",
}
_ABSOLUTE_POSITIONS_IN_FORWARD = {
    "gpt2",
    "gpt_bigcode",
    "gpt_neo",
    "imagegpt",
}  # keep token + position embeds alive
_GATED = {
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi3",
    "phimoe",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "olmo",
    "olmo2",
    "olmoe",
    "granite",
    "granitemoe",
    "cohere",
    "cohere2",
    "internlm2",
    "exaone",
    "glm",
    "glm4",
    "minicpm",
    "t5gemma",
    "smollm3",
    "vaultgemma",
    "mistral3",
    "ministral",
    "qwen3_next",
    "hunyuan_v1_dense",
    "arcee",
    "helium",
    "stablelm",
}
_PARTIAL_ROTARY = {"phi", "stablelm", "persimmon", "gpt_neox"}  # partial_rotary_factor / rotary_pct < 1
_FINAL_SOFTCAP = {"gemma2"}  # final_logit_softcapping: logits / cap, tanh, x cap (Gemma 2 report)
# GELUs written as elementwise Python ops (GPT-2's NewGELU): backward keeps 5 tensors of the MLP width.
_GELU_PYTHON = ("gelu_new", "gelu_fast", "quick_gelu", "gelu_python")


@dataclass(frozen=True)
class EstimateOptions:
    """One scenario: how the model is run (inference or one training step) and with what settings."""

    mode: str = "inference"  # "inference" | "training"
    dtype: str | None = None  # None = as stored; one of DTYPES (training: pure dtype, or the QLoRA base)
    batch_size: int = 1  # training: the micro-batch
    seq_len: int = 2048  # inference: prompt + generated tokens held in the KV cache; training: per sample
    new_tokens: int = 0  # inference: how many of seq_len are generated (prefill runs on seq_len - new_tokens)
    optimizer: str = "adamw"
    overhead: int | None = None  # None = auto (CUDA context + cuBLAS workspace + allocator slack), 0 = none
    mixed_precision: str | None = None  # "bf16"/"fp16": fp32 master weights and states, autocast compute
    gradient_checkpointing: bool = False
    grad_accumulation: int = 1  # micro-batches per optimizer step (gradients then live through the forward)
    lora_rank: int | None = None  # LoRA adapters on a frozen base (QLoRA when dtype is nf4/int4/int8)
    lora_targets: tuple[str, ...] = ("q", "v")  # PEFT's default for Llama-style models; "all" = every linear
    zero_stage: int = 0  # ZeRO/FSDP: 1 shards optimizer states, 2 + gradients, 3 + parameters over num_gpus
    num_gpus: int = 1  # data-parallel GPUs for ZeRO sharding
    offload: str = "none"  # "cpu"/"nvme": optimizer states (and with ZeRO-3 the parameters) leave the GPU
    tensor_parallel: int = 1  # inference: weights, KV heads and activations split over this many GPUs
    kv_cache_dtype: str | None = None  # None = the compute dtype
    attention: str = "sdpa"  # "sdpa" (flash/memory-efficient: no seq x seq scores) | "eager"

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, str):
            object.__setattr__(
                self, "lora_targets", tuple(t.strip() for t in self.lora_targets.split(",") if t)
            )
        elif isinstance(self.lora_targets, list):
            object.__setattr__(self, "lora_targets", tuple(self.lora_targets))

    @property
    def prompt_tokens(self) -> int:
        return self.seq_len - self.new_tokens

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["lora_targets"] = list(self.lora_targets)
        return data


@dataclass(frozen=True)
class Estimate:
    """Peak memory of one scenario on one GPU, with its breakdown.

    ``components`` is the breakdown at the peak: it always holds COMPONENT_KEYS (plus extras such as
    ``lora_adapters`` or ``optimizer_scratch``) and sums to ``total``. ``phases`` holds the breakdown of
    every phase of the step; ``peak_phase`` names the largest. ``resident`` gives each component's
    largest size over the phases (e.g. all the gradients, even when the peak falls before they exist).
    """

    options: EstimateOptions
    components: Mapping[str, int]
    total: int
    replicated_bytes: int  # bytes every GPU holds when split across cards (overhead, activations)
    peak_phase: str = ""
    phases: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def resident(self) -> dict[str, int]:
        keys = {k for phase in self.phases.values() for k in phase} | set(self.components)
        return {
            k: max([p.get(k, 0) for p in self.phases.values()] + [self.components.get(k, 0)]) for k in keys
        }

    def to_dict(self) -> dict[str, Any]:
        opts = self.options
        return {
            "mode": opts.mode,
            "dtype": opts.dtype,
            "batch_size": opts.batch_size,
            "seq_len": opts.seq_len,
            "options": opts.to_dict(),
            "components": dict(self.components),
            "total": self.total,
            "peak_phase": self.peak_phase,
            "phases": {name: dict(parts) for name, parts in self.phases.items()},
            "replicated_bytes": self.replicated_bytes,
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------------------------------------------
# Small pure helpers


def dtype_name(name: str | None) -> str | None:
    """Our name for a safetensors/config/torch dtype name ("BF16", "bfloat16" -> "bf16"); None if unknown."""
    if name is None:
        return None
    if name in DTYPES:
        return name
    return _DTYPE_ALIASES.get(name) or _DTYPE_ALIASES.get(str(name).replace("torch.", ""))


def stored_compute_dtype(facts: ModelFacts) -> str:
    """The float dtype the model computes in as stored: the headers' commonest, else the config's."""
    floats: dict[str, int] = {}
    for raw, count in facts.parameters.by_dtype.items():
        ours = dtype_name(raw)
        if ours in FLOAT_DTYPES:
            floats[ours] = floats.get(ours, 0) + count
    if floats:
        return max(floats, key=lambda k: floats[k])
    named = dtype_name(facts.architecture.torch_dtype)
    if named in FLOAT_DTYPES:
        return named
    return "bf16"  # quantized-only checkpoints (GPTQ/AWQ/bnb/FP8) compute in 16-bit


def weight_bytes_per_param(dtype: str, in_features: int | None = None) -> float:
    """Bytes one weight takes in memory at ``dtype``, scales included."""
    if dtype in ("fp32", "fp16", "bf16"):
        return float(_FLOAT_BYTES[dtype])
    if dtype == "fp8":
        return 1 + 4 / FP8_BLOCK  # e4m3 + a fp32 scale per 128x128 block (DeepSeek-V3 / vLLM block FP8)
    if dtype == "int8":
        return 1 + 4 / (in_features or 4096)  # LLM.int8 (Dettmers et al. 2022): one fp32 scale per output row
    if dtype == "int4":
        return 0.5 + 2.5 / INT4_GROUP  # GPTQ (Frantar et al. 2023): fp16 scale + 4-bit zero per group of 128
    if dtype == "nf4":
        return 0.5 + 4 / NF4_BLOCK  # QLoRA (Dettmers et al. 2023): one fp32 absmax per block of 64
    raise UsageError(f"unknown dtype {dtype!r}; accepted: {', '.join(DTYPES)}")


def optimizer_state_bytes_per_param(optimizer: str, state_bytes: int) -> float:
    """Bytes of optimizer state per trainable parameter, states kept in ``state_bytes``-byte floats."""
    if optimizer == "sgd":
        return 0.0  # plain SGD keeps nothing (torch.optim.SGD, momentum=0)
    if optimizer in ("sgd-momentum", "adagrad", "rmsprop"):
        return 1.0 * state_bytes  # momentum_buffer / state_sum / square_avg (torch.optim docs)
    if optimizer in ("adam", "adamw"):
        return 2.0 * state_bytes  # exp_avg + exp_avg_sq (Kingma & Ba 2015; torch.optim.AdamW)
    if optimizer == "adamw-8bit":
        return 2 * (1 + 4 / ADAM8BIT_BLOCK)  # two uint8 states + fp32 absmax per block (Dettmers et al. 2022)
    raise UsageError(f"unknown optimizer {optimizer!r}; accepted: {', '.join(OPTIMIZERS)}")


def optimizer_scratch_bytes_per_param(optimizer: str, state_bytes: int) -> float:
    """Scratch the multi-tensor (foreach) step allocates per parameter, its default on GPU (torch.optim)."""
    if optimizer in ("adam", "adamw", "adagrad", "rmsprop"):
        return 1.0 * state_bytes  # _foreach_sqrt(exp_avg_sq / state_sum / square_avg) -> one param-sized list
    return 0.0  # SGD updates in place; bitsandbytes' 8-bit step is one fused kernel


def kv_cache_bytes_per_token(arch: Architecture, dtype_bytes: float) -> int:
    """KV cache bytes one token adds across every layer with full attention (no window cap)."""
    return int(sum(_kv_layer_bytes_per_token(arch, dtype_bytes) for _ in range(_require(arch, "num_layers"))))


def kv_cache_bytes(arch: Architecture, dtype_bytes: float, batch_size: int, tokens: int) -> int:
    """KV cache for ``tokens`` per sequence; sliding-window layers hold at most the window (Beltagy 2020)."""
    per_layer = _kv_layer_bytes_per_token(arch, dtype_bytes)
    total = 0.0
    for kind in _layer_kinds(arch):
        held = tokens
        if kind == "sliding_attention" and arch.sliding_window:
            held = min(tokens, arch.sliding_window)
        total += per_layer * held
    return int(total * batch_size)


def _kv_layer_bytes_per_token(arch: Architecture, dtype_bytes: float) -> float:
    if arch.kv_lora_rank:  # MLA caches the compressed latent + the decoupled RoPE key (DeepSeek-V2, sec. 2.1)
        return (arch.kv_lora_rank + (arch.qk_rope_head_dim or 0)) * dtype_bytes
    heads = arch.kv_heads
    head_dim = arch.attention_head_dim
    if not heads or not head_dim:
        raise MissingField("num_key_value_heads" if not heads else "head_dim", "model", "KV cache")
    return 2 * heads * head_dim * dtype_bytes  # K and V per layer (vLLM, Kwon et al. 2023; GQA, Ainslie 2023)


def _layer_kinds(arch: Architecture) -> list[str]:
    """Attention kind of every layer: the config's layer_types, else all full (Mistral: all windowed)."""
    layers = _require(arch, "num_layers")
    if arch.layer_types and len(arch.layer_types) >= layers:
        return list(arch.layer_types[:layers])
    if arch.sliding_window and _family(arch) in ("mistral", "mixtral"):
        return ["sliding_attention"] * layers  # Mistral-7B: every layer uses the 4096-token window
    if arch.sliding_window and _family(arch).startswith("gemma2"):
        return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]  # Gemma 2
    return ["full_attention"] * layers


def _require(arch: Architecture, name: str, needed_for: str = "this", model: str = "model") -> int:
    value = getattr(arch, name)
    if not value:
        raise MissingField(name, model, needed_for)
    return int(value)


def _family(arch: Architecture) -> str:
    return (arch.model_type or "").lower()


def _family_is(arch: Architecture, families: set[str]) -> bool:
    return _family(arch) in families


def is_encoder_only(arch: Architecture) -> bool:
    """Encoder-only models (BERT and kin) run one forward over the sequence and keep no KV cache."""
    if _family_is(arch, _ENCODER_ONLY):
        return True
    names = " ".join(arch.architectures)
    return "ForMaskedLM" in names and "CausalLM" not in names


def is_gated_mlp(arch: Architecture) -> bool:
    """SwiGLU/GeGLU MLP (gate, up and down projections; Shazeer 2020) vs a plain two-layer MLP."""
    if _family_is(arch, _GATED):
        return True
    if _family_is(arch, _LAYERNORM):
        return False
    return (arch.hidden_act or "").lower() in ("silu", "swish", "swiglu")


def mlp_kind(arch: Architecture) -> str:
    """The MLP's kind: gated, gelu_python (GPT-2's tanh GELU in Python ops), gelu or relu."""
    if is_gated_mlp(arch):
        return "gated"
    act = (arch.hidden_act or "gelu").lower()
    if act in _GELU_PYTHON:
        return "gelu_python"
    return "relu" if act == "relu" else "gelu"


# ----------------------------------------------------------------------------------------------------
# Validation


def _check(options: EstimateOptions) -> None:
    def bad(name: str, value: Any, accepted: Any) -> UsageError:
        return UsageError(f"invalid {name} {value!r}; accepted: {accepted}")

    if options.mode not in MODES:
        raise bad("mode", options.mode, ", ".join(MODES))
    if options.dtype is not None and options.dtype not in DTYPES:
        raise bad("dtype", options.dtype, ", ".join(DTYPES))
    if options.optimizer not in OPTIMIZERS:
        raise bad("optimizer", options.optimizer, ", ".join(OPTIMIZERS))
    for name in ("batch_size", "seq_len", "grad_accumulation", "num_gpus", "tensor_parallel"):
        value = getattr(options, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise bad(name, value, "a positive integer")
    if not isinstance(options.new_tokens, int) or not 0 <= options.new_tokens < options.seq_len:
        raise bad(
            "new_tokens", options.new_tokens, f"an integer from 0 to seq_len - 1 ({options.seq_len - 1})"
        )
    if options.overhead is not None and (not isinstance(options.overhead, int) or options.overhead < 0):
        raise bad("overhead", options.overhead, "None (auto) or a number of bytes >= 0")
    if options.mixed_precision is not None and options.mixed_precision not in MIXED_PRECISION:
        raise bad("mixed_precision", options.mixed_precision, "none, " + ", ".join(MIXED_PRECISION))
    if options.lora_rank is not None and (not isinstance(options.lora_rank, int) or options.lora_rank <= 0):
        raise bad("lora_rank", options.lora_rank, "a positive integer")
    unknown = [t for t in options.lora_targets if t not in LORA_TARGETS + ("all",)]
    if unknown or not options.lora_targets:
        raise bad(
            "lora_targets", ",".join(unknown) or "", "a comma list of " + ", ".join(LORA_TARGETS + ("all",))
        )
    if options.zero_stage not in ZERO_STAGES:
        raise bad("zero_stage", options.zero_stage, ", ".join(map(str, ZERO_STAGES)))
    if options.offload not in OFFLOAD:
        raise bad("offload", options.offload, ", ".join(OFFLOAD))
    if options.kv_cache_dtype is not None and options.kv_cache_dtype not in KV_CACHE_DTYPES:
        raise bad("kv_cache_dtype", options.kv_cache_dtype, ", ".join(KV_CACHE_DTYPES))
    if options.attention not in ATTENTION:
        raise bad("attention", options.attention, ", ".join(ATTENTION))
    if options.mode == "training":
        if options.dtype in QUANTIZED_DTYPES and options.lora_rank is None:
            raise UsageError(
                f"training with dtype {options.dtype} needs a LoRA rank (QLoRA: a frozen quantized base); "
                f"full fine-tuning accepts {', '.join(FLOAT_DTYPES)}"
            )
        if options.mixed_precision and options.dtype not in (None, "fp32") and options.lora_rank is None:
            raise UsageError(
                "mixed precision keeps fp32 master weights: leave dtype unset or fp32 "
                "(dtype bf16 alone means pure bf16)"
            )
        if options.zero_stage and options.num_gpus < 2:
            raise UsageError("ZeRO sharding needs num_gpus >= 2")


# ----------------------------------------------------------------------------------------------------
# Parameters and weights


@dataclass(frozen=True)
class _Params:
    total: int
    embedding: int  # vocab x hidden of embed_tokens (+ an untied lm_head): kept 16-bit when quantizing
    lm_head_untied: bool


def _params(facts: ModelFacts) -> _Params:
    arch = facts.architecture
    total = facts.parameters.total
    embedding = 0
    if arch.vocab_size and arch.hidden_size:
        copies = 1 if arch.tie_word_embeddings else 2  # tie_word_embeddings None: counted untied
        embedding = arch.vocab_size * arch.hidden_size * copies
        embedding = min(embedding, total)
    return _Params(total=total, embedding=embedding, lm_head_untied=not arch.tie_word_embeddings)


def _weights_bytes(facts: ModelFacts, dtype: str | None) -> float:
    """Weights in memory: as stored (exact header bytes), or re-quantized to ``dtype`` from the count."""
    if dtype is None:
        return float(facts.weights_bytes)
    params = _params(facts)
    if dtype in FLOAT_DTYPES:
        return params.total * _FLOAT_BYTES[dtype]
    # Quantizers (bitsandbytes, GPTQ, AWQ, FP8) replace nn.Linear only: embeddings and lm_head stay 16-bit.
    kept = params.embedding
    return (params.total - kept) * weight_bytes_per_param(dtype, facts.architecture.hidden_size) + kept * 2


# ----------------------------------------------------------------------------------------------------
# Activations
#
# Bytes per token. e = bytes of the compute dtype; h, q, kv, i = hidden, query heads x head_dim, KV heads x
# head_dim, MLP width. The method is Korthikanti et al. 2022 (sec. 4.1: count what each op saves for
# backward), applied to the transformers implementations rather than to Megatron's.


@dataclass(frozen=True)
class _Shape:
    """Per-layer sizes, in elements per token."""

    hidden: int
    q: int  # query heads x head_dim
    kv: int  # key/value heads x head_dim (per K or V)
    inter: int  # MLP intermediate actually run per token (MoE: active experts x expert width + shared)
    heads: int
    layers: int
    vocab: int
    layer_params: float  # parameters of one transformer layer (all experts)
    experts: int = 0  # MoE: routed experts per layer (0: dense MLP)
    top_k: int = 0  # MoE: experts each token is routed to
    expert_width: int = 0  # MoE: intermediate size of one expert
    shared_width: int = 0  # MoE: intermediate size of the shared experts together


def _shape(arch: Architecture, model: str, needed_for: str, params: _Params | None = None) -> _Shape:
    hidden = _require(arch, "hidden_size", needed_for, model)
    layers = _require(arch, "num_layers", needed_for, model)
    heads = _require(arch, "num_attention_heads", needed_for, model)
    head_dim = arch.attention_head_dim or hidden // heads
    kv_heads = arch.kv_heads or heads
    inter = arch.intermediate_size or 4 * hidden
    layer_params = max((params.total - params.embedding) / layers, 0.0) if params else 0.0
    shape = _Shape(
        hidden,
        heads * head_dim,
        kv_heads * head_dim,
        inter,
        heads,
        layers,
        arch.vocab_size or 0,
        layer_params,
    )
    if arch.is_moe:
        width = arch.moe_intermediate_size or arch.intermediate_size or 4 * hidden
        top_k = arch.num_experts_per_token or 1
        shared = width * (arch.num_shared_experts or 0)
        shape = replace(
            shape,
            inter=width * top_k + shared,
            experts=arch.num_experts or 0,
            top_k=top_k,
            expert_width=width,
            shared_width=shared,
        )
    return shape


def _norm_saved(arch: Architecture, e: int, h: int, feeds_linear: bool = True) -> float:
    """Bytes per token one norm keeps for backward (its output too when a linear consumes it)."""
    out = e * h if feeds_linear else 0
    if _family_is(arch, _LAYERNORM):
        return (
            e * h + out
        )  # nn.LayerNorm saves its input (+ mean, rstd per token); the next linear its output
    if _family_is(arch, _GEMMA_NORM):
        return (
            8 * h + out
        )  # Gemma RMSNorm: x.float() and the fp32 normalised x (scaled by 1 + weight in fp32)
    return (4 + e) * h + out  # Llama RMSNorm: x.to(fp32) for pow/mul, normalised x cast back for weight *


def _attention_saved(arch: Architecture, s: _Shape, e: int, seq: int, options: EstimateOptions) -> float:
    """Bytes per token the attention block saves: SDPA's q, k, v and output, plus what feeds them."""
    rope = not _family_is(arch, _NO_ROPE)
    saved = e * (s.q + 2 * s.kv) + e * s.q  # SDPA saves q, k, v and its output (FlashAttention-2, Dao 2023)
    saved += 4 * s.heads  # + the fp32 logsumexp per head
    if not rope:
        saved += e * s.q  # no RoPE: the head-merged output is copied before o_proj
    if rope and _family_is(arch, _PARTIAL_ROTARY):
        saved += e * (s.q + s.kv)  # rotary on part of each head: cat(rotated, pass-through) copies q and k
    if rope and _family_is(arch, _FUSED_QKV_ROPE):
        saved += e * (s.q + s.kv)  # fused qkv: V is a view, so SDPA keeps the whole qkv output alive
    if _family_is(arch, _QK_NORM):
        saved += (4 + e) * (s.q + s.kv)  # q_norm/k_norm (Qwen3, Gemma 3): fp32 copy + normalised cast
    if options.attention == "eager":  # scores per query row: b x heads x s x s (Vaswani et al. 2017)
        upcast = 4 if (rope and e < 4) else 0  # softmax in fp32 then cast back (Llama-style eager)
        softcap = e if _family_is(arch, {"gemma2"}) else 0  # tanh(scores / cap) kept
        saved += s.heads * seq * (e + upcast + softcap)
        saved += 2 * e * (s.q - s.kv)  # repeat_kv copies K and V out to every query head
    return saved


def _mlp_saved(arch: Architecture, s: _Shape, e: int) -> float:
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


def _training_layer_bytes(arch: Architecture, s: _Shape, e: int, seq: int, options: EstimateOptions) -> float:
    """Bytes per token one transformer layer saves for backward (Korthikanti et al. 2022, op by op for HF)."""
    h = s.hidden
    if _family_is(arch, _PARALLEL_BLOCK):
        norms = _norm_saved(arch, e, h)  # one norm feeds attention and MLP (GPT-J, Phi-2, Falcon)
    elif _family_is(arch, _GEMMA_NORM):
        norms = 2 * _norm_saved(arch, e, h) + 2 * _norm_saved(arch, e, h, feeds_linear=False)  # pre and post
    else:
        norms = 2 * _norm_saved(arch, e, h)
    dropout = 2 * h if _family_is(arch, _DROPOUT) else 0  # two dropout sites, 1-byte masks (Korthikanti)
    return norms + _attention_saved(arch, s, e, seq, options) + _mlp_saved(arch, s, e) + dropout


def training_layer_bytes_per_token(
    arch: Architecture, dtype_bytes: int, seq_len: int = 0, attention: str = "sdpa"
) -> float:
    """Bytes one transformer layer saves for backward per token (see _training_layer_bytes)."""
    options = EstimateOptions(mode="training", seq_len=max(seq_len, 1), attention=attention)
    return _training_layer_bytes(arch, _shape(arch, "model", "training"), dtype_bytes, seq_len, options)


def _top_saved(arch: Architecture, s: _Shape, e: int, encoder: bool) -> float:
    """Bytes per token saved outside the layers: final norm, encoder embedding norm and MLM head transform."""
    h = s.hidden
    saved = h if _family_is(arch, _DROPOUT) else 0  # embedding dropout mask
    if encoder:  # post-LN: no final norm, but an embedding LayerNorm and the MLM head's transform
        return saved + 2 * e * h + 3 * e * h  # LN in/out; dense out (GELU input), GELU out, LayerNorm out
    return saved + _norm_saved(arch, e, h)


def _loss(arch: Architecture, e: int, encoder: bool) -> tuple[float, float, float]:
    """(forward transient, saved, backward-start transient) bytes per token per vocabulary entry.

    transformers' ForCausalLMLoss upcasts the logits (logits.float()) and cross_entropy saves log_softmax's
    output; backward holds that, nll's gradient and log_softmax's gradient at once. Masked-LM heads call
    CrossEntropyLoss on the logits as they are.
    """
    loss_e = e if encoder else 4
    upcast = 4 if (loss_e == 4 and e < 4) else 0
    softcap = e if _family_is(arch, _FINAL_SOFTCAP) else 0  # tanh output kept
    forward = e + upcast + loss_e + softcap
    saved = loss_e + softcap
    backward = 3 * loss_e + softcap
    return forward, saved, backward


def _inference_live(
    arch: Architecture, s: _Shape, e: int, batch: int, tokens: int, options: EstimateOptions, encoder: bool
) -> float:
    """Largest live set of a prefill forward under no_grad: one layer's temporaries + hidden states."""
    t = batch * tokens
    kind = mlp_kind(arch)
    mlp = {"gated": 3, "gelu_python": 4, "gelu": 2, "relu": 2}[kind] * e * s.inter  # gate/act/up or fc/act
    if s.experts:  # grouped experts: all top_k rows per token at once (gathered input, gate_up, act, product)
        mlp = s.top_k * e * max(4 * s.hidden, s.hidden + 4 * s.expert_width) + 3 * e * s.shared_width
    attn = e * (3 * s.q + 3 * s.kv)  # q, k, v, their RoPE'd copies, the output
    if options.attention == "eager":
        softcap = e if _family_is(arch, {"gemma2"}) else 0
        attn += s.heads * tokens * (2 * e + 4 + softcap) + 2 * e * (s.q - s.kv)  # scores, fp32 softmax, cast
    hidden_states = 4 + (2 if _family_is(arch, _ABSOLUTE_POSITIONS_IN_FORWARD) else 0)
    layer = t * (max(mlp, attn) + hidden_states * e * s.hidden)
    if encoder:  # the MLM head's logits for every position, after the layers are done
        return max(layer, t * (s.vocab * e + 2 * e * s.hidden))
    return layer + batch * s.vocab * (e + 4)  # generation: last position's logits + their fp32 copy


# ----------------------------------------------------------------------------------------------------
# LoRA


def lora_parameters(arch: Architecture, rank: int, targets: tuple[str, ...]) -> int:
    """Adapter parameters: r x (in + out) per targeted linear per layer (Hu et al. 2021, LoRA)."""
    hidden = arch.hidden_size or 0
    layers = arch.num_layers or 0
    heads = arch.num_attention_heads or 1
    head_dim = arch.attention_head_dim or hidden // heads
    q = heads * head_dim
    kv = (arch.kv_heads or heads) * head_dim
    inter = arch.intermediate_size or 4 * hidden
    experts = 1
    if arch.is_moe:
        inter = arch.moe_intermediate_size or inter
        experts = (arch.num_experts or 1) + (arch.num_shared_experts or 0)
    shapes = {
        "q": (hidden, q),
        "k": (hidden, kv),
        "v": (hidden, kv),
        "o": (q, hidden),
        "gate": (hidden, inter),
        "up": (hidden, inter),
        "down": (inter, hidden),
    }
    chosen = LORA_TARGETS if "all" in targets else targets
    if not is_gated_mlp(arch):
        chosen = tuple(t for t in chosen if t != "gate")
    per_layer = 0
    for target in chosen:
        fan_in, fan_out = shapes[target]
        count = rank * (fan_in + fan_out)
        per_layer += count * (experts if target in ("gate", "up", "down") else 1)
    return per_layer * layers


# ----------------------------------------------------------------------------------------------------
# The estimate


def _overhead(options: EstimateOptions, peak: float) -> int:
    if options.overhead is not None:
        return options.overhead
    return int(CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES + ALLOCATOR_SLACK * peak)


def _finish(
    options: EstimateOptions,
    phases: dict[str, dict[str, float]],
    notes: list[str],
    per_gpu_activation_keys: tuple[str, ...] = ("activations",),
) -> Estimate:
    peak_phase = max(phases, key=lambda name: sum(phases[name].values()))
    peak = sum(phases[peak_phase].values())
    overhead = _overhead(options, peak)
    frozen_phases: dict[str, Mapping[str, int]] = {}
    for name, parts in phases.items():
        full = {key: 0 for key in COMPONENT_KEYS}
        full.update({key: int(round(value)) for key, value in parts.items()})
        full["overhead"] = overhead
        frozen_phases[name] = MappingProxyType(full)
    components = frozen_phases[peak_phase]
    total = sum(components.values())
    replicated = overhead + sum(components.get(key, 0) for key in per_gpu_activation_keys)
    return Estimate(
        options=options,
        components=components,
        total=total,
        replicated_bytes=replicated,
        peak_phase=peak_phase,
        phases=MappingProxyType(frozen_phases),
        notes=tuple(notes),
    )


def estimate(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    """Peak GPU memory of ``options``' scenario for the model ``facts`` describes."""
    _check(options)
    if options.mode == "inference":
        result = _estimate_inference(facts, options)
    else:
        result = _estimate_training(facts, options)
    if facts.architecture.is_encoder_decoder:
        note = (
            "encoder-decoder model: estimated as one stack of num_layers (cross-attention cache not counted)"
        )
        result = replace(result, notes=result.notes + (note,))
    return result


def _estimate_inference(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    arch = facts.architecture
    notes: list[str] = []
    compute = options.dtype if options.dtype in FLOAT_DTYPES else stored_compute_dtype(facts)
    if options.dtype in QUANTIZED_DTYPES and compute == "fp32":
        compute = "bf16"  # quantized weights compute in 16-bit (bitsandbytes/GPTQ compute dtype)
    e = _FLOAT_BYTES[compute]
    s = _shape(arch, facts.model_id, "inference")
    tp = options.tensor_parallel
    weights = _weights_bytes(facts, options.dtype)
    encoder = is_encoder_only(arch)
    if encoder:
        kv_prompt = kv_total = kv_grow = 0.0
        tokens = options.seq_len
        notes.append("encoder-only model: one forward over the sequence, no KV cache")
    else:
        for name in ("num_layers",) + (() if arch.kv_lora_rank else ("num_attention_heads", "hidden_size")):
            _require(arch, name, "inference (KV cache)", facts.model_id)
        kv_bytes = _FLOAT_BYTES[options.kv_cache_dtype or compute]
        kv_total = kv_cache_bytes(arch, kv_bytes, options.batch_size, options.seq_len)
        kv_prompt = kv_cache_bytes(arch, kv_bytes, options.batch_size, options.prompt_tokens)
        # DynamicCache grows by torch.cat: one layer's old and new cache coexist for a moment (transformers).
        kv_grow = kv_total / s.layers if options.new_tokens else 0.0
        tokens = options.prompt_tokens
        if arch.kv_lora_rank:
            notes.append(
                "MLA: the KV cache holds the compressed latent (kv_lora_rank + qk_rope_head_dim), "
                "as vLLM and SGLang store it"
            )
        windows = [k for k in _layer_kinds(arch) if k == "sliding_attention"]
        if windows and arch.sliding_window and options.seq_len > arch.sliding_window:
            notes.append(
                f"{len(windows)} sliding-window layers hold at most {arch.sliding_window} tokens of cache"
            )
    activations = _inference_live(arch, s, e, options.batch_size, tokens, options, encoder)
    if (
        tp > 1
    ):  # Megatron tensor parallelism: weights, KV heads and per-layer activations split (Shoeybi et al. 2019)
        kv_split = min(tp, arch.kv_heads or tp) if not arch.kv_lora_rank else 1
        weights /= tp
        kv_total, kv_prompt, kv_grow = (x / kv_split for x in (kv_total, kv_prompt, kv_grow))
        activations /= tp
        if kv_split < tp:
            notes.append(
                f"{arch.kv_heads} KV heads over {tp} GPUs: each GPU holds a 1/{kv_split} share of the cache"
            )
    phases = {
        "prefill": {"weights": weights, "kv_cache": kv_prompt, "activations": activations},
        "decode": {"weights": weights, "kv_cache": kv_total, "activations": kv_grow},
    }
    if options.new_tokens == 0 and not encoder:
        phases["prefill"]["kv_cache"] = kv_total
        del phases["decode"]
    if encoder:
        del phases["decode"]
    if options.dtype in QUANTIZED_DTYPES:
        notes.append(
            f"weights re-quantized to {options.dtype} (scales included); embeddings and lm_head stay 16-bit"
        )
    return _finish(options, phases, notes)


def _estimate_training(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    arch = facts.architecture
    notes: list[str] = []
    params = _params(facts)
    s = _shape(arch, facts.model_id, "training", params)
    n = options.num_gpus if options.zero_stage else 1
    lora = options.lora_rank is not None
    encoder = is_encoder_only(arch)

    if options.mixed_precision:
        compute, param_dtype = options.mixed_precision, "fp32"
    elif options.dtype in FLOAT_DTYPES:
        compute = param_dtype = options.dtype
    elif options.dtype in QUANTIZED_DTYPES:  # QLoRA: quantized frozen base, bf16 compute
        compute = param_dtype = "bf16"
    else:
        compute = param_dtype = stored_compute_dtype(facts)
    e = _FLOAT_BYTES[compute]
    p_bytes = _FLOAT_BYTES[param_dtype]

    # What is trained, and in which dtypes (weights / gradients / optimizer states).
    autocast_copies = dequantized = 0.0
    if lora:
        weights = _weights_bytes(facts, options.dtype)
        trainable = lora_parameters(arch, options.lora_rank or 0, options.lora_targets)
        adapters = trainable * 4.0  # PEFT keeps adapters in fp32 (autocast_adapter_dtype=True)
        state_bytes = grad_bytes = 4
        notes.append(
            f"LoRA rank {options.lora_rank} on {','.join(options.lora_targets)}: "
            f"{trainable:,} trainable parameters in fp32; activations counted as for full fine-tuning"
        )
        if options.dtype in QUANTIZED_DTYPES:  # bitsandbytes dequantizes one weight at a time to 16-bit
            dequantized = 2.0 * s.hidden * max(s.inter, s.q, s.hidden)
    else:
        trainable = params.total
        adapters = 0.0
        state_bytes = grad_bytes = p_bytes
        recast = options.dtype or options.mixed_precision
        weights = params.total * p_bytes if recast else float(facts.weights_bytes)
        if options.mixed_precision:  # autocast caches a 16-bit copy of each weight it casts (torch.amp docs)
            autocast_copies = params.total * e
            notes.append(
                f"mixed precision {options.mixed_precision}: fp32 master weights, gradients and optimizer "
                "states; autocast keeps a 16-bit copy of the weights during forward and backward"
            )
    gradients = trainable * grad_bytes
    states = trainable * optimizer_state_bytes_per_param(options.optimizer, state_bytes)
    scratch = trainable * optimizer_scratch_bytes_per_param(options.optimizer, state_bytes)

    # ZeRO (Rajbhandari et al. 2020): stage 1 shards optimizer states, 2 also gradients, 3 also parameters.
    gathered = 0.0
    if options.zero_stage >= 1:
        states, scratch = states / n, scratch / n
    if options.zero_stage >= 2:
        gradients /= n
    if options.zero_stage >= 3:
        weights, adapters = weights / n, adapters / n
        gathered = 2 * s.layer_params * e  # one layer gathered + one prefetched (ZeRO-3 / FSDP)
        notes.append(f"ZeRO-3 over {n} GPUs: parameters, gradients and optimizer states sharded")
    elif options.zero_stage:
        notes.append(f"ZeRO-{options.zero_stage} over {n} GPUs")
    if options.offload != "none":
        off = states + (weights if options.zero_stage >= 3 else 0)
        what = "optimizer states and parameters" if options.zero_stage >= 3 else "optimizer states"
        notes.append(f"{what} offloaded to {options.offload}: {off / 1e9:.1f} GB there (ZeRO-Offload)")
        if options.zero_stage >= 3:
            weights = 0.0
        states = scratch = 0.0  # the CPU optimizer (DeepSpeedCPUAdam) steps there

    # Activations: saved for backward at the end of the forward, then what backward adds on top.
    tokens = options.batch_size * options.seq_len
    layer = tokens * _training_layer_bytes(arch, s, e, options.seq_len, options)
    top = tokens * _top_saved(arch, s, e, encoder)
    loss_forward, loss_saved, loss_backward = (tokens * s.vocab * x for x in _loss(arch, e, encoder))
    if (
        options.gradient_checkpointing
    ):  # HF checkpoints every layer: only its input is kept (Chen et al. 2016)
        saved = s.layers * tokens * e * s.hidden + top
    else:
        saved = s.layers * layer + top
    tied = bool(arch.tie_word_embeddings)
    embed_grad = s.vocab * s.hidden * grad_bytes if not lora else 0.0
    # Gradients from earlier micro-batches stay alive through the next forward (gradient accumulation).
    held = gradients if options.grad_accumulation > 1 else 0.0

    base: dict[str, float] = {"weights": weights, "optimizer_states": states}
    if adapters:
        base["lora_adapters"] = adapters
    if gathered:
        base["zero3_gathered"] = gathered
    if dequantized:
        base["dequantized_weight"] = dequantized
    live = dict(base, **({"autocast_weights": autocast_copies} if autocast_copies else {}))
    forward = dict(live, gradients=held, activations=saved + loss_forward)
    # Backward, at its start: nll and log_softmax gradients beside every saved activation.
    start = dict(live, gradients=held, activations=saved + loss_backward)
    # ... then the lm_head's weight gradient, beside the logits' gradient in the compute dtype.
    head = dict(
        live,
        gradients=held + (embed_grad if not tied else 0.0),
        activations=saved + tokens * (s.vocab * e + s.hidden * e) + (embed_grad if tied else 0.0),
    )
    # ... at its end: every gradient; a tied embedding's two gradients are summed out of place (autograd's
    # InputBuffer), so the embedding gradient and the sum briefly sit beside the lm_head's.
    end = dict(live, gradients=gradients, activations=2 * embed_grad if tied else 0.0)
    backward = [start, head, end]
    if options.gradient_checkpointing:  # the first layer recomputed last, with nearly every gradient present
        first_layer_grads = s.layer_params * grad_bytes if not lora else 0.0
        recompute = layer + tokens * 2 * e * (s.inter + s.hidden)  # its saved tensors + the gradients flowing
        backward.append(
            dict(
                live,
                gradients=gradients - first_layer_grads - (0.0 if tied else embed_grad),
                activations=saved + recompute,
            )
        )
    step = dict(base, gradients=gradients, optimizer_scratch=scratch, activations=0.0)
    phases: dict[str, dict[str, float]] = {
        "forward": forward,
        "backward": max(backward, key=lambda d: sum(d.values())),
        "optimizer_step": step,
    }
    if options.grad_accumulation > 1:
        notes.append(
            f"gradient accumulation over {options.grad_accumulation} micro-batches of {options.batch_size}: "
            "gradients stay alive during each forward"
        )
    if options.gradient_checkpointing:
        notes.append(
            "gradient checkpointing: each layer keeps its input; backward recomputes one layer at a time"
        )
    if options.attention == "eager":
        notes.append("eager attention keeps batch x heads x seq x seq scores per layer")
    peak = max(phases, key=lambda name: sum(phases[name].values()))
    if peak != "optimizer_step" and not held:
        notes.append(f"peak during {peak}: gradients are not allocated yet (zero_grad(set_to_none=True))")
    return _finish(options, phases, notes)


__all__ = [
    "COMPONENT_KEYS",
    "DTYPES",
    "OPTIMIZERS",
    "Estimate",
    "EstimateOptions",
    "dtype_name",
    "estimate",
    "is_encoder_only",
    "is_gated_mlp",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "lora_parameters",
    "mlp_kind",
    "training_layer_bytes_per_token",
    "optimizer_state_bytes_per_param",
    "optimizer_scratch_bytes_per_param",
    "stored_compute_dtype",
    "weight_bytes_per_param",
]
