"""What the fetch stage returns: a RepoSnapshot (config + parsed headers), and the counter of a read."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    weights_format: str = "safetensors"  # "safetensors", "pytorch" (.bin only), "none"
    stored_weight_bytes: int | None = None  # .bin repos: total size from the index or the listing
    components: tuple[str, ...] = ()  # subfolders whose weights were read (diffusers, sentence-transformers)
    source: str = "hub"  # "hub" or "local"
    requests: int = 0
    bytes_received: int = 0
    cached: bool = False  # answered from hubvram's cache (no header bytes transferred)

    @property
    def header_bytes(self) -> int:
        return sum(f.header_bytes for f in self.weight_files)

    def cacheable(self) -> dict[str, Any]:
        """The fields fetch.cache keeps for a commit (everything but who asked and what it cost)."""
        return {
            "config": dict(self.config),
            "weight_files": self.weight_files,
            "weights_format": self.weights_format,
            "stored_weight_bytes": self.stored_weight_bytes,
            "components": self.components,
        }
