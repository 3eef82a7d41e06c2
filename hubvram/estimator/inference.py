"""Inference: the prefill and decode phases of generation (or one forward of an encoder)."""

from __future__ import annotations

from ..dtypes import FLOAT_BYTES, FLOAT_DTYPES, QUANTIZED_DTYPES
from ..model.facts import ModelFacts
from ..model.families import is_encoder_only, layer_kinds
from .activations import inference_live
from .kv_cache import kv_cache_bytes
from .options import EstimateOptions
from .result import Estimate, finish
from .shape import layer_shape, require
from .weights import stored_compute_dtype, weights_bytes


def estimate_inference(facts: ModelFacts, options: EstimateOptions) -> Estimate:
    arch = facts.architecture
    notes: list[str] = []
    compute = options.dtype if options.dtype in FLOAT_DTYPES else stored_compute_dtype(facts)
    if options.dtype in QUANTIZED_DTYPES and compute == "fp32":
        compute = "bf16"  # quantized weights compute in 16-bit (bitsandbytes/GPTQ compute dtype)
    e = FLOAT_BYTES[compute]
    s = layer_shape(arch, facts.model_id, "inference")
    tp = options.tensor_parallel
    weights = weights_bytes(facts, options.dtype)
    encoder = is_encoder_only(arch)
    if encoder:
        kv_prompt = kv_total = kv_grow = 0.0
        tokens = options.seq_len
        notes.append("encoder-only model: one forward over the sequence, no KV cache")
    else:
        for name in ("num_layers",) + (() if arch.kv_lora_rank else ("num_attention_heads", "hidden_size")):
            require(arch, name, "inference (KV cache)", facts.model_id)
        kv_bytes = FLOAT_BYTES[options.kv_cache_dtype or compute]
        kv_total = kv_cache_bytes(arch, kv_bytes, options.batch_size, options.seq_len)
        kv_prompt = kv_cache_bytes(arch, kv_bytes, options.batch_size, options.prompt_tokens)
        # DynamicCache grows by torch.cat: one layer's old and new cache coexist for a moment (transformers).
        kv_grow = kv_total / s.layers if options.new_tokens else 0.0
        tokens = options.prompt_tokens
        if arch.kv_lora_rank:
            notes.append(
                "MLA: the KV cache holds the compressed latent (kv_lora_rank + qk_rope_head_dim), "
                "as vLLM and SGLang store it"
            )
        windows = [k for k in layer_kinds(arch, s.layers) if k == "sliding_attention"]
        if windows and arch.sliding_window and options.seq_len > arch.sliding_window:
            notes.append(
                f"{len(windows)} sliding-window layers hold at most {arch.sliding_window} tokens of cache"
            )
    activations = inference_live(arch, s, e, options.batch_size, tokens, options, encoder)
    if (
        tp > 1
    ):  # Megatron tensor parallelism: weights, KV heads and per-layer activations split (Shoeybi et al. 2019)
        kv_split = min(tp, arch.kv_heads or tp) if not arch.kv_lora_rank else 1
        weights /= tp
        kv_total, kv_prompt, kv_grow = (x / kv_split for x in (kv_total, kv_prompt, kv_grow))
        activations /= tp
        if kv_split < tp:
            notes.append(
                f"{arch.kv_heads} KV heads over {tp} GPUs: each GPU holds a 1/{kv_split} share of the cache"
            )
    phases = {
        "prefill": {"weights": weights, "kv_cache": kv_prompt, "activations": activations},
        "decode": {"weights": weights, "kv_cache": kv_total, "activations": kv_grow},
    }
    if facts.adapter:  # PEFT keeps the adapter unmerged beside the base weights, in its stored dtype
        for phase in phases.values():
            phase["lora_adapters"] = facts.adapter.weights_bytes / tp
        notes.append(f"with the adapter: {facts.adapter.weights_bytes:,} bytes of adapter weights as stored")
    if options.new_tokens == 0 and not encoder:
        phases["prefill"]["kv_cache"] = kv_total
        del phases["decode"]
    if encoder:
        del phases["decode"]
    if options.dtype in QUANTIZED_DTYPES:
        notes.append(
            f"weights re-quantized to {options.dtype} (scales included); embeddings and lm_head stay 16-bit"
        )
    return finish(options, phases, notes)
