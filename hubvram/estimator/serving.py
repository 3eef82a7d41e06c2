"""One scenario on one GPU for the report: vLLM's KV cache and the tokens/s bounds, as JSON-ready dicts.

The glue between the report's ``EstimateOptions`` and the serving modules: ``vllm_options_for`` and
``speed_options_for`` carry the scenario's settings over (tensor parallelism, KV cache precision, batch,
context, what-if precision); ``serving_summary`` returns ``{"serving": ..., "speed": ...}`` for one GPU.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..dtypes import QUANTIZED_DTYPES
from ..model.facts import ModelFacts
from .device import Device
from .options import EstimateOptions
from .speed import SpeedOptions, tokens_per_second
from .vllm import VllmOptions, vllm_fit

# hubvram's --kv-cache-dtype names -> vLLM's --kv-cache-dtype (vllm/config/cache.py CacheDType);
# fp32 has no vLLM KV cache dtype: "auto" (the model dtype) is the closest
VLLM_KV_CACHE_DTYPES = {None: "auto", "fp8": "fp8", "bf16": "bfloat16", "fp16": "float16", "fp32": "auto"}
VLLM_DTYPES = {None: "auto", "fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}  # vLLM --dtype


def vllm_options_for(options: EstimateOptions, **overrides: Any) -> VllmOptions:
    """vLLM settings for a scenario: its tensor parallelism, float dtype and KV cache precision; vLLM's
    defaults otherwise (max_model_len = the model's context, so max_concurrency is at that length)."""
    base = VllmOptions(
        tensor_parallel=options.tensor_parallel,
        kv_cache_dtype=VLLM_KV_CACHE_DTYPES[options.kv_cache_dtype],
        dtype=VLLM_DTYPES.get(options.dtype, "auto"),
    )
    return replace(base, **overrides)


def speed_options_for(options: EstimateOptions, **overrides: Any) -> SpeedOptions:
    """Speed settings for a scenario: batch, context (seq_len), prompt, tensor parallelism, precisions."""
    base = SpeedOptions(
        batch_size=options.batch_size,
        context_tokens=options.seq_len,
        prompt_tokens=max(options.prompt_tokens, 1),
        tensor_parallel=options.tensor_parallel,
        kv_cache_dtype=options.kv_cache_dtype,
        dtype=options.dtype,
    )
    return replace(base, **overrides)


def serving_summary(facts: ModelFacts, gpu: Device, options: EstimateOptions) -> dict[str, Any]:
    """``{"serving": {engine, kv_cache_tokens, max_concurrency, max_model_len, fits, error},
    "speed": {decode_tokens_per_s, prefill_tokens_per_s, efficiency, ...}}`` of one scenario on one GPU.

    vLLM serves the weights as stored: a what-if re-quantized scenario (int8/int4/...) gets ``serving``
    None, since the checkpoint vLLM would load is a different repo.
    """
    serving: dict[str, Any] | None = None
    if options.dtype not in QUANTIZED_DTYPES:
        fit = vllm_fit(facts, gpu, vllm_options_for(options))
        serving = {**fit.serving_dict(), "fits": fit.fits, "error": fit.error}
    return {"serving": serving, "speed": tokens_per_second(facts, gpu, speed_options_for(options)).to_dict()}
