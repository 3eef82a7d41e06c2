"""Meta's and Mistral's native checkpoints: their params.json as an Architecture.

Meta (github.com/meta-llama/llama `llama/model.py` ModelArgs, FeedForward): dim, n_layers, n_heads,
n_kv_heads (absent: n_heads), vocab_size (-1: the tokenizer's size, 32,000 for Llama 1/2's
tokenizer.model), multiple_of, ffn_dim_multiplier; the FFN width is derived (meta_ffn_width).
Mistral (github.com/mistralai/mistral-inference `args.py` TransformerArgs): dim, n_layers, head_dim,
hidden_dim, n_heads, n_kv_heads, vocab_size, sliding_window, moe {num_experts, num_experts_per_tok},
tied_embeddings. Neither file states the context length unless it has max_seq_len (then used).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MalformedConfig
from .config import read_architecture
from .facts import Architecture

LLAMA2_TOKENIZER_SIZE = 32_000  # Llama 1/2 tokenizer.model (sentencepiece), what vocab_size -1 means


def meta_ffn_width(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """llama/model.py FeedForward: int(2 x 4dim / 3), times the multiplier, rounded up to multiple_of."""
    hidden = int(2 * (4 * dim) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)  # 7B: 11008; 70B: 28672; L3-8B: 14336


def meta_architecture(params: Mapping[str, Any], where: str) -> Architecture:
    """A Llama from Meta's params.json (checked like any config: positive integers only)."""
    dim, multiple_of = _number(params, "dim", where), _number(params, "multiple_of", where, default=256)
    multiplier = params.get("ffn_dim_multiplier")
    if multiplier is not None and (isinstance(multiplier, bool) or not isinstance(multiplier, (int, float))):
        raise MalformedConfig(f"{where}: params.json 'ffn_dim_multiplier' is not a number")
    vocab = params.get("vocab_size", -1)
    config = {
        "model_type": "llama",
        "hidden_size": dim,
        "num_hidden_layers": params.get("n_layers"),
        "num_attention_heads": params.get("n_heads"),
        "num_key_value_heads": params.get("n_kv_heads") or params.get("n_heads"),
        "intermediate_size": meta_ffn_width(dim, multiple_of, multiplier),
        "vocab_size": LLAMA2_TOKENIZER_SIZE if vocab == -1 else vocab,
        "max_position_embeddings": params.get("max_seq_len"),
        "hidden_act": "silu",
        "tie_word_embeddings": False,  # tok_embeddings and output are separate (llama/model.py)
        "torch_dtype": "bfloat16",  # consolidated.NN.pth hold bf16 (Meta's download notes): assumed
    }
    return _read(config, where)


def mistral_architecture(params: Mapping[str, Any], where: str) -> Architecture:
    """A Mistral (or Mixtral, with a moe block) from mistral-inference's params.json."""
    moe = params.get("moe") if isinstance(params.get("moe"), dict) else None
    config = {
        "model_type": "mixtral" if moe else "mistral",
        "hidden_size": params.get("dim"),
        "num_hidden_layers": params.get("n_layers"),
        "num_attention_heads": params.get("n_heads"),
        "num_key_value_heads": params.get("n_kv_heads") or params.get("n_heads"),
        "head_dim": params.get("head_dim"),
        "intermediate_size": params.get("hidden_dim"),
        "vocab_size": params.get("vocab_size"),
        "max_position_embeddings": params.get("max_seq_len") or params.get("max_position_embeddings"),
        "sliding_window": params.get("sliding_window"),
        "hidden_act": "silu",
        "tie_word_embeddings": bool(params.get("tied_embeddings", False)),
        "num_local_experts": moe.get("num_experts") if moe else None,
        "num_experts_per_tok": moe.get("num_experts_per_tok") if moe else None,
    }
    return _read(config, where)


def _number(params: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MalformedConfig(f"{where}: params.json has no usable '{key}'")
    return value


def _read(config: dict[str, Any], where: str) -> Architecture:
    try:
        return read_architecture({k: v for k, v in config.items() if v is not None}, allow_transformers=False)
    except MalformedConfig as exc:
        raise MalformedConfig(f"{where}: {str(exc).replace('config.json', 'params.json')}") from None
