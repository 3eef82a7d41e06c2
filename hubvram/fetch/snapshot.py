"""What the fetch stage returns: a RepoSnapshot (config + parsed headers), and the counter of a read."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .gguf import GgufHeader
from .safetensors import SafetensorsFile


@dataclass
class ReadCounter:
    """Requests made and body bytes received while reading one model (thread-safe counters)."""

    requests: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, requests: int, nbytes: int) -> None:
        with self._lock:
            self.requests += requests
            self.bytes += nbytes


@dataclass(frozen=True)
class RepoSnapshot:
    """What hubvram read from one repo revision: its config and the headers of its weight files."""

    model_id: str
    revision: str | None
    sha: str | None
    config: Mapping[str, Any]
    weight_files: tuple[SafetensorsFile, ...] = ()
    # the layout (fetch.layout.WeightPlan.kind): "safetensors", "pytorch" (.bin only), "peft-adapter",
    # "mistral-native", "meta-original", "gguf", "none"
    weights_format: str = "safetensors"
    stored_weight_bytes: int | None = None  # .bin / .pth: total size from the index or the listing
    components: tuple[str, ...] = ()  # subfolders whose weights were read (diffusers, sentence-transformers)
    params: Mapping[str, Any] | None = None  # params.json of a Meta or Mistral native checkpoint
    file_sizes: Mapping[str, int] = field(default_factory=dict)  # listed sizes: .pth shards, every .gguf
    gguf_headers: tuple[GgufHeader, ...] = ()  # the parts of the GGUF variant read (gguf_variant)
    gguf_variant: str | None = None
    adapter_config: Mapping[str, Any] | None = None  # a PEFT adapter's adapter_config.json
    base: RepoSnapshot | None = None  # a PEFT adapter's base model, read too
    source: str = "hub"  # "hub" or "local"
    requests: int = 0
    bytes_received: int = 0
    cached: bool = False  # answered from hubvram's cache (no header bytes transferred)

    @property
    def header_bytes(self) -> int:
        return sum(f.header_bytes for f in self.weight_files) + sum(g.header_bytes for g in self.gguf_headers)

    @property
    def header_files(self) -> int:
        return len(self.weight_files) + len(self.gguf_headers)

    def cacheable(self) -> dict[str, Any]:
        """The fields fetch.cache keeps for a commit (everything but who asked and what it cost)."""
        return {
            "config": dict(self.config),
            "weight_files": self.weight_files,
            "weights_format": self.weights_format,
            "stored_weight_bytes": self.stored_weight_bytes,
            "components": self.components,
            "params": None if self.params is None else dict(self.params),
            "file_sizes": dict(self.file_sizes),
            "gguf_headers": self.gguf_headers,
            "gguf_variant": self.gguf_variant,
            "adapter_config": None if self.adapter_config is None else dict(self.adapter_config),
        }
