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

from dataclasses import replace

from ..model.facts import ModelFacts
from .activations import training_layer_bytes_per_token
from .inference import estimate_inference
from .kv_cache import kv_cache_bytes, kv_cache_bytes_per_token
from .options import OPTIMIZERS, EstimateOptions, check_options
from .result import COMPONENT_KEYS, Estimate
from .training import estimate_training
from .weights import (
    lora_parameters,
    optimizer_scratch_bytes_per_param,
    optimizer_state_bytes_per_param,
    stored_compute_dtype,
    weight_bytes_per_param,
)


def estimate(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    """Peak GPU memory of ``options``' scenario for the model ``facts`` describes."""
    check_options(options)
    if options.mode == "inference":
        result = estimate_inference(facts, options)
    else:
        result = estimate_training(facts, options)
    if facts.architecture.is_encoder_decoder:
        note = (
            "encoder-decoder model: estimated as one stack of num_layers (cross-attention cache not counted)"
        )
        result = replace(result, notes=result.notes + (note,))
    return result


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
