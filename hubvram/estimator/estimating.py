"""The estimator's entry point: one scenario of one model -> its Estimate."""

from __future__ import annotations

from dataclasses import replace

from ..dtypes import LLAMACPP_ONLY_KV_DTYPES
from ..errors import UsageError
from ..model.facts import Architecture, ModelFacts
from ..model.families import default_attention, is_seq2seq_modelled
from .gguf import estimate_gguf
from .inference import estimate_inference
from .options import EstimateOptions, check_options
from .result import Estimate
from .seq2seq import estimate_seq2seq
from .training import estimate_training


def estimate(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    """Peak GPU memory of ``options``' scenario for the model ``facts`` describes."""
    arch = facts.architecture
    seq2seq = facts.format != "gguf" and is_seq2seq_modelled(arch)
    check_options(options, encoder_decoder=seq2seq)
    if facts.format == "gguf":
        return estimate_gguf(facts, options)
    if options.kv_cache_dtype in LLAMACPP_ONLY_KV_DTYPES:
        raise UsageError(
            f"a {options.kv_cache_dtype} KV cache is llama.cpp's (GGUF repos); PyTorch keeps fp32, fp16, "
            "bf16 or fp8 caches"
        )
    if options.variant is not None:
        raise UsageError(f"{facts.model_id} has no GGUF variants ({facts.format} weights): drop --variant")
    options, attention_note = resolve_attention(arch, options)
    if seq2seq:
        result = estimate_seq2seq(facts, options)
    elif options.mode == "inference":
        result = estimate_inference(facts, options)
    else:
        result = estimate_training(facts, options)
    notes = ((attention_note,) if attention_note else ()) + result.notes
    if arch.is_encoder_decoder and not seq2seq:
        notes += (
            f"encoder-decoder model of a family hubvram does not model as two stacks ({arch.model_type}): "
            "estimated as one stack of num_layers, cross-attention cache not counted",
        )
    return replace(result, notes=notes)


def resolve_attention(arch: Architecture, options: EstimateOptions) -> tuple[EstimateOptions, str]:
    """The attention to count: what transformers runs for "auto", eager where a model has no SDPA path;
    and a note saying so, except for the common case (auto is SDPA) that every estimate would repeat."""
    default, why = default_attention(arch)
    if options.attention == "auto":
        note = "" if default == "sdpa" else f"attention: {default} ({why})"
        return replace(options, attention=default), note
    if options.attention == "sdpa" and default == "eager":  # transformers refuses sdpa for these classes
        return replace(options, attention="eager"), f"attention: eager, not sdpa ({why})"
    return options, f"attention: {options.attention} (as asked; {why})"
