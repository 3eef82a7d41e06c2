"""From a raw config.json to an Architecture, without executing any repo code.

Field names differ by family (`n_embd`, `d_model`, `hidden_size`, ...; a vision-language model's
`text_config`); the first alias that holds a value wins. transformers' config classes supply only the
defaults a config leaves out, imported lazily (see transformers_defaults).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import MalformedConfig, printable
from .facts import Architecture, EncoderDecoder
from .families import FOUR_H_MLP, alternating_layer_types

# Field names by family, first match wins (HF configs: gpt2/bloom/falcon use n_*, t5/whisper d_model, ...).
FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "hidden_size": ("hidden_size", "n_embd", "n_embed", "d_model", "model_dim", "dim"),
    "num_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "decoder_layers"),
    "num_attention_heads": (
        "num_attention_heads",
        "n_head",
        "num_heads",
        "n_heads",
        "decoder_attention_heads",
    ),
    "num_key_value_heads": (
        "num_key_value_heads",
        "num_kv_heads",
        "n_head_kv",
        "multi_query_group_num",
        "n_kv_heads",
    ),
    "head_dim": ("head_dim", "d_kv", "kv_channels", "attention_head_dim"),
    "intermediate_size": (
        "intermediate_size",
        "n_inner",
        "ffn_dim",
        "d_ff",
        "ffn_hidden_size",
        "decoder_ffn_dim",
    ),
    "vocab_size": ("vocab_size", "padded_vocab_size", "n_vocab"),
    "max_position_embeddings": (
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",
        "seq_length",
        "n_ctx",
        "max_sequence_length",
        "max_target_positions",
    ),
    "num_experts": ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"),
    "num_experts_per_token": ("num_experts_per_tok", "experts_per_token", "moe_topk", "num_selected_experts"),
    "num_shared_experts": ("n_shared_experts", "num_shared_experts"),
    "moe_intermediate_size": ("moe_intermediate_size", "expert_intermediate_size"),
    "kv_lora_rank": ("kv_lora_rank",),
    "qk_rope_head_dim": ("qk_rope_head_dim",),
    "qk_nope_head_dim": ("qk_nope_head_dim",),
    "v_head_dim": ("v_head_dim",),
    "first_dense_layers": ("first_k_dense_replace",),
    "mtp_layers": ("num_nextn_predict_layers",),
    "sliding_window": ("sliding_window", "sliding_window_size", "attention_window_size"),
    "hidden_act": ("hidden_act", "hidden_activation", "activation_function", "activation"),
}
CORE_FIELDS = ("hidden_size", "num_layers", "num_attention_heads", "vocab_size")
NESTED_TEXT_CONFIGS = ("text_config", "language_config", "llm_config", "thinker_config")


def read_architecture(config: Mapping[str, Any], *, allow_transformers: bool = True) -> Architecture:
    """Normalise a raw config.json into an Architecture, without executing any repo code."""
    text = _text_config(config)
    values: dict[str, Any] = {name: _first(text, aliases) for name, aliases in FIELD_ALIASES.items()}
    if allow_transformers and any(values[name] is None for name in CORE_FIELDS):
        defaults = transformers_defaults(text)
        for name, aliases in FIELD_ALIASES.items():
            if values[name] is None:
                values[name] = _first(defaults, aliases)
    values = {name: _checked(name, value, text) for name, value in values.items()}
    values["num_key_value_heads"] = _kv_heads(text, values)
    _check_head_geometry(values)
    if text.get("use_sliding_window") is False:
        values["sliding_window"] = None  # Qwen2 configs carry a window they do not use
    if values["intermediate_size"] is None and values["hidden_size"] and _family(text) in FOUR_H_MLP:
        values["intermediate_size"] = 4 * values["hidden_size"]  # GPT2Config n_inner=None means 4 x n_embd
    if values["num_experts"] is not None and values["num_experts"] <= 1:
        values["num_experts"] = None
    is_encoder_decoder = bool(config.get("is_encoder_decoder")) or "encoder_layers" in config
    return Architecture(
        model_type=clean_text(config.get("model_type")),
        architectures=tuple(clean_text(a) for a in _list(config.get("architectures")) if isinstance(a, str)),
        layer_types=_layer_types(text, values),
        tie_word_embeddings=_tied(config, text),
        is_encoder_decoder=is_encoder_decoder,
        seq2seq=_encoder_decoder(text) if is_encoder_decoder else None,
        torch_dtype=clean_text(
            text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype") or config.get("dtype")
        ),
        quantization=_dict(
            config.get("quantization_config") or text.get("quantization_config") or config.get("quantization")
        ),
        uses_custom_code=isinstance(config.get("auto_map"), dict),
        **{k: v for k, v in values.items() if k in Architecture.__dataclass_fields__},
    )


# Encoder-decoder fields: EncoderDecoder's name -> the config's names, first match wins (BART/Marian/Whisper
# name both stacks, T5 names the encoder `num_layers` and shares heads and d_ff between the stacks).
SEQ2SEQ_INT_ALIASES: Mapping[str, tuple[str, ...]] = {
    "encoder_layers": ("encoder_layers", "num_layers"),
    "decoder_layers": ("decoder_layers", "num_decoder_layers", "num_layers"),
    "encoder_heads": ("encoder_attention_heads", "num_heads", "num_attention_heads"),
    "decoder_heads": ("decoder_attention_heads", "num_heads", "num_attention_heads"),
    "encoder_ffn": ("encoder_ffn_dim", "d_ff"),
    "decoder_ffn": ("decoder_ffn_dim", "d_ff"),
    "relative_attention_num_buckets": ("relative_attention_num_buckets",),
    "max_source_positions": ("max_source_positions",),
    "max_target_positions": ("max_target_positions",),
    "num_mel_bins": ("num_mel_bins",),
}


def _encoder_decoder(config: Mapping[str, Any]) -> EncoderDecoder:
    """Both stacks' shapes of an encoder-decoder config (T5, BART, Marian, Whisper); absent ones stay None."""
    values: dict[str, Any] = {}
    for name, aliases in SEQ2SEQ_INT_ALIASES.items():
        key = next((a for a in aliases if config.get(a) is not None), None)
        value = config.get(key) if key else None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 2**40
        ):
            shown = clean_text(json.dumps(value, default=str)[:40])
            raise MalformedConfig(f"config.json: '{key}' is {shown}, not a positive integer")
        values[name] = value
    for name, aliases in (
        ("dropout", ("dropout_rate", "dropout")),
        ("activation_dropout", ("activation_dropout",)),
    ):
        value = next((config[a] for a in aliases if config.get(a) is not None), None)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1
        values[name] = float(value) if ok else None
    proj = config.get("feed_forward_proj")
    return EncoderDecoder(
        **values,
        feed_forward_proj=clean_text(proj) if isinstance(proj, str) else None,
        static_position_embeddings=config.get("static_position_embeddings") is True,
    )


