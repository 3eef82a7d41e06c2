"""hubvram: how much GPU memory a Hugging Face Hub model needs, read from config.json and weight headers.

>>> from hubvram import read_facts, estimate, EstimateOptions
>>> facts, transfer = read_facts("meta-llama/Llama-2-7b-hf")
>>> estimate(facts, EstimateOptions(mode="inference", batch_size=1, seq_len=4096)).total

The stages, each a package, data flowing one way:

    fetch/      repo files -> RepoSnapshot (config + parsed weight headers), never tensor data
    model/      RepoSnapshot -> ModelFacts (architecture, exact parameter counts)
    estimator/  ModelFacts + EstimateOptions -> Estimate (bytes per component, at the peak)
    gpus/       the GPU catalog, and how many bytes fit on which cards
    report.py   facts + the asked-for scenarios -> Report (estimates and their fit per GPU)
    render/     Report or scan rows -> table, markdown, JSON, CSV, JSONL
    scan/       many models concurrently, one row each
    cli/        the `hubvram` command
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The public API, imported on first use so that `hubvram --help` does not pay for it.
_PUBLIC = {
    "estimate": "hubvram.estimator",
    "Estimate": "hubvram.estimator",
    "EstimateOptions": "hubvram.estimator",
    "fit": "hubvram.gpus",
    "find_gpu": "hubvram.gpus",
    "load_catalog": "hubvram.gpus",
    "read_facts": "hubvram.report",
    "build_report": "hubvram.report",
    "RunOptions": "hubvram.report",
    "load_snapshot": "hubvram.fetch.load",
    "facts_from_snapshot": "hubvram.model",
    "ModelFacts": "hubvram.model",
    "HubVramError": "hubvram.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'hubvram' has no attribute {name!r}")
