"""GGUF variants sized as llama.cpp allocates them (estimator/llamacpp.py), in the Estimate shape.

The Estimate is what one GPU holds with every layer offloaded (llama.cpp's default -ngl): the weights
llama.cpp places there (all but token_embd, which stays in system memory), the KV cache of the context,
the compute buffer and the runtime overhead. When a card holds less, `partial_offload` says how many
layers fit (-ngl) and what stays in system memory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType

from ..dtypes import LLAMACPP_CACHE_TYPES
from ..errors import UsageError
from ..model.facts import ModelFacts, Variant
from ..model.llamacpp_model import LlamaCppModel, scaled
from . import llamacpp
from .options import EstimateOptions
from .result import COMPONENT_KEYS, CUBLAS_WORKSPACE_BYTES, CUDA_CONTEXT_BYTES, Estimate

# llama.cpp's own runtime: the CUDA context and cuBLAS workspace, as for any CUDA process; its buffers
# are allocated once at their exact size, so there is no caching-allocator slack to add (result.py).
LLAMACPP_OVERHEAD = CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES


@dataclass(frozen=True)
class PartialOffload:
    """A GGUF on a card that cannot hold all of it: the most layers that fit (-ngl) and the rest."""

    n_gpu_layers: int  # llama.cpp's -ngl (the output layer counts first, then the last blocks)
    layers: int  # n_layer + 1: -ngl for everything
    gpu_bytes: int
    host_bytes: int  # weights, KV and output buffer left in system memory


def variant_of(facts: ModelFacts, name: str | None) -> Variant:
    wanted = (name or facts.variant or "").upper()
    found = next((v for v in facts.variants if v.name.upper() == wanted), None)
    if found is None:
        listing = ", ".join(v.name for v in facts.variants)
        raise UsageError(f"{facts.model_id} has no GGUF variant '{name}'; it has: {listing}")
    return found


def llamacpp_model(facts: ModelFacts, variant: Variant) -> LlamaCppModel:
    """The variant as llama.cpp lays it out: exact for the one read, scaled from it for the others."""
    if facts.llamacpp is None:
        raise UsageError(f"{facts.model_id}: no GGUF header was read")
    return facts.llamacpp if variant.exact else scaled(facts.llamacpp, variant.weights_bytes)


def llamacpp_options(options: EstimateOptions) -> llamacpp.LlamaCppOptions:
    """hubvram's scenario in llama.cpp's terms: -c seq_len, -np batch, --cache-type-k/-v, flash attention
    auto (llama-cli's defaults otherwise)."""
    cache = LLAMACPP_CACHE_TYPES.get(options.kv_cache_dtype or "fp16")
    if cache is None:
        raise UsageError(
            f"llama.cpp has no {options.kv_cache_dtype} KV cache: use fp16, bf16, fp32, q8_0 or q4_0"
        )
    return llamacpp.LlamaCppOptions(
        n_ctx=options.seq_len, n_seq=options.batch_size, type_k=cache, type_v=cache
    )


def estimate_gguf(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    if options.mode != "inference":
        raise UsageError(
            f"{facts.model_id} holds GGUF files, which llama.cpp runs for inference; training needs the "
            "original weights (look for the repo they were converted from)"
        )
    if options.dtype is not None:
        raise UsageError(
            f"{facts.model_id} holds GGUF files, sized at their own quantizations: pick one with --variant "
            f"({', '.join(v.name for v in facts.variants)}) rather than --dtype"
        )
    variant = variant_of(facts, options.variant)
    model = llamacpp_model(facts, variant)
    result = llamacpp.estimate(model, llamacpp_options(options))
    overhead = LLAMACPP_OVERHEAD if options.overhead is None else options.overhead
    gpu = result.gpu
    parts = dict.fromkeys(COMPONENT_KEYS, 0) | {
        "weights": gpu.weights,
        "kv_cache": gpu.kv_cache,
        "activations": gpu.compute + gpu.output,
        "overhead": overhead,
    }
    components = MappingProxyType(parts)
    notes = (
        f"llama.cpp ({llamacpp.LLAMACPP_COMMIT}): every layer on the GPU, {llamacpp_options(options).type_k} "
        "KV cache; token_embd and the output buffer stay in system memory",
        *result.notes,
    )
    return Estimate(
        options=replace(options, variant=variant.name),
        components=components,
        total=sum(parts.values()),
        replicated_bytes=gpu.compute,  # llama.cpp's layer split: every device has a compute buffer
        fixed_bytes=overhead,
        peak_phase="llama.cpp",
        phases=MappingProxyType({"llama.cpp": components}),
        notes=notes,
    )


def partial_offload(facts: ModelFacts, estimate: Estimate, memory_bytes: int) -> PartialOffload | None:
    """The most layers of this GGUF scenario a card of `memory_bytes` holds, when it cannot hold all."""
    if estimate.total <= memory_bytes or facts.llamacpp is None:
        return None
    options = estimate.options
    model = llamacpp_model(facts, variant_of(facts, options.variant))
    overhead = estimate.components.get("overhead", 0)
    ngl, result = llamacpp.layers_that_fit(model, memory_bytes - overhead, llamacpp_options(options))
    return PartialOffload(ngl, model.n_layer + 1, result.gpu.total + overhead, result.host.total)
