"""Reading the layouts without transformers safetensors: PEFT adapters, Mistral's and Meta's native
checkpoints, GGUF files. One implementation for the Hub and for local directories, over a FileSource.

What each reads (never tensor data): an adapter's `adapter_config.json` and its safetensors header;
Mistral's `params.json` and the headers of `consolidated*.safetensors`; Meta's `params.json` and the
sizes the listing gives for `consolidated.NN.pth` (never opened); for GGUF, the listing's sizes of
every `.gguf` and the header of one variant (every part of it when split): `--variant`, else the one
most people run (fetch.gguf_variants.default_variant).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import MalformedConfig, NotSafetensors
from .gguf import GgufHeader
from .gguf_variants import default_variant, gguf_variants, pick_variant
from .layout import WeightPlan, shard_names
from .safetensors import SafetensorsFile


class FileSource(Protocol):
    """What a reader offers the layouts: a repo's JSON files, safetensors headers, GGUF headers."""

    def json_file(self, path: str) -> dict[str, Any]: ...

    def safetensors_headers(self, names: tuple[str, ...]) -> tuple[SafetensorsFile, ...]: ...

    def gguf_headers(self, paths: tuple[str, ...], sizes: Mapping[str, int]) -> tuple[GgufHeader, ...]: ...


def read_layout(
    plan: WeightPlan, source: FileSource, listing: Mapping[str, int | None], variant: str | None, where: str
) -> dict[str, Any]:
    """RepoSnapshot fields for plan.kind (one of the layouts this module reads); `where` names the repo."""
    if plan.kind == "peft-adapter":
        fields: dict[str, Any] = {"adapter_config": source.json_file(plan.adapter_config or "")}
        if plan.bin_files:  # an old adapter_model.bin: its size only (never unpickled)
            fields["stored_weight_bytes"] = listing.get(plan.bin_files[0]) or None
        else:
            fields["weight_files"] = source.safetensors_headers(plan.safetensors)
        return fields
    if plan.kind == "mistral-native":
        names = plan.safetensors
        if plan.index:
            try:
                names = shard_names(source.json_file(plan.index), plan.index)
            except MalformedConfig as exc:
                raise MalformedConfig(f"{where}: {exc}", model=where) from None
        return {
            "params": source.json_file(plan.params or ""),
            "weight_files": source.safetensors_headers(names),
        }
    if plan.kind == "meta-original":
        sizes = {path: listing.get(path) or 0 for path in plan.pth_files}
        return {
            "params": source.json_file(plan.params or ""),
            "file_sizes": sizes,
            "stored_weight_bytes": sum(sizes.values()) or None,
        }
    if plan.kind == "gguf":
        sizes = {path: listing.get(path) or 0 for path in plan.gguf_files}
        variants = gguf_variants(plan.gguf_files, sizes)
        chosen = pick_variant(variants, variant) if variant else default_variant(variants)
        if chosen is None:
            raise NotSafetensors(f"{where} has .gguf files but no complete variant (split parts missing)")
        return {
            "file_sizes": sizes,
            "gguf_headers": source.gguf_headers(chosen.files, sizes),
            "gguf_variant": chosen.name,
        }
    raise ValueError(f"read_layout does not read {plan.kind!r} layouts")
