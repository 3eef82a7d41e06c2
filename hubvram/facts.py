"""ModelFacts: what a repo's config.json and safetensors headers say, in one frozen record.

Parameter counts come from the headers (exact, per dtype, packed quantized tensors unpacked);
architecture numbers come from the raw config JSON, whose field names differ by family, with
transformers' config classes supplying the defaults a config leaves out (imported lazily).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import printable
from .header import SafetensorsFile, TensorInfo

if TYPE_CHECKING:
    from .hub import RepoSnapshot


@dataclass(frozen=True)
class Architecture:
    """Shape of the network, normalised across model families. None means "the config does not say"."""

    model_type: str | None = None
    architectures: tuple[str, ...] = ()
    hidden_size: int | None = None
    num_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    hidden_act: str | None = None
    tie_word_embeddings: bool | None = None  # None: the config does not say (the class default applies)
    is_encoder_decoder: bool = False
    torch_dtype: str | None = None  # "bfloat16", "float16", "float32", ... as the config names it
    # Mixture of experts: routed experts per MoE layer, how many are active per token, shared experts.
    num_experts: int | None = None
    num_experts_per_token: int | None = None
    num_shared_experts: int | None = None
    moe_intermediate_size: int | None = None
    # Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds kv_lora_rank + qk_rope_head_dim.
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    # Local attention: window size, and the per-layer kinds ("full_attention", "sliding_attention").
    sliding_window: int | None = None
    layer_types: tuple[str, ...] = ()
    quantization: Mapping[str, Any] | None = None  # config's quantization_config, as published
    uses_custom_code: bool = False  # config names auto_map code; read, never executed

    @property
    def kv_heads(self) -> int | None:
        """Key/value heads: num_key_value_heads where set (GQA/MQA), else every attention head."""
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def attention_head_dim(self) -> int | None:
        """head_dim where the config overrides it (Gemma, Qwen3), else hidden_size / heads."""
        if self.head_dim:
            return self.head_dim
        if self.hidden_size and self.num_attention_heads:
            return self.hidden_size // self.num_attention_heads
        return None

    @property
    def is_moe(self) -> bool:
        return bool(self.num_experts and self.num_experts > 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["architectures"] = list(self.architectures)
        data["layer_types"] = list(self.layer_types)
        data["quantization"] = dict(self.quantization) if self.quantization else None
        data["kv_heads"] = self.kv_heads
        data["attention_head_dim"] = self.attention_head_dim
        return data


@dataclass(frozen=True)
class ParameterCount:
    """Parameters of a model, counted from its headers (or derived from its config)."""

    # Parameters resident in memory, unpacked (a GPTQ int32 holds 8 int4 weights), by storage dtype.
    by_dtype: Mapping[str, int] = field(default_factory=dict)
    # Every element the files store, as the Hub counts them (duplicates and buffers included).
    stored_by_dtype: Mapping[str, int] = field(default_factory=dict)
    # Stored tensors that are not parameters: rotary inv_freq, attention-mask buffers, position ids.
    buffers_by_dtype: Mapping[str, int] = field(default_factory=dict)
    # Elements of tensors stored twice although the model ties them (lm_head beside embed_tokens).
    tied_duplicates: int = 0
    # Quantization side tensors (scales, zero points, g_idx): bytes, not parameters.
    quantization_aux_bytes: int = 0
    source: str = "safetensors"  # or "config": derived from the architecture, not read

    @property
    def total(self) -> int:
        return sum(self.by_dtype.values())

    @property
    def stored_total(self) -> int:
        return sum(self.stored_by_dtype.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_dtype": dict(self.by_dtype),
            "stored_total": self.stored_total,
            "stored_by_dtype": dict(self.stored_by_dtype),
            "buffers_by_dtype": dict(self.buffers_by_dtype),
            "tied_duplicates": self.tied_duplicates,
            "quantization_aux_bytes": self.quantization_aux_bytes,
            "source": self.source,
        }


@dataclass(frozen=True)
class ModelFacts:
    """Everything the estimator needs to know about one model revision."""

    model_id: str
    revision: str | None
    sha: str | None
    parameters: ParameterCount
    weights_bytes: int  # bytes the weights take in memory as stored (tied copies once, buffers left out)
    architecture: Architecture
    weights_format: str = "safetensors"  # "safetensors", "pytorch" (count derived), "none"
    notes: tuple[str, ...] = ()  # one-line remarks for the user (derived count, tied copy dropped, ...)
    pipeline_class: str | None = None  # diffusers: model_index.json's _class_name (no transformer config)

    @property
    def bytes_per_parameter(self) -> float:
        total = self.parameters.total
        return self.weights_bytes / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "revision": self.revision,
            "sha": self.sha,
            "parameters": self.parameters.to_dict(),
            "weights_bytes": self.weights_bytes,
            "weights_format": self.weights_format,
            "architecture": self.architecture.to_dict(),
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------
# From the raw config JSON to an Architecture

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
    "sliding_window": ("sliding_window", "sliding_window_size", "attention_window_size"),
    "hidden_act": ("hidden_act", "hidden_activation", "activation_function", "activation"),
}
# Families whose config may leave the MLP width out because it is 4 x hidden (GPT2Config n_inner=None, ...).
_FOUR_H_FAMILIES = ("gpt2", "gptj", "bloom", "falcon", "refinedwebmodel", "refinedweb", "gpt_neox")
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
    if values["intermediate_size"] is None and values["hidden_size"] and _family(text) in _FOUR_H_FAMILIES:
        values["intermediate_size"] = 4 * values["hidden_size"]  # GPT2Config n_inner=None means 4 x n_embd
    if values["num_experts"] is not None and values["num_experts"] <= 1:
        values["num_experts"] = None
    return Architecture(
        model_type=_str(config.get("model_type")),
        architectures=tuple(_str(a) for a in _list(config.get("architectures")) if isinstance(a, str)),
        layer_types=_layer_types(text, values),
        tie_word_embeddings=_tied(config, text),
        is_encoder_decoder=bool(config.get("is_encoder_decoder")) or "encoder_layers" in config,
        torch_dtype=_str(
            text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype") or config.get("dtype")
        ),
        quantization=_dict(config.get("quantization_config") or text.get("quantization_config")),
        uses_custom_code=isinstance(config.get("auto_map"), dict),
        **{k: v for k, v in values.items() if k in Architecture.__dataclass_fields__},
    )


def transformers_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults a config leaves out, from transformers' config class for its model_type.

    transformers is imported here only (1-4 s), only when a core field is missing, and only its own
    config classes run: trust_remote_code stays off, so auto_map code is never loaded.
    """
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        return {}
    # Without torch, importing transformers prints an advisory to stderr ("PyTorch was not found");
    # hubvram needs only its config classes, so keep stderr to our own one-line messages.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers import CONFIG_MAPPING
    except ImportError:  # pragma: no cover - transformers is a dependency
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
    {"num_experts", "num_experts_per_token", "num_shared_experts", "moe_intermediate_size", "sliding_window"}
)
MAX_LAYERS = 100_000


