"""ModelFacts: what a repo's config and weight headers say about one model revision, in frozen records.

The model stage's types. `Architecture` is the network's shape normalised across families (config.py
reads it), `ParameterCount` the exact counts per dtype (counting.py), `ModelFacts` both together with
the weights' size in memory (build.py assembles it from a fetched snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .llamacpp_model import LlamaCppModel


@dataclass(frozen=True)
class EncoderDecoder:
    """The two stacks of an encoder-decoder model (T5, BART, Marian, Whisper) as its config gives them.

    None means "the config does not say"; the estimator then takes the Architecture's own field.
    """

    encoder_layers: int | None = None  # encoder_layers (BART, Whisper) / num_layers (T5)
    decoder_layers: int | None = None  # decoder_layers / num_decoder_layers (T5: num_layers when unset)
    encoder_heads: int | None = None  # encoder_attention_heads / num_heads
    decoder_heads: int | None = None
    encoder_ffn: int | None = None  # encoder_ffn_dim / d_ff
    decoder_ffn: int | None = None
    feed_forward_proj: str | None = None  # T5: "relu" (v1.0), "gated-gelu" (v1.1, Flan-T5), ...
    relative_attention_num_buckets: int | None = None  # T5's relative position buckets
    max_source_positions: int | None = None  # Whisper: encoder positions after the conv stem (1500)
    max_target_positions: int | None = None  # Whisper: the decoder's longest sequence (448)
    num_mel_bins: int | None = None  # Whisper: log-mel features per frame (80 or 128)
    dropout: float | None = None  # hidden dropout (T5 dropout_rate, BART/Whisper dropout)
    activation_dropout: float | None = None  # dropout inside the MLP (BART, Whisper; T5 reuses dropout_rate)
    static_position_embeddings: bool = False  # Marian: sinusoidal tables, parameters that are not trained


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
    first_dense_layers: int | None = (
        None  # DeepSeek/GLM/Kimi first_k_dense_replace: leading layers with a dense MLP
    )
    # Multi-token-prediction layers stored after the trunk (DeepSeek-V3 num_nextn_predict_layers); not run by
    # plain generation, loaded by vLLM only for speculative decoding.
    mtp_layers: int | None = None
    # Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds kv_lora_rank + qk_rope_head_dim.
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None  # MLA query/key head part without RoPE (DeepSeek-V3: 128)
    v_head_dim: int | None = None  # MLA value head size (DeepSeek-V3: 128)
    # Local attention: window size, and the per-layer kinds ("full_attention", "sliding_attention").
    sliding_window: int | None = None
    layer_types: tuple[str, ...] = ()
    quantization: Mapping[str, Any] | None = None  # config's quantization_config, as published
    uses_custom_code: bool = False  # config names auto_map code; read, never executed
    seq2seq: EncoderDecoder | None = None  # encoder-decoder models: both stacks' shapes

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
    # "safetensors" or "gguf" (read from headers), "config" (derived from the architecture), "stored size"
    source: str = "safetensors"

    @property
    def derived(self) -> bool:
        """Not counted from headers: worked out from the config or the stored size."""
        return self.source not in ("safetensors", "gguf")

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
            "derived": self.derived,
        }


@dataclass(frozen=True)
class Variant:
    """One quantization of a GGUF repo: its files, their bytes, and the weights they hold."""

    name: str  # Q4_K_M, Q8_0, BF16, ... (fetch.gguf_variants)
    files: tuple[str, ...]
    file_bytes: int  # the files' sizes, as the listing gives them
    weights_bytes: int  # tensor data: exact for the variant whose header was read, else file_bytes - header
    parameters: int
    exact: bool = False  # its header was read

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "files": list(self.files),
            "weights_bytes": self.weights_bytes,
            "parameters": self.parameters,
            "file_bytes": self.file_bytes,
            "exact": self.exact,
        }


@dataclass(frozen=True)
class AdapterFacts:
    """A PEFT adapter: what it adds to its base model, counted from adapter_model.safetensors."""

    base_model: str
    peft_type: str  # LORA, IA3, LOHA, ...
    parameters: int
    weights_bytes: int
    rank: int | None = None  # r
    alpha: float | None = None
    target_modules: tuple[str, ...] = ()  # as adapter_config.json names them
    lora_targets: tuple[str, ...] = ()  # hubvram's names (q, k, v, o, gate, up, down) where they map
    modules_to_save: tuple[str, ...] = ()  # stored as full copies
    derived: bool = False  # an adapter_model.bin: counted from its size, not read

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_model": self.base_model,
            "parameters": self.parameters,
            "weights_bytes": self.weights_bytes,
            "peft_type": self.peft_type,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "target_modules": list(self.target_modules),
            "modules_to_save": list(self.modules_to_save),
            "derived": self.derived,
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
    weights_format: str = "safetensors"  # the layout read: fetch.snapshot.RepoSnapshot.weights_format
    notes: tuple[str, ...] = ()  # one-line remarks for the user (derived count, tied copy dropped, ...)
    pipeline_class: str | None = None  # diffusers: model_index.json's _class_name (no transformer config)
    # safetensors, pytorch, gguf, meta-original, mistral-native, mlx, peft-adapter
    format: str = "safetensors"
    stored_precision: str | None = (
        None  # how the weights are stored, when no dtype says it ("int4 g64 (mlx)")
    )
    variants: tuple[Variant, ...] = ()  # GGUF: every quantization in the repo
    variant: str | None = None  # GGUF: the one these facts describe (its header was read)
    llamacpp: LlamaCppModel | None = None  # GGUF: the variant read, as llama.cpp lays it out
    adapter: AdapterFacts | None = None  # a PEFT adapter: the rest of these facts are its base model's

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
            "format": self.format,
            "architecture": self.architecture.to_dict(),
            "notes": list(self.notes),
            **(
                {"variant": self.variant, "variants": [v.to_dict() for v in self.variants]}
                if self.variants
                else {}
            ),
            **({"adapter": self.adapter.to_dict()} if self.adapter else {}),
        }
