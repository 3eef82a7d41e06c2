"""Which files a repo layout needs read (shared by the Hub and local readers), from its file list alone.

In this order, the first that matches: a root `model.safetensors` or sharded index (transformers; an
`original/` copy or a Mistral `consolidated` copy beside it is not counted again); diffusers /
sentence-transformers component folders; a PEFT adapter (`adapter_config.json`); Mistral's native
`params.json` + `consolidated*.safetensors`; Meta's original `params.json` + `consolidated.NN.pth`
(never read: their sizes come from the listing); `.gguf` files (one variant per quantization); `.bin`
weights (their stored size, from the index's total_size or the listing). An index may only name
`.safetensors` shards inside the repo.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import MalformedConfig
from ..errors import printable as _clip
from . import limits

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILE = "config.json"
PARAMS_FILE = "params.json"  # Meta's and Mistral's native configs
ADAPTER_CONFIG = "adapter_config.json"  # PEFT
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
NATIVE_INDEX = "consolidated.safetensors.index.json"
NATIVE_KINDS = frozenset({"peft-adapter", "mistral-native", "meta-original", "gguf"})  # read by fetch.formats
_PTH = re.compile(r"^(?:original/)?consolidated\.\d+\.pth$")
_NATIVE_SHARD = re.compile(r"^consolidated(?:-\d{5}-of-\d{5})?\.safetensors$")


@dataclass(frozen=True)
class WeightPlan:
    """The files to read for a repo listing, and the layout they make (`kind`)."""

    safetensors: tuple[str, ...] = ()
    index: str | None = None  # read the index to learn the shard names (and total_size)
    bin_files: tuple[str, ...] = ()
    bin_index: str | None = None
    components: tuple[str, ...] = ()
    # "safetensors" | "pytorch" | "peft-adapter" | "mistral-native" | "meta-original" | "gguf" | "none"
    kind: str = "safetensors"
    params: str | None = None  # params.json of a native checkpoint
    pth_files: tuple[str, ...] = ()  # Meta's consolidated.NN.pth: listed, never read
    gguf_files: tuple[str, ...] = ()  # every .gguf of the repo (variants are grouped from them)
    adapter_config: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.kind == "none"


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
    return _native_plan(files) or root


def _native_plan(files: Mapping[str, int | None]) -> WeightPlan | None:
    """Layouts without transformers safetensors: an adapter, native checkpoints, GGUF files."""
    if ADAPTER_CONFIG in files:
        weights = next((name for name in ADAPTER_WEIGHTS if name in files), None)
        return WeightPlan(
            safetensors=(weights,) if weights and weights.endswith(".safetensors") else (),
            bin_files=(weights,) if weights and weights.endswith(".bin") else (),
            kind="peft-adapter",
            adapter_config=ADAPTER_CONFIG,
        )
    if PARAMS_FILE in files:
        if NATIVE_INDEX in files:
            return WeightPlan(index=NATIVE_INDEX, kind="mistral-native", params=PARAMS_FILE)
        shards = tuple(sorted(p for p in files if _NATIVE_SHARD.match(p)))
        if shards:
            return WeightPlan(safetensors=shards, kind="mistral-native", params=PARAMS_FILE)
        pth = tuple(sorted(p for p in files if _PTH.match(p) and "/" not in p))
        if pth:
            return WeightPlan(kind="meta-original", params=PARAMS_FILE, pth_files=pth)
    ggufs = tuple(sorted(p for p in files if p.lower().endswith(".gguf")))
    if ggufs:
        return WeightPlan(kind="gguf", gguf_files=ggufs)
    return None


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
            return WeightPlan(bin_files=bins, bin_index=f"{prefix}{stem}.bin.index.json", kind="pytorch")
        if f"{prefix}{stem}.bin" in files:
            return WeightPlan(bin_files=(f"{prefix}{stem}.bin",), kind="pytorch")
    return WeightPlan(kind="none")


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