def _checked(name: str, value: Any, source: Mapping[str, Any] | None = None) -> Any:
    """Numbers must be positive integers (an integral float is accepted); anything else is refused."""
    if name not in INT_FIELDS:
        return _str(value)  # hidden_act: a name, or nothing
    if value is None or (value == 0 and name in OPTIONAL_ZERO_FIELDS):
        return None  # 0 experts / shared experts / window means "none" (transformers' own defaults use it)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    limit = MAX_LAYERS if name == "num_layers" else 2**40  # per-layer lists are built: keep them bounded
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > limit:
        import json

        from .errors import MalformedConfig

        key = next((a for a in FIELD_ALIASES[name] if (source or {}).get(a) is not None), name)
        shown = _str(json.dumps(value, default=str)[:40])
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
    from .errors import MalformedConfig

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
        return tuple("sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers))
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


def _str(value: Any, limit: int = 100) -> str | None:
    """A config string fit to print (see errors.printable), or None for anything else."""
    return printable(value, limit) if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------------------
# From safetensors headers to exact parameter counts

# Stored tensors that are buffers, not parameters: rotary frequencies (Llama-2's inv_freq), GPT-2's
# causal-mask buffers (attn.bias / attn.masked_bias, 4-D), BERT's position_ids.
_BUFFER_SUFFIXES = ("rotary_emb.inv_freq", ".inv_freq", "position_ids", "token_type_ids")
_MASK_BUFFER_SUFFIXES = (".attn.bias", ".attn.masked_bias")
# Quantization side tensors: GPTQ/AWQ scales and zero points, FP8 scales, bitsandbytes state, MXFP4 scales.
_QUANT_AUX_SUFFIXES = (
    ".scales",
    ".qzeros",
    ".g_idx",
    "weight_scale",
    "weight_scale_inv",
    "input_scale",
    "output_scale",
    "k_scale",
    "v_scale",
    ".absmax",
    ".quant_map",
    ".nested_absmax",
    ".nested_quant_map",
    ".SCB",
    ".weight_format",
    "_scales",
)
_EMBEDDING_SUFFIXES = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "shared.weight",
    "embed_in.weight",
)
_LM_HEAD_SUFFIXES = ("lm_head.weight", "embed_out.weight")


