"""A GGUF model as llama.cpp sees it (after ``llama_model_base::load_hparams``): the facts its memory
model needs, built from the GGUF's metadata and tensor infos (``from_gguf``).

Source read: ggml-org/llama.cpp commit 0c1e57098 (2026-10-01); the memory arithmetic over this is in
hubvram/estimator/llamacpp.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..fetch.gguf import GgufHeader

_BLOCK = re.compile(r"^blk\.(\d+)\.")  # per-layer tensor names (src/llama-arch.cpp LLM_TENSOR_*)


def swa_pattern(n_layer: int, n_pattern: int, dense_first: bool = False) -> tuple[bool, ...]:
    """Which layers slide, as llama_hparams::set_swa_pattern sets them (src/llama-hparams.cpp).

    n_pattern 6 (Gemma 3) gives five sliding layers then one full layer; 0 makes every layer slide.
    The GGUF key ``<arch>.attention.sliding_window_pattern`` may instead hold an explicit bool array
    (llama_model_base::load_swa_pattern), which callers pass as ``LlamaCppModel.swa_layers`` directly.
    """
    if dense_first:
        return tuple(n_pattern == 0 or il % n_pattern != 0 for il in range(n_layer))
    return tuple(n_pattern == 0 or il % n_pattern < n_pattern - 1 for il in range(n_layer))


def _per_layer(value: int | tuple[int, ...], n_layer: int, name: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n_layer
    if len(value) != n_layer:
        raise ValueError(f"{name} has {len(value)} entries for {n_layer} layers")
    return tuple(value)


@dataclass(frozen=True)
class LlamaCppModel:
    """A GGUF model as llama.cpp sees it (after ``llama_model_base::load_hparams``).

    Weight bytes come from the GGUF tensor infos: ``layer_weight_bytes[i]`` is the sum over the
    ``blk.i.*`` tensors, the others are the non-layer tensors by name. Head sizes are the GGUF
    ``attention.key_length`` / ``value_length`` (default ``n_embd // n_head``). Per-layer fields accept
    one int for every layer or a tuple of ``n_layer`` ints (GGUF arrays, e.g. OpenELM, Gemma 3n).

    MLA (DeepSeek-V2/V3, Kimi K2, GLM-4.7-Flash ... converted with MLA): the GGUF holds
    ``key_length = kv_lora_rank + rope dims`` (576), ``value_length = kv_lora_rank`` (512),
    ``head_count_kv = 1`` and ``key_length_mla``; set ``mla=True`` and pass those values: the cache
    stores K only (``llama_kv_cache::llama_kv_cache``: ``has_v = !is_mla``).
    """

    n_layer: int  # <arch>.block_count (n_layer_all, including any MTP/NextN layers)
    n_embd: int  # <arch>.embedding_length
    n_head: int | tuple[int, ...]  # <arch>.attention.head_count
    n_head_kv: int | tuple[int, ...]  # <arch>.attention.head_count_kv
    head_dim_k: int | tuple[int, ...]  # <arch>.attention.key_length
    head_dim_v: int | tuple[int, ...]  # <arch>.attention.value_length
    n_vocab: int  # tokenizer.ggml.tokens length (or <arch>.vocab_size)
    n_ctx_train: int  # <arch>.context_length
    n_ff: int | tuple[int, ...]  # <arch>.feed_forward_length (dense FFN width; 0 for MoE-only layers)
    layer_weight_bytes: tuple[int, ...]  # bytes of blk.N.* per layer, n_layer entries
    token_embd_bytes: int  # token_embd.weight (plus position/token-type embeddings, if any)
    output_bytes: int  # output.weight; 0 when the GGUF has none (tied to token_embd)
    output_norm_bytes: int = 0  # output_norm.weight (+ .bias) and any other output-layer tensors
    other_bytes: int = 0  # tensors in no layer llama.cpp places elsewhere (rope_freqs ...): host
    n_swa: int = 0  # <arch>.attention.sliding_window (0: no sliding-window layers)
    swa_layers: tuple[bool, ...] = ()  # which layers slide; () = none; see swa_pattern()
    mla: bool = False
    n_expert: int = 0  # <arch>.expert_count
    n_expert_used: int = 0  # <arch>.expert_used_count
    n_ff_exp: int = 0  # <arch>.expert_feed_forward_length (per expert)
    n_ff_shexp: int = 0  # width of the shared-expert FFN (n_expert_shared x expert width), 0 if none
    n_layer_dense_lead: int = 0  # <arch>.leading_dense_block_count: first layers use a dense FFN
    n_layer_nextn: int = 0  # <arch>.nextn_predict_layers: MTP layers (last ones), no KV, not loaded
    ffn_gated: bool = True  # SwiGLU/GeGLU (gate and up in parallel); False: up -> activation -> down
    # largest single tensor of each layer (e.g. ffn_down, or a stacked ffn_*_exps); () = unknown, then
    # taken as half the layer. Only used for the GPU copy of a host weight under partial offload.
    layer_max_tensor_bytes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.layer_weight_bytes) != self.n_layer:
            raise ValueError(
                f"layer_weight_bytes has {len(self.layer_weight_bytes)} entries for {self.n_layer} layers"
            )
        if self.layer_max_tensor_bytes and len(self.layer_max_tensor_bytes) != self.n_layer:
            raise ValueError("layer_max_tensor_bytes needs one entry per layer")
        if self.swa_layers and len(self.swa_layers) != self.n_layer:
            raise ValueError(f"swa_layers has {len(self.swa_layers)} entries for {self.n_layer} layers")
        if any(self.swa_layers) and self.n_swa <= 0:
            raise ValueError("swa_layers marks sliding layers but n_swa is 0")
        for name in ("n_head", "n_head_kv", "head_dim_k", "head_dim_v", "n_ff"):
            _per_layer(getattr(self, name), self.n_layer, name)

    # per-layer views
    def heads(self) -> tuple[int, ...]:
        return _per_layer(self.n_head, self.n_layer, "n_head")

    def heads_kv(self) -> tuple[int, ...]:
        return _per_layer(self.n_head_kv, self.n_layer, "n_head_kv")

    def dims_k(self) -> tuple[int, ...]:
        return _per_layer(self.head_dim_k, self.n_layer, "head_dim_k")

    def dims_v(self) -> tuple[int, ...]:
        return _per_layer(self.head_dim_v, self.n_layer, "head_dim_v")

    def ffs(self) -> tuple[int, ...]:
        return _per_layer(self.n_ff, self.n_layer, "n_ff")

    def is_swa(self, il: int) -> bool:
        return bool(self.swa_layers) and self.swa_layers[il]

    @property
    def n_layer_trunk(self) -> int:
        """llama_hparams::n_layer(): n_layer_all - n_layer_nextn."""
        return self.n_layer - self.n_layer_nextn

    def has_kv(self, il: int) -> bool:
        # llama_model::create_memory: MTP layers are filtered out of the main context's cache
        # (filter il < n_layer()); heads_kv 0 marks a layer without attention (OpenELM-style arrays).
        return il < self.n_layer_trunk and self.heads_kv()[il] > 0

    def n_embd_k_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_k_gqa(il) = n_embd_head_k(il) * n_head_kv(il)."""
        return self.dims_k()[il] * self.heads_kv()[il]

    def n_embd_v_gqa(self, il: int) -> int:
        """llama_hparams::n_embd_v_gqa(il) = n_embd_head_v(il) * n_head_kv(il)."""
        return self.dims_v()[il] * self.heads_kv()[il]

    @property
    def tied_embeddings(self) -> bool:
        return self.output_bytes == 0

    @property
    def output_layer_bytes(self) -> int:
        """Weights of the "output layer" (LLM_TENSOR_LAYER_OUTPUT: output_norm, output).

        A GGUF without output.weight gets token_embd created a second time as the output
        (``create_tensor(..., TENSOR_DUPLICATED)`` in each arch's load_arch_tensors; the loader maps a
        duplicated TOKEN_EMBD to LLM_TENSOR_OUTPUT in llama_model_loader::create_tensor), so a tied
        model holds the embedding matrix twice once the output layer is on a GPU.
        """
        out = self.token_embd_bytes if self.tied_embeddings else self.output_bytes
        return out + self.output_norm_bytes

    def largest_tensor_bytes(self, il: int, load_mtp: bool = False) -> int:
        if il >= self.n_layer_trunk and not load_mtp:
            return 0
        if self.layer_max_tensor_bytes:
            return self.layer_max_tensor_bytes[il]
        return self.layer_weight_bytes[il] // 2

    def loaded_layer_bytes(self, il: int, load_mtp: bool = False) -> int:
        # MTP tensors are created with TENSOR_SKIP unless llama_model_params.load_mtp (e.g.
        # src/models/deepseek2.cpp load_arch_tensors), so they take no memory by default.
        if il >= self.n_layer_trunk and not load_mtp:
            return 0
        return self.layer_weight_bytes[il]


def from_gguf(headers: Sequence[GgufHeader], fields: Mapping[str, object]) -> LlamaCppModel:
    """The model the GGUF headers describe (fields: model.gguf_config.gguf_architecture of the first)."""
    n_layer = _int(fields.get("num_layers"))
    layer, largest = [0] * n_layer, [0] * n_layer
    embd = output = norm = other = 0
    for header in headers:
        pad = header.alignment
        for t in header.tensors:
            size = -(-t.nbytes // pad) * pad  # each tensor padded in the buffer, as in the file
            block = _BLOCK.match(t.name)
            if block and int(block.group(1)) < n_layer:
                i = int(block.group(1))
                layer[i] += size
                largest[i] = max(largest[i], size)
            elif t.name.startswith(("token_embd.", "position_embd.", "token_types.")):
                embd += size
            elif t.name.startswith("output_norm."):
                norm += size
            elif t.name.startswith("output."):
                output += size
            else:
                other += size
    n_embd = _int(fields.get("hidden_size"))
    heads = _per(fields.get("num_attention_heads"))
    heads_kv = _per(fields.get("num_key_value_heads")) or heads
    dim_k = _per(fields.get("head_dim")) or (n_embd // max(_first(heads), 1))
    mla = bool(fields.get("kv_lora_rank"))
    sliding = fields.get("sliding_window_layers")
    swa = tuple(bool(x) for x in sliding) if isinstance(sliding, tuple) and len(sliding) == n_layer else ()
    return LlamaCppModel(
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=heads or 1,
        n_head_kv=heads_kv or 1,
        head_dim_k=dim_k,
        head_dim_v=_per(fields.get("value_head_dim")) or dim_k,
        n_vocab=_int(fields.get("vocab_size")),
        n_ctx_train=_int(fields.get("max_position_embeddings")),
        n_ff=_per(fields.get("intermediate_size")),
        layer_weight_bytes=tuple(layer),
        token_embd_bytes=embd,
        output_bytes=output,
        output_norm_bytes=norm,
        other_bytes=other,
        n_swa=_int(fields.get("sliding_window")) if any(swa) else 0,
        swa_layers=swa if any(swa) else (),
        mla=mla,
        n_expert=_int(fields.get("num_experts")),
        n_expert_used=_first(_per(fields.get("num_experts_per_token"))),
        n_ff_exp=_int(fields.get("moe_intermediate_size")),
        n_ff_shexp=_int(fields.get("shared_expert_intermediate_size"))
        or _int(fields.get("moe_intermediate_size")) * _int(fields.get("num_shared_experts")),
        n_layer_dense_lead=_int(fields.get("first_dense_layers")),
        n_layer_nextn=_int(fields.get("nextn_predict_layers")),
        layer_max_tensor_bytes=tuple(largest),
    )


def scaled(model: LlamaCppModel, weights_bytes: int) -> LlamaCppModel:
    """The same model holding `weights_bytes` of tensors (another quantization, header not read):
    every placement unit scaled in proportion."""
    total = sum(model.layer_weight_bytes) + model.token_embd_bytes + model.output_bytes
    total += model.output_norm_bytes + model.other_bytes
    if not total or total == weights_bytes:
        return model

    def f(n: int) -> int:
        return n * weights_bytes // total

    return replace(
        model,
        layer_weight_bytes=tuple(map(f, model.layer_weight_bytes)),
        layer_max_tensor_bytes=tuple(map(f, model.layer_max_tensor_bytes)),
        token_embd_bytes=f(model.token_embd_bytes),
        output_bytes=f(model.output_bytes),
        output_norm_bytes=f(model.output_norm_bytes),
        other_bytes=f(model.other_bytes),
    )


def _int(value: object) -> int:
    return value if type(value) is int and value > 0 else 0


def _per(value: object) -> int | tuple[int, ...]:
    """An int, or a per-layer tuple of ints (0 where a layer has none), as LlamaCppModel takes them."""
    if isinstance(value, tuple):
        return tuple(v if type(v) is int and v >= 0 else 0 for v in value)
    return _int(value)


def _first(value: int | tuple[int, ...]) -> int:
    return max(value) if isinstance(value, tuple) and value else value if isinstance(value, int) else 0
