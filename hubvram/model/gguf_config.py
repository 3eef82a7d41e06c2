"""A GGUF's metadata as hubvram's architecture fields: the `{general.architecture}.*` keys llama.cpp reads.

Each key's llama.cpp name (`LLM_KV_*` in src/llama-arch.cpp) is beside it in fetch/gguf_types.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..fetch import gguf_types as gt
from ..fetch.gguf import GgufArray


def gguf_architecture(metadata: Mapping[str, object]) -> dict[str, object]:
    """hubvram's field names for the model a GGUF describes (fields the file lacks are left out).

    Per-layer keys (head counts, feed-forward lengths) come back as tuples. head_dim defaults as in
    llama-model.cpp (embedding_length / head_count of layer 0); vocab_size falls back to the tokens
    array's length (src/models/llama.cpp); sliding_window_layers follows gguf_types.SWA_DEFAULTS.
    """
    arch = metadata.get("general.architecture")
    out: dict[str, object] = {"model_type": arch} if isinstance(arch, str) else {}
    for field, key in gt.GENERAL_KEYS:
        if key in metadata:
            out[field] = metadata[key]
    ftype = out.get("file_type")
    if isinstance(ftype, int):
        name = gt.LLAMA_FTYPES.get(
            ftype & ~gt.LLAMA_FTYPE_GUESSED, f"UNKNOWN_{ftype & ~gt.LLAMA_FTYPE_GUESSED}"
        )
        out["file_type_name"] = name + (" (guessed)" if ftype & gt.LLAMA_FTYPE_GUESSED else "")
    if not isinstance(arch, str):
        return out
    for field, suffix in gt.ARCH_KEYS:
        value = metadata.get(f"{arch}.{suffix}")
        if value is not None and not isinstance(value, GgufArray):
            out[field] = value
    tokens = metadata.get("tokenizer.ggml.tokens")
    if "vocab_size" not in out and isinstance(tokens, (tuple, GgufArray)):
        out["vocab_size"] = tokens.count if isinstance(tokens, GgufArray) else len(tokens)
    heads = out.get("num_attention_heads")
    if heads is not None and "num_key_value_heads" not in out:
        out["num_key_value_heads"] = heads  # llama-model.cpp: "n_head_kv is optional, default to n_head"
    head0 = heads[0] if isinstance(heads, tuple) and heads else heads
    if isinstance(head0, int) and head0 and isinstance(out.get("hidden_size"), int):
        out.setdefault("head_dim", out["hidden_size"] // head0)  # llama-model.cpp n_embd_head_k default
        out.setdefault("value_head_dim", out["hidden_size"] // head0)  # and n_embd_head_v
    if "kv_lora_rank" in out and "rope_dim" in out:  # MLA: the rotary part of each key head
        out["qk_rope_head_dim"] = out["rope_dim"]
    layers = _sliding_layers(arch, out)
    if layers is not None:
        default = gt.SWA_DEFAULTS.get(arch)
        out["sliding_window_layers"] = layers
        out["sliding_window_type"] = default.kind if default else "standard"
        if default and default.window and (arch == "llama4" or "sliding_window" not in out):
            out["sliding_window"] = default.window  # llama4.cpp forces 8192; gemma2.cpp defaults 4096
    return out


def _sliding_layers(arch: str, fields: Mapping[str, object]) -> tuple[bool, ...] | None:
    n_layer, pattern, window = (
        fields.get("num_layers"),
        fields.get("sliding_window_pattern"),
        fields.get("sliding_window"),
    )
    if isinstance(pattern, tuple):
        return tuple(bool(x) for x in pattern)  # an explicit per-layer list (gemma4, step35, ...)
    default = gt.SWA_DEFAULTS.get(arch)
    if (
        default is None
        or default.when == "array"
        or not (isinstance(n_layer, int) and 0 < n_layer <= gt.LLAMA_MAX_LAYERS)
    ):
        return None
    if (default.when == "window" and not (isinstance(window, int) and window > 0)) or (
        default.when == "unless_zero" and window == 0
    ):
        return None
    period = pattern if isinstance(pattern, int) else default.period
    if default.dense_first:  # llama-hparams.cpp set_swa_pattern
        return tuple(period == 0 or il % period != 0 for il in range(n_layer))
    return tuple(period == 0 or il % period < period - 1 for il in range(n_layer))