def transformers_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults a config leaves out, from transformers' config class for its model_type.

    transformers is optional (pip install 'hubvram[configs]'): imported here only (1-4 s), only when a core
    field is missing, and only its own config classes run: trust_remote_code stays off, so auto_map code is
    never loaded. Without it, a missing field is an error that names it (errors.MissingField).
    """
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        return {}
    # Without torch, importing transformers prints an advisory to stderr ("PyTorch was not found");
    # hubvram needs only its config classes, so keep stderr to our own one-line messages.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers import CONFIG_MAPPING
    except ImportError:  # the optional extra (hubvram[configs]) is not installed: the JSON is all we have
        return {}
    if model_type not in CONFIG_MAPPING:
        return {}
    try:
        known = {k: v for k, v in config.items() if k not in ("auto_map", "architectures")}
        return CONFIG_MAPPING[model_type](**known).to_dict()
    except Exception:  # a config the class rejects: fall back to what the JSON says
        return {}


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language model's part of a vision-language config (text_config), else the config itself."""
    for key in NESTED_TEXT_CONFIGS:
        nested = config.get(key)
        if isinstance(nested, dict) and any(alias in nested for alias in FIELD_ALIASES["hidden_size"]):
            return nested
    return config


INT_FIELDS = frozenset(FIELD_ALIASES) - {"hidden_act"}


