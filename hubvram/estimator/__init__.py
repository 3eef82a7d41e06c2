"""The estimator: ModelFacts + EstimateOptions in, an Estimate (bytes per component, peak total) out.

Pure arithmetic: no I/O, no globals that change. Every formula cites its source on the line beside it.
Memory is modelled as it happens in a PyTorch/transformers step, phase by phase, and the total is the
largest phase, not the sum of every component:

- inference: ``prefill`` (weights + KV cache of the prompt + one layer's temporaries + last-token
  logits) and ``decode`` (weights + the full KV cache + the copy made while it grows);
- training: ``forward`` (weights + optimizer state + saved activations + logits and loss),
  ``backward`` (the loss gradient over the logits beside every saved activation, then the gradients),
  ``optimizer_step`` (weights + gradients + optimizer state + the optimizer's scratch).

Activation counts are bytes saved for backward per token, per layer, counted op by op in the
transformers implementations (the method of Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", section 4) and checked against torch's memory profiler by
``benchmarks/accuracy.py``.

    estimating.py   estimate(): the entry point
    options.py      EstimateOptions and the accepted values
    result.py       Estimate, the phases and the runtime overhead
    weights.py      bytes per parameter (precisions, optimizers), parameter split, LoRA
    shape.py        per-layer sizes
    kv_cache.py     KV cache per token and per layer
    activations.py  saved activations (training) and the live set (inference), per token
    inference.py    prefill and decode
    training.py     forward, backward and optimizer step, with every memory strategy
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): the CLI's flags need only options.py, and `hubvram --help` should not
# load every formula to print them.
_EXPORTS = {
    "estimate": "estimating",
    "COMPONENT_KEYS": "result",
    "Estimate": "result",
    "EstimateOptions": "options",
    "OPTIMIZERS": "options",
    "kv_cache_bytes": "kv_cache",
    "kv_cache_bytes_per_token": "kv_cache",
    "lora_parameters": "weights",
    "optimizer_scratch_bytes_per_param": "weights",
    "optimizer_state_bytes_per_param": "weights",
    "stored_compute_dtype": "weights",
    "training_layer_bytes_per_token": "activations",
    "weight_bytes_per_param": "weights",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COMPONENT_KEYS",
    "OPTIMIZERS",
    "Estimate",
    "EstimateOptions",
    "estimate",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "lora_parameters",
    "optimizer_scratch_bytes_per_param",
    "optimizer_state_bytes_per_param",
    "stored_compute_dtype",
    "training_layer_bytes_per_token",
    "weight_bytes_per_param",
]
