"""The estimator's entry point: one scenario of one model -> its Estimate."""

from __future__ import annotations

from dataclasses import replace

from ..dtypes import LLAMACPP_ONLY_KV_DTYPES
from ..errors import UsageError
from ..model.facts import ModelFacts
from .gguf import estimate_gguf
from .inference import estimate_inference
from .options import EstimateOptions, check_options
from .result import Estimate
from .training import estimate_training


def estimate(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    """Peak GPU memory of ``options``' scenario for the model ``facts`` describes."""
    check_options(options)
    if facts.format == "gguf":
        return estimate_gguf(facts, options)
    if options.kv_cache_dtype in LLAMACPP_ONLY_KV_DTYPES:
        raise UsageError(
            f"a {options.kv_cache_dtype} KV cache is llama.cpp's (GGUF repos); PyTorch keeps fp32, fp16, "
            "bf16 or fp8 caches"
        )
    if options.variant is not None:
        raise UsageError(f"{facts.model_id} has no GGUF variants ({facts.format} weights): drop --variant")
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