OPTIONAL_ZERO_FIELDS = frozenset(
    {
        "num_experts",
        "num_experts_per_token",
        "num_shared_experts",
        "moe_intermediate_size",
        "sliding_window",
        "first_dense_layers",
        "mtp_layers",
    }
)
MAX_LAYERS = 100_000


def _checked(name: str, value: Any, source: Mapping[str, Any] | None = None) -> Any:
    """Numbers must be positive integers (an integral float is accepted); anything else is refused."""
    if name not in INT_FIELDS:
        return clean_text(value)  # hidden_act: a name, or nothing
    if value is None or (value == 0 and name in OPTIONAL_ZERO_FIELDS):
        return None  # 0 experts / shared experts / window means "none" (transformers' own defaults use it)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    limit = MAX_LAYERS if name == "num_layers" else 2**40  # per-layer lists are built: keep them bounded
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > limit:
        key = next((a for a in FIELD_ALIASES[name] if (source or {}).get(a) is not None), name)
        shown = clean_text(json.dumps(value, default=str)[:40])
        raise MalformedConfig(f"config.json: '{key}' is {shown}, not a positive integer")
    return value


def _check_head_geometry(values: Mapping[str, Any]) -> None:
    """Without head_dim, heads must divide hidden_size, as transformers' attention classes require.

    hidden_size // heads would silently size a KV cache for heads the model cannot have; MLA configs
    (kv_lora_rank) give their head sizes in other fields and are left alone.
    """
    hidden, heads = values.get("hidden_size"), values.get("num_attention_heads")
    if values.get("head_dim") or values.get("kv_lora_rank") or not hidden or not heads or hidden % heads == 0:
        return
    raise MalformedConfig(
        f"config.json: hidden_size {hidden} is not divisible by num_attention_heads {heads} and no head_dim "
        "is given, so the attention geometry (and the KV cache) is unknown"
    )


def _first(config: Mapping[str, Any], aliases: tuple[str, ...]) -> Any:
    for alias in aliases:
        value = config.get(alias)
        if value is not None and not isinstance(value, (dict, list)):
            return value
    return None


def _kv_heads(config: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    if values["num_key_value_heads"] is not None:
        return values["num_key_value_heads"]
    if config.get("multi_query") is True and not config.get("new_decoder_architecture"):
        return 1  # Falcon-7B style multi-query attention: one shared K/V head (Shazeer 2019)
    return None


def _layer_types(config: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[str, ...]:
    declared = config.get("layer_types")
    if isinstance(declared, list) and all(isinstance(t, str) for t in declared):
        return tuple(declared)
    layers, window = values.get("num_layers"), values.get("sliding_window")
    if not isinstance(layers, int) or not window:
        return ()
    pattern = config.get("sliding_window_pattern")
    if _family(config) == "gemma2":  # Gemma2Config: even layers slide, odd layers attend globally
        return alternating_layer_types(layers)
    if isinstance(pattern, int) and pattern > 0:  # Gemma3: every pattern-th layer is global
        return tuple(
            "full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(layers)
        )
    if config.get("use_sliding_window") is False:
        return ()
    return ()


def _tied(config: Mapping[str, Any], text: Mapping[str, Any]) -> bool | None:
    for source in (text, config):
        value = source.get("tie_word_embeddings")
        if isinstance(value, bool):
            return value
    return None


def resolve_tied(arch: Architecture, config: Mapping[str, Any]) -> Architecture:
    """Fill an unstated tie_word_embeddings from transformers' class default (True in PretrainedConfig)."""
    if arch.tie_word_embeddings is not None:
        return arch
    value = transformers_defaults(_text_config(config)).get("tie_word_embeddings", True)
    return replace(arch, tie_word_embeddings=bool(value))


def _family(config: Mapping[str, Any]) -> str:
    return str(config.get("model_type") or "").lower()


def clean_text(value: Any, limit: int = 100) -> str | None:
    """A config string fit to print (see errors.printable), or None for anything else."""
    return printable(value, limit) if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None
