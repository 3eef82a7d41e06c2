"""The estimator's entry point: one scenario of one model -> its Estimate."""

from __future__ import annotations

from dataclasses import replace

from ..model.facts import ModelFacts
from .inference import estimate_inference
from .options import EstimateOptions, check_options
from .result import Estimate
from .training import estimate_training


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
