"""hubvram: how much GPU memory a Hugging Face Hub model needs, read from config.json and safetensors headers.

>>> from hubvram import read_facts, estimate, EstimateOptions
>>> facts, transfer = read_facts("meta-llama/Llama-2-7b-hf")
>>> estimate(facts, EstimateOptions(mode="inference", batch_size=1, seq_len=4096)).total
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# estimate() and fit() share their names with their modules: bound here, eagerly, so that
# `from hubvram import estimate` is the function whatever was imported before (both modules are light).
from .estimate import Estimate, EstimateOptions, estimate  # noqa: E402
from .fit import fit  # noqa: E402

# The rest of the public API, imported on first use so that `hubvram --help` does not pay for it.
_PUBLIC = {
    "read_facts": "hubvram.report",
    "build_report": "hubvram.report",
    "load_snapshot": "hubvram.hub",
    "facts_from_snapshot": "hubvram.facts",
    "ModelFacts": "hubvram.facts",
    "find_gpu": "hubvram.gpus",
    "load_catalog": "hubvram.gpus",
    "HubVramError": "hubvram.errors",
}

__all__ = ["__version__", "Estimate", "EstimateOptions", "estimate", "fit", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'hubvram' has no attribute {name!r}")
