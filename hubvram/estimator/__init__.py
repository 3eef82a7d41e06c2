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
    seq2seq.py      encoder-decoders (T5, BART, Marian, Whisper): two stacks, cross-attention, both caches
    llamacpp.py     how llama.cpp allocates a GGUF model (its own model of memory)
    vllm.py         how vLLM sizes a GPU: budget, KV blocks, start-up errors (vllm_kv, vllm_profile,
                    vllm_messages hold its parts)
    moe.py          active parameters and the bytes a MoE step reads
    speed.py        decode and prefill tokens/s bounds from bandwidth and FLOP/s
    curve.py        memory against context length (the data of render/chart.py)
    serving.py      one scenario on one GPU: vLLM and speed as the report's JSON objects
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
    "VllmFit": "vllm",
    "VllmOptions": "vllm",
    "vllm_fit": "vllm",
    "active_parameters": "moe",
    "expert_split": "moe",
    "serving_summary": "serving",
    "Speed": "speed",
    "SpeedOptions": "speed",
    "tokens_per_second": "speed",
    "MemoryCurve": "curve",
    "memory_curve": "curve",
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
    "MemoryCurve",
    "Speed",
    "SpeedOptions",
    "VllmFit",
    "VllmOptions",
    "active_parameters",
    "estimate",
    "expert_split",
    "serving_summary",
    "memory_curve",
    "tokens_per_second",
    "vllm_fit",
    "kv_cache_bytes",
    "kv_cache_bytes_per_token",
    "lora_parameters",
    "optimizer_scratch_bytes_per_param",
    "optimizer_state_bytes_per_param",
    "stored_compute_dtype",
    "training_layer_bytes_per_token",
    "weight_bytes_per_param",
]
