"""The model stage's entry point: from what the fetch stage read (a RepoSnapshot) to ModelFacts."""

from __future__ import annotations

from ..errors import MalformedConfig, NotSafetensors
from ..fetch.snapshot import RepoSnapshot
from .config import clean_text, read_architecture, resolve_tied
from .counting import count_parameters, derive_parameters, stores_head_and_embedding
from .facts import ModelFacts


def facts_from_snapshot(snapshot: RepoSnapshot) -> ModelFacts:
    """Turn what the fetcher read into ModelFacts."""
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
    )
