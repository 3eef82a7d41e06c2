"""Bytes per parameter: weights at a precision (scales included), optimizer states, optimizer scratch;
the parameter split (embeddings stay 16-bit when a model is quantized) and LoRA's adapter count."""

from __future__ import annotations

from dataclasses import dataclass

from ..dtypes import DTYPES, FLOAT_BYTES, FLOAT_DTYPES, dtype_name
from ..errors import UsageError
from ..model.facts import Architecture, ModelFacts
from ..model.families import is_gated_mlp
from .options import LORA_TARGETS, OPTIMIZERS

# Parameters per 4-bit/8-bit block and the bytes of its scale (see _weight_bytes_per_param).
NF4_BLOCK = 64  # QLoRA (Dettmers et al. 2023): blocksize 64, one fp32 absmax per block
INT4_GROUP = 128  # GPTQ/AWQ: group size 128, an fp16 scale and a packed 4-bit zero point per group
FP8_BLOCK = 128 * 128  # DeepSeek-V3 FP8: one fp32 scale per 128x128 weight block
ADAM8BIT_BLOCK = 2048  # Dettmers et al. 2022, 8-bit Optimizers via Block-wise Quantization: blocks of 2048


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
        return float(FLOAT_BYTES[dtype])
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


@dataclass(frozen=True)
class ParamSplit:
    total: int
    embedding: int  # vocab x hidden of embed_tokens (+ an untied lm_head): kept 16-bit when quantizing
    lm_head_untied: bool


def param_split(facts: ModelFacts) -> ParamSplit:
    arch = facts.architecture
    total = facts.parameters.total
    embedding = 0
    if arch.vocab_size and arch.hidden_size:
        copies = 1 if arch.tie_word_embeddings else 2  # tie_word_embeddings None: counted untied
        embedding = arch.vocab_size * arch.hidden_size * copies
        embedding = min(embedding, total)
    return ParamSplit(total=total, embedding=embedding, lm_head_untied=not arch.tie_word_embeddings)


def weights_bytes(facts: ModelFacts, dtype: str | None) -> float:
    """Weights in memory: as stored (exact header bytes), or re-quantized to ``dtype`` from the count."""
    if dtype is None:
        return float(facts.weights_bytes)
    params = param_split(facts)
    if dtype in FLOAT_DTYPES:
        return params.total * FLOAT_BYTES[dtype]
    # Quantizers (bitsandbytes, GPTQ, AWQ, FP8) replace nn.Linear only: embeddings and lm_head stay 16-bit.
    kept = params.embedding
    return (params.total - kept) * weight_bytes_per_param(dtype, facts.architecture.hidden_size) + kept * 2


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