def count_parameters(
    files: tuple[SafetensorsFile, ...], arch: Architecture
) -> tuple[ParameterCount, int, tuple[str, ...]]:
    """Exact parameters per dtype from headers, plus weight bytes in memory and notes for the user."""
    stored: dict[str, int] = {}
    params: dict[str, int] = {}
    buffers: dict[str, int] = {}
    aux_bytes = weights_bytes = 0
    tensors = [t for f in files for t in f.tensors]
    duplicates = _tied_duplicates(tensors, arch)
    for tensor in tensors:  # hot loop (DeepSeek-V3: 92,000 tensors): fields unpacked once
        name, dtype, shape, start, end = tensor
        numel = math.prod(shape)
        stored[dtype] = stored.get(dtype, 0) + numel
        if _is_buffer(name, shape):
            buffers[dtype] = buffers.get(dtype, 0) + numel
            continue
        if name in duplicates:
            continue
        weights_bytes += end - start
        if _is_quant_aux(name):
            aux_bytes += end - start
            continue
        label, count = (dtype, numel) if dtype not in _PACKED_DTYPES else _unpacked(tensor, arch)
        params[label] = params.get(label, 0) + count
    tied = sum(t.numel for t in tensors if t.name in duplicates)
    notes = _count_notes(buffers, tied, aux_bytes)
    count = ParameterCount(
        by_dtype=_sorted(params),
        stored_by_dtype=_sorted(stored),
        buffers_by_dtype=_sorted(buffers),
        tied_duplicates=tied,
        quantization_aux_bytes=aux_bytes,
        source="safetensors",
    )
    return count, weights_bytes, notes


def _is_buffer(name: str, shape: tuple[int, ...]) -> bool:
    if name.endswith(_BUFFER_SUFFIXES):
        return True
    return name.endswith(_MASK_BUFFER_SUFFIXES) and len(shape) == 4


def _is_quant_aux(name: str) -> bool:
    return name.endswith(_QUANT_AUX_SUFFIXES) or ".quant_state." in name


_PACKED_DTYPES = frozenset({"I32", "U32", "U8"})  # the only storage _unpacked reads as packed values


def _unpacked(tensor: TensorInfo, arch: Architecture) -> tuple[str, int]:
    """(dtype label, parameter count) of a tensor, unpacking quantized storage."""
    quant = arch.quantization or {}
    method = str(quant.get("quant_method", "")).lower()
    if tensor.name.endswith(".qweight") and tensor.dtype in ("I32", "U32"):
        bits = quant.get("bits") or quant.get("w_bit") or 4  # GPTQ/AWQ pack 32/bits weights per int32
        if type(bits) is not int or bits not in (2, 3, 4, 8):
            from .errors import MalformedConfig

            raise MalformedConfig(
                f"config.json: quantization_config bits is {_str(str(bits))!r}, not 2, 3, 4 or 8"
            )
        return f"INT{bits}", tensor.numel * 32 // bits
    if tensor.name.endswith("_blocks") and tensor.dtype == "U8":
        return "MXFP4", tensor.numel * 2  # gpt-oss MXFP4: two 4-bit values per byte, scales apart
    if method == "bitsandbytes" and tensor.dtype == "U8" and quant.get("load_in_4bit"):
        kind = (_str(quant.get("bnb_4bit_quant_type")) or "nf4").upper()
        return kind, tensor.numel * 2  # bitsandbytes Params4bit: two 4-bit values per uint8
    return tensor.dtype, tensor.numel


def _tied_duplicates(tensors: list[TensorInfo], arch: Architecture) -> frozenset[str]:
    """An lm_head stored beside the embedding it is tied to is loaded as one tensor (Qwen3-0.6B)."""
    if arch.tie_word_embeddings is False:
        return frozenset()
    embeddings = {t.shape for t in tensors if t.name.endswith(_EMBEDDING_SUFFIXES)}
    return frozenset(t.name for t in tensors if t.name.endswith(_LM_HEAD_SUFFIXES) and t.shape in embeddings)


def _stores_head_and_embedding(files: tuple[SafetensorsFile, ...]) -> bool:
    names = [t.name for f in files for t in f.tensors]
    return any(n.endswith(_LM_HEAD_SUFFIXES) for n in names) and any(
        n.endswith(_EMBEDDING_SUFFIXES) for n in names
    )


def _count_notes(buffers: Mapping[str, int], tied: int, aux_bytes: int) -> tuple[str, ...]:
    notes = []
    if buffers:
        listed = ", ".join(f"{n:,} {d}" for d, n in buffers.items())
        notes.append(f"buffers stored in the files are not counted as parameters ({listed})")
    if tied:
        notes.append(f"lm_head is stored but tied to the embeddings: {tied:,} duplicate values counted once")
    if aux_bytes:
        notes.append(f"quantization scales/zero points take {aux_bytes:,} bytes beside the packed weights")
    return tuple(notes)


