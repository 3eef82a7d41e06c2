"""hubvram: how much GPU memory a Hugging Face Hub model needs, read from config.json and safetensors headers.

>>> from hubvram import read_facts, estimate, EstimateOptions
>>> facts, transfer = read_facts("meta-llama/Llama-2-7b-hf")
>>> estimate(facts, EstimateOptions(mode="inference", batch_size=1, seq_len=4096)).total
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public API, imported on first use so that `hubvram --help` does not pay for it.
_PUBLIC = {
    "read_facts": "hubvram.report",
    "build_report": "hubvram.report",
    "load_snapshot": "hubvram.hub",
    "facts_from_snapshot": "hubvram.facts",
    "ModelFacts": "hubvram.facts",
    "estimate": "hubvram.estimate",
    "EstimateOptions": "hubvram.estimate",
    "Estimate": "hubvram.estimate",
    "find_gpu": "hubvram.gpus",
    "load_catalog": "hubvram.gpus",
    "fit": "hubvram.fit",
    "HubVramError": "hubvram.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'hubvram' has no attribute {name!r}")
