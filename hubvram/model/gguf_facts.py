"""A GGUF repo as ModelFacts: the architecture from the header's metadata, exact parameters and bytes
from its tensor infos, and every variant of the repo (bytes from the listing, counts from the one read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import MalformedConfig
from ..fetch.gguf import GgufHeader
from ..fetch.gguf_variants import gguf_projectors, gguf_variants
from ..fetch.snapshot import RepoSnapshot
from .facts import Architecture, ModelFacts, ParameterCount, Variant
from .gguf_config import gguf_architecture
from .llamacpp_model import from_gguf

_INT_FIELDS = (
    "hidden_size",
    "num_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "num_experts",
    "num_experts_per_token",
    "num_shared_experts",
    "moe_intermediate_size",
    "kv_lora_rank",
    "qk_rope_head_dim",
    "sliding_window",
)


def gguf_facts(snapshot: RepoSnapshot) -> ModelFacts:
    headers = snapshot.gguf_headers
    if not headers:
        raise MalformedConfig(f"{snapshot.model_id}: no GGUF header was read", model=snapshot.model_id)
    first = next((h for h in headers if "general.architecture" in h.metadata), headers[0])
    fields = gguf_architecture(first.metadata)
    arch = _architecture(fields, headers)
    by_type: dict[str, int] = {}
    for header in headers:
        for name, (params, _) in header.by_type().items():
            by_type[name] = by_type.get(name, 0) + params
    count = ParameterCount(
        by_dtype=dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        stored_by_dtype=dict(by_type),
        source="gguf",
    )
    weights = sum(h.data_bytes for h in headers)
    header_overhead = sum(h.data_offset for h in headers)
    variants = _variants(snapshot, count.total, weights, header_overhead)
    notes = [
        f"GGUF variant {snapshot.gguf_variant} read ({len(headers)} header{'s' if len(headers) > 1 else ''})"
    ]
    projectors = gguf_projectors(list(snapshot.file_sizes))
    if projectors:
        notes.append(f"multimodal projector(s) not counted: {', '.join(projectors)}")
    return ModelFacts(
        model_id=snapshot.model_id,
        revision=snapshot.revision,
        sha=snapshot.sha,
        parameters=count,
        weights_bytes=weights,
        architecture=arch,
        weights_format="gguf",
        format="gguf",
        notes=tuple(notes),
        stored_precision=snapshot.gguf_variant,
        variants=variants,
        variant=snapshot.gguf_variant,
        llamacpp=from_gguf(headers, fields),
    )


def _architecture(fields: Mapping[str, object], headers: Sequence[GgufHeader]) -> Architecture:
    values = {name: _largest(fields.get(name)) for name in _INT_FIELDS}
    layers = values["num_layers"] or 0
    sliding = fields.get("sliding_window_layers")
    layer_types = ()
    if isinstance(sliding, tuple) and len(sliding) == layers:
        layer_types = tuple("sliding_attention" if s else "full_attention" for s in sliding)
    names = {t.name for h in headers for t in h.tensors}
    return Architecture(
        model_type=str(fields.get("model_type") or "") or None,
        architectures=(),
        layer_types=layer_types,
        tie_word_embeddings="output.weight" not in names,  # llama.cpp reuses token_embd when it is absent
        **{k: v for k, v in values.items() if v is not None},
    )


def _largest(value: object) -> int | None:
    """A GGUF number, or the largest of a per-layer array (head counts, FFN widths vary by layer)."""
    if isinstance(value, tuple):
        numbers = [v for v in value if type(v) is int and v > 0]
        return max(numbers) if numbers else None
    return value if type(value) is int and value > 0 else None


def _variants(snapshot: RepoSnapshot, parameters: int, weights: int, overhead: int) -> tuple[Variant, ...]:
    """Every complete variant of the repo: the one read exactly, the others as their file bytes less a
    header (split variants missing a part are left out: llama.cpp cannot load them)."""
    sizes = dict(snapshot.file_sizes)
    found = []
    for v in gguf_variants(list(sizes), sizes):
        if not v.complete:
            continue
        file_bytes = v.size or 0
        exact = v.name == snapshot.gguf_variant
        held = weights if exact else max(file_bytes - overhead, 0)
        found.append(Variant(v.name, v.files, file_bytes, held, parameters, exact))
    return tuple(found)