def _sorted(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


# ---------------------------------------------------------------------------------------------
# Without safetensors: a count derived from the config

DTYPE_BYTES: Mapping[str, float] = {
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "int8": 1,
}
_DTYPE_LABELS = {"float32": "F32", "float": "F32", "float16": "F16", "half": "F16", "bfloat16": "BF16"}


def derive_parameters(
    arch: Architecture, stored_bytes: int | None
) -> tuple[ParameterCount, int, tuple[str, ...]]:
    """Parameters of a repo without safetensors: stored bytes / dtype size, else the decoder formula."""
    dtype = (arch.torch_dtype or "float32").lower()
    label = _DTYPE_LABELS.get(dtype, dtype.upper())
    width = DTYPE_BYTES.get(dtype, 4)
    if stored_bytes:
        total = int(stored_bytes // width)
        how = f"derived from the stored size ({stored_bytes:,} bytes / {width:g} per {dtype} value), not read"
        weights_bytes = stored_bytes
    else:
        total = decoder_parameters(arch)
        how = "derived from the config's dimensions with the transformer formula, not read"
        weights_bytes = int(total * width)
    count = ParameterCount(by_dtype={label: total}, stored_by_dtype={}, source="config")
    return count, weights_bytes, (f"no safetensors weights: parameter count {how}",)


def decoder_parameters(arch: Architecture) -> int:
    """Parameters of a decoder-only transformer from its dimensions (GQA, gated MLP, MoE aware).

    Per layer: attention Q,O (h x heads*hd) + K,V (h x kv*hd); MLP 3*h*i when gated (SwiGLU) else 2*h*i,
    times the experts for MoE; two norms. Plus embeddings (and an untied lm_head).
    """
    from .errors import MissingField

    for name in ("hidden_size", "num_layers", "num_attention_heads", "vocab_size"):
        if getattr(arch, name) is None:
            raise MissingField(name, arch.model_type or "this model", "parameter-count")
    h, layers, vocab = arch.hidden_size, arch.num_layers, arch.vocab_size
    hd, kv = arch.attention_head_dim or 0, arch.kv_heads or 0
    attention = 2 * h * arch.num_attention_heads * hd + 2 * h * kv * hd
    inter = arch.intermediate_size or 4 * h
    from .estimate import is_gated_mlp  # one rule for the MLP's shape, shared with the estimator

    gated = is_gated_mlp(arch)
    mlp = (3 if gated else 2) * h * inter
    if arch.is_moe:
        expert_inter = arch.moe_intermediate_size or inter
        mlp = arch.num_experts * (3 if gated else 2) * h * expert_inter + arch.num_experts * h
    per_layer = attention + mlp + 2 * h
    embeddings = vocab * h * (1 if arch.tie_word_embeddings else 2)
    return layers * per_layer + embeddings + h


# ---------------------------------------------------------------------------------------------
# The stage's entry point


def facts_from_snapshot(snapshot: RepoSnapshot) -> ModelFacts:
    """Turn what the fetcher read into ModelFacts."""
    from .errors import MalformedConfig

    if not snapshot.config:
        raise MalformedConfig(
            f"{snapshot.model_id} has no config.json: without it the architecture (layers, heads, "
            "context) is unknown and no memory estimate can be made"
        )
    try:
        arch = read_architecture(snapshot.config)
    except MalformedConfig as exc:
        raise MalformedConfig(f"{snapshot.model_id}: {exc}") from None
    # Whether an unstated tie matters: an lm_head stored beside the embedding, or a count derived from
    # the config formula. Only then is transformers imported for the class default (1-2 s).
    derived_by_formula = not snapshot.weight_files and not snapshot.stored_weight_bytes
    if arch.tie_word_embeddings is None and (
        _stores_head_and_embedding(snapshot.weight_files) or derived_by_formula
    ):
        arch = resolve_tied(arch, snapshot.config)
    notes: tuple[str, ...] = ()
    if arch.uses_custom_code:
        notes += ("config names custom code (auto_map); hubvram read it as data and ran none of it",)
    if snapshot.weight_files:
        count, weights_bytes, count_notes = count_parameters(snapshot.weight_files, arch)
    elif snapshot.weights_format == "pytorch":
        count, weights_bytes, count_notes = derive_parameters(arch, snapshot.stored_weight_bytes)
    else:
        from .errors import NotSafetensors

        raise NotSafetensors(
            f"{snapshot.model_id} has no safetensors or PyTorch weights that hubvram can read"
        )
    return ModelFacts(
        model_id=snapshot.model_id,
        revision=snapshot.revision,
        sha=snapshot.sha,
        parameters=count,
        weights_bytes=weights_bytes,
        architecture=arch,
        weights_format=snapshot.weights_format,
        notes=notes + count_notes,
        pipeline_class=_str(snapshot.config.get("_class_name")),
    )
