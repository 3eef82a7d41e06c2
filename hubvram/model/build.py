"""The model stage's entry point: from what the fetch stage read (a RepoSnapshot) to ModelFacts."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import MalformedConfig, NotSafetensors
from ..fetch.snapshot import RepoSnapshot
from .adapter import adapter_facts
from .config import clean_text, read_architecture, resolve_tied
from .counting import count_parameters, derive_parameters, mlx_quantization, stores_head_and_embedding
from .facts import ModelFacts
from .gguf_facts import gguf_facts
from .native import meta_architecture, mistral_architecture


def facts_from_snapshot(snapshot: RepoSnapshot) -> ModelFacts:
    """Turn what the fetcher read into ModelFacts (each layout its own way)."""
    if snapshot.weights_format == "peft-adapter":
        if snapshot.base is None:
            raise MalformedConfig(f"{snapshot.model_id}: the adapter's base model was not read")
        return adapter_facts(snapshot, facts_from_snapshot(snapshot.base))
    if snapshot.weights_format == "gguf":
        return gguf_facts(snapshot)
    if snapshot.weights_format in ("meta-original", "mistral-native"):
        return _native_facts(snapshot)
    if not snapshot.config:
        raise MalformedConfig(
            f"{snapshot.model_id} has no config.json: without it the architecture (layers, heads, "
            "context) is unknown and no memory estimate can be made",
            model=snapshot.model_id,
        )
    try:
        arch = read_architecture(snapshot.config)
    except MalformedConfig as exc:
        raise MalformedConfig(f"{snapshot.model_id}: {exc}", model=snapshot.model_id) from None
    # Whether an unstated tie matters: an lm_head stored beside the embedding, or a count derived from
    # the config formula. Only then is transformers imported for the class default (1-2 s).
    derived_by_formula = not snapshot.weight_files and not snapshot.stored_weight_bytes
    if arch.tie_word_embeddings is None and (
        stores_head_and_embedding(snapshot.weight_files) or derived_by_formula
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
        raise NotSafetensors(
            f"{snapshot.model_id} has no safetensors or PyTorch weights that hubvram can read",
            model=snapshot.model_id,
        )
    mlx = mlx_quantization(arch)
    return ModelFacts(
        model_id=snapshot.model_id,
        revision=snapshot.revision,
        sha=snapshot.sha,
        parameters=count,
        weights_bytes=weights_bytes,
        architecture=arch,
        weights_format=snapshot.weights_format,
        notes=notes + count_notes,
        pipeline_class=clean_text(snapshot.config.get("_class_name")),
        format="mlx" if mlx and snapshot.weight_files else snapshot.weights_format,
        stored_precision=_mlx_precision(count.by_dtype, mlx) if mlx else None,
    )


def _mlx_precision(by_dtype: Mapping[str, int], mlx: tuple[int, int]) -> str:
    """ "int4 g64 (mlx)": the packed precision holding most parameters, and the group size."""
    packed = [dtype for dtype in by_dtype if dtype.startswith("INT")]
    bits = packed[0][3:] if packed else str(mlx[1])
    return f"int{bits} g{mlx[0]} (mlx)"


def _native_facts(snapshot: RepoSnapshot) -> ModelFacts:
    """Meta's original (count derived from params.json, checked against the .pth bytes) or Mistral's
    native checkpoint (counted from consolidated.safetensors)."""
    where = snapshot.model_id
    params = snapshot.params or {}
    if snapshot.weights_format == "mistral-native":
        arch = mistral_architecture(params, where)
        count, weights_bytes, notes = count_parameters(snapshot.weight_files, arch)
        notes = ("Mistral native checkpoint (params.json + consolidated safetensors)", *notes)
    else:
        arch = meta_architecture(params, where)
        count, weights_bytes, notes = derive_parameters(arch, None)
        stored = snapshot.stored_weight_bytes
        if stored:  # bf16: 2 bytes a parameter, plus pickle framing (~KBs)
            off = stored / (2 * count.total) - 1
            notes = (
                f"Meta original checkpoint: count derived from params.json; {len(snapshot.file_sizes)} "
                f".pth file(s) hold {stored:,} bytes, {off:+.2%} from that count in bf16",
            )
            weights_bytes = count.total * 2
    if arch.max_position_embeddings is None:
        notes = (*notes, "params.json states no context length: the default sequence length is used")
    return ModelFacts(
        model_id=snapshot.model_id,
        revision=snapshot.revision,
        sha=snapshot.sha,
        parameters=count,
        weights_bytes=weights_bytes,
        architecture=arch,
        weights_format=snapshot.weights_format,
        format=snapshot.weights_format,
        notes=tuple(notes),
    )
