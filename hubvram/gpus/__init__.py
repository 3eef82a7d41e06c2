"""The GPU stage: a catalog of real cards (usable memory of each), and how an estimate fits on them."""

from __future__ import annotations

from .catalog import Gpu, custom_gpu, default_gpus, find_gpu, load_catalog, parse_size, resolve_gpus
from .fitting import Fit, fit, gpus_needed, largest_fitting, per_gpu_bytes

__all__ = [
    "Fit",
    "Gpu",
    "custom_gpu",
    "default_gpus",
    "find_gpu",
    "fit",
    "gpus_needed",
    "largest_fitting",
    "load_catalog",
    "parse_size",
    "per_gpu_bytes",
    "resolve_gpus",
]
