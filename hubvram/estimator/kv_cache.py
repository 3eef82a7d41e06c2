"""KV cache bytes: per token, per layer, with GQA/MQA, head_dim overrides, MLA latents and sliding windows."""

from __future__ import annotations

from ..errors import MissingField
from ..model.facts import Architecture
from ..model.families import layer_kinds
from .shape import require


def _kv_layer_bytes_per_token(arch: Architecture, dtype_bytes: float) -> float:
    if arch.kv_lora_rank:  # MLA caches the compressed latent + the decoupled RoPE key (DeepSeek-V2, sec. 2.1)
        return (arch.kv_lora_rank + (arch.qk_rope_head_dim or 0)) * dtype_bytes
    heads = arch.kv_heads
    head_dim = arch.attention_head_dim
    if not heads or not head_dim:
        raise MissingField("num_key_value_heads" if not heads else "head_dim", "model", "KV cache")
    return 2 * heads * head_dim * dtype_bytes  # K and V per layer (vLLM, Kwon et al. 2023; GQA, Ainslie 2023)


def kv_cache_bytes_per_token(arch: Architecture, dtype_bytes: float) -> int:
    """KV cache bytes one token adds across every layer with full attention (no window cap)."""
    return int(sum(_kv_layer_bytes_per_token(arch, dtype_bytes) for _ in range(require(arch, "num_layers"))))


def kv_cache_bytes(arch: Architecture, dtype_bytes: float, batch_size: int, tokens: int) -> int:
    """KV cache for ``tokens`` per sequence; sliding-window layers hold at most the window (Beltagy 2020)."""
    per_layer = _kv_layer_bytes_per_token(arch, dtype_bytes)
    total = 0.0
    for kind in layer_kinds(arch, require(arch, "num_layers")):
        held = tokens
        if kind == "sliding_attention" and arch.sliding_window:
            held = min(tokens, arch.sliding_window)
        total += per_layer * held
    return int(total * batch_size)
