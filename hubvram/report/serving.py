"""Serving on each GPU: the engine a report is sized for, what it holds there (KV cache tokens, requests at
once, the longest context) and the tokens/s bounds of each inference scenario.

The arithmetic is the estimator's (estimator/vllm.py sizes vLLM's KV block pool as vLLM does,
estimator/speed.py bounds decode by memory bandwidth and prefill by FLOP/s); this module picks, per GPU,
the scenario an engine would run and turns the answers into the report's JSON-ready dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..dtypes import QUANTIZED_DTYPES
from ..errors import UsageError
from ..estimator import Estimate
from ..estimator.gguf import PartialOffload
from ..estimator.llamacpp_options import LLAMACPP_COMMIT
from ..estimator.options import ENGINES
from ..gpus import Fit, Gpu
from ..model import ModelFacts


@dataclass(frozen=True)
class VllmSettings:
    """The `vllm serve` flags a user can set here; None: vLLM's own default (estimator/vllm.py)."""

    gpu_memory_utilization: float | None = None
    version: str | None = None
    max_model_len: int | None = None  # the context asked for (--seq-len), else the model's


@dataclass(frozen=True)
class Limits:
    """What the report's search found on one card: the scenario it is for, its largest batch and context."""

    index: int | None
    max_batch_size: int | None
    max_seq_len: int | None


def resolve_engine(facts: ModelFacts, engine: str) -> str:
    """The engine a report is sized for; 'auto' is llama.cpp for a GGUF repo, transformers otherwise."""
    gguf = facts.format == "gguf"
    if engine == "auto":
        return "llama.cpp" if gguf else "transformers"
    if engine not in ENGINES:
        raise UsageError(f"engine '{engine}'; accepted: {', '.join(ENGINES)}")
    if gguf and engine != "llama.cpp":
        raise UsageError(
            f"{facts.model_id} holds GGUF files, which llama.cpp runs: hubvram sizes {engine} for "
            "safetensors checkpoints (pick the model's safetensors repo, or the llama.cpp engine)"
        )
    if not gguf and engine == "llama.cpp":
        raise UsageError(
            f"{facts.model_id} has no GGUF file, and llama.cpp loads only GGUF: pick a GGUF repo of this "
            "model (or convert it with llama.cpp's convert_hf_to_gguf.py), or the transformers or vllm engine"
        )
    return engine


def scenario_speeds(
    facts: ModelFacts, estimates: Sequence[Estimate], fits: Sequence[Fit], gpu: Gpu
) -> tuple[dict[str, Any] | None, ...]:
    """tokens/s bounds of each inference scenario that runs on this GPU (on one card, or on the cards its
    --tensor-parallel names); None for training, for what does not fit, and for a GGUF variant whose header
    was not read (its tensor types are not known)."""
    from ..estimator.serving import speed_options_for  # lazy: a scan without serving columns needs none
    from ..estimator.speed import tokens_per_second

    speeds = []
    for e, f in zip(estimates, fits, strict=True):
        o = e.options
        runs = f.fits or (o.tensor_parallel > 1 and f.gpus_needed is not None and f.gpus_needed <= 1)
        unread = o.variant is not None and o.variant.upper() != (facts.variant or "").upper()
        if o.mode != "inference" or not runs or unread:
            speeds.append(None)
            continue
        speeds.append(tokens_per_second(facts, gpu, speed_options_for(o)).to_dict())
    return tuple(speeds)


def engine_serving(
    facts: ModelFacts,
    estimates: Sequence[Estimate],
    gpu: Gpu,
    engine: str,
    limits: Limits,
    offload: Sequence[PartialOffload | None],
    vllm: VllmSettings,
) -> dict[str, Any] | None:
    """What ``engine`` holds on this GPU: ``{engine, scenario, kv_cache_tokens, max_concurrency,
    max_model_len, fits, error, ...}``, or None when no inference scenario is there to serve."""
    if engine == "vllm":
        return _vllm(facts, estimates, gpu, vllm)
    if engine == "llama.cpp":
        return _llamacpp(estimates, limits, offload)
    i = limits.index
    if i is None or estimates[i].options.mode != "inference":
        return None
    # transformers (generate) keeps no KV pool: the cache grows with the batch it is given
    return {
        "engine": "transformers",
        "scenario": i,
        "kv_cache_tokens": None,
        "max_concurrency": limits.max_batch_size,
        "max_model_len": limits.max_seq_len,
        "fits": True,
        "error": None,
    }


def _vllm(
    facts: ModelFacts, estimates: Sequence[Estimate], gpu: Gpu, settings: VllmSettings
) -> dict[str, Any] | None:
    from ..estimator.serving import vllm_options_for  # lazy: vLLM's model loads only when asked for
    from ..estimator.vllm import vllm_fit

    # vLLM loads the checkpoint as stored (a float one it may cast to --dtype): a re-quantized what-if is
    # another repo, so the stored (or an asked-for float) precision is what it serves
    index = next(
        (
            i
            for i, e in enumerate(estimates)
            if e.options.mode == "inference" and e.options.dtype not in QUANTIZED_DTYPES
        ),
        None,
    )
    if index is None:
        return None
    overrides: dict[str, Any] = {
        k: v
        for k, v in (
            ("gpu_memory_utilization", settings.gpu_memory_utilization),
            ("version", settings.version),
            ("max_model_len", settings.max_model_len),
        )
        if v is not None
    }
    fit = vllm_fit(facts, gpu, vllm_options_for(estimates[index].options, **overrides))
    error, held = fit.error, fit.serving_dict()
    if gpu.kind == "apple":
        error = "vLLM runs on CUDA and ROCm GPUs; on a Mac it has only a CPU backend (use llama.cpp or MLX)"
        held |= {"kv_cache_tokens": None, "max_concurrency": None, "max_model_len": None}
    return {
        **held,
        "scenario": index,
        "fits": error is None,
        "error": error,
        "gpu_memory_utilization": fit.gpu_memory_utilization,
        "asked_max_model_len": fit.asked_max_model_len,
        "kv_budget_bytes": fit.kv_budget_bytes,
        "notes": list(fit.notes),
    }


def _llamacpp(
    estimates: Sequence[Estimate], limits: Limits, offload: Sequence[PartialOffload | None]
) -> dict[str, Any] | None:
    engine = f"llama.cpp {LLAMACPP_COMMIT}"
    i = limits.index
    if i is not None and estimates[i].options.mode == "inference":
        # -c is the KV cache's size in tokens, shared by the -np slots (estimator/gguf.py)
        return {
            "engine": engine,
            "scenario": i,
            "variant": estimates[i].options.variant,
            "kv_cache_tokens": limits.max_seq_len,
            "max_concurrency": limits.max_batch_size,
            "max_model_len": limits.max_seq_len,
            "fits": True,
            "error": None,
        }
    partial = next((j for j, o in enumerate(offload) if o is not None and o.n_gpu_layers), None)
    if partial is None:
        return None
    o = offload[partial]
    return {
        "engine": engine,
        "scenario": partial,
        "variant": estimates[partial].options.variant,
        "kv_cache_tokens": estimates[partial].options.seq_len,
        "max_concurrency": None,
        "max_model_len": None,
        "fits": False,
        "error": None,
        "n_gpu_layers": o.n_gpu_layers,
        "layers": o.layers,
        "host_bytes": o.host_bytes,
    }
