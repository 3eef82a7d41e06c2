"""Which files a repo layout needs read (shared by the Hub and local readers), from its file list alone.

A root `model.safetensors` or sharded index; else diffusers / sentence-transformers component
folders; else `.bin` weights (their stored size, from the index's total_size or the listing). An index
may only name `.safetensors` shards inside the repo.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MalformedConfig
from ..errors import printable as _clip
from . import limits

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class WeightPlan:
    """The files to read for a repo listing: safetensors headers, or a .bin fallback."""

    safetensors: tuple[str, ...] = ()
    index: str | None = None  # read the index to learn the shard names (and total_size)
    bin_files: tuple[str, ...] = ()
    bin_index: str | None = None
    components: tuple[str, ...] = ()


def plan_weights(files: Mapping[str, int | None]) -> WeightPlan:
    """Choose what to read from a repo's file list (path -> size)."""
    root = _weights_in(files, "")
    if root.safetensors or root.index:
        extra = _sentence_transformer_modules(files)
        return WeightPlan(root.safetensors + extra.safetensors, root.index, components=extra.components)
    components = _component_folders(files)
    if components:
        found = [(_weights_in(files, folder), folder) for folder in components]
        names = tuple(name for plan, _ in found for name in plan.safetensors)
        if names:
            return WeightPlan(names, components=tuple(folder for plan, folder in found if plan.safetensors))
    return root


def _weights_in(files: Mapping[str, int | None], folder: str) -> WeightPlan:
    prefix = f"{folder}/" if folder else ""
    for stem in ("model", "diffusion_pytorch_model"):
        if f"{prefix}{stem}.safetensors.index.json" in files:
            return WeightPlan(index=f"{prefix}{stem}.safetensors.index.json")
        if f"{prefix}{stem}.safetensors" in files:
            return WeightPlan(safetensors=(f"{prefix}{stem}.safetensors",))
    for stem in ("pytorch_model", "diffusion_pytorch_model"):
        if f"{prefix}{stem}.bin.index.json" in files:
            bins = tuple(p for p in files if p.startswith(f"{prefix}{stem}-") and p.endswith(".bin"))
            return WeightPlan(bin_files=bins, bin_index=f"{prefix}{stem}.bin.index.json")
        if f"{prefix}{stem}.bin" in files:
            return WeightPlan(bin_files=(f"{prefix}{stem}.bin",))
    return WeightPlan()


def _component_folders(files: Mapping[str, int | None]) -> tuple[str, ...]:
    """Subfolders that hold a model of their own (diffusers components, sentence-transformers modules)."""
    folders = {p.split("/")[0] for p in files if "/" in p and p.split("/")[-1] == CONFIG_FILE}
    return tuple(sorted(f for f in folders if _weights_in(files, f).safetensors))


def _sentence_transformer_modules(files: Mapping[str, int | None]) -> WeightPlan:
    if "modules.json" not in files:
        return WeightPlan()
    folders = sorted({p.split("/")[0] for p in files if "/" in p and p.split("/")[0][:1].isdigit()})
    names = tuple(name for folder in folders for name in _weights_in(files, folder).safetensors)
    return WeightPlan(names, components=tuple(n.split("/")[0] for n in names))


def shard_names(index: Mapping[str, Any], index_path: str) -> tuple[str, ...]:
    """Shard files an index names, relative to the repo root; refuse names outside the repo."""
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise MalformedConfig(f"{index_path}: weight_map is missing or not a mapping of names to files")
    folder = posixpath.dirname(index_path)
    shards = []
    for shard in sorted(set(weight_map.values())):
        path = posixpath.normpath(posixpath.join(folder, shard))
        if (
            shard.startswith("/")
            or path.startswith("..")
            or "\\" in shard
            or not shard.endswith(".safetensors")
        ):
            raise MalformedConfig(
                f"{index_path}: shard '{_clip(shard)}' points outside the repo or is not safetensors"
            )
        shards.append(path)
    if len(shards) > limits.MAX_SHARDS:
        raise MalformedConfig(
            f"{index_path}: names {len(shards):,} shards, more than the {limits.MAX_SHARDS:,} allowed"
        )
    return tuple(shards)


def bin_stored_bytes(
    plan: WeightPlan, sizes: Mapping[str, int | None], read_json: Callable[[str], Mapping[str, Any]]
) -> int | None:
    """Stored size of .bin weights: the index's total_size, else the file sizes the listing gives."""
    total = index_total_size(read_json(plan.bin_index)) if plan.bin_index else None
    return total or sum(sizes.get(name) or 0 for name in plan.bin_files) or None


def index_total_size(index: Mapping[str, Any]) -> int | None:
    metadata = index.get("metadata")
    size = metadata.get("total_size") if isinstance(metadata, dict) else None
    return int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) and size > 0 else None
