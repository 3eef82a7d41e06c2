"""A PEFT adapter: its base model's facts, plus what adapter_model.safetensors adds.

adapter_config.json (huggingface/peft `PeftConfig`, `LoraConfig`): peft_type, base_model_name_or_path,
r, lora_alpha, target_modules (a list, a regex or "all-linear"), modules_to_save (full copies). The
adapter's tensors are `base_model.model.<path>.lora_A.weight` [r, in] and `lora_B.weight` [out, r].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..fetch.snapshot import RepoSnapshot
from .facts import AdapterFacts, ModelFacts

# PEFT's module names for the projections hubvram's LoRA estimate knows (Llama/Mistral/Qwen naming).
_LORA_TARGETS = {
    "q_proj": "q",
    "k_proj": "k",
    "v_proj": "v",
    "o_proj": "o",
    "gate_proj": "gate",
    "up_proj": "up",
    "down_proj": "down",
}


def adapter_facts(snapshot: RepoSnapshot, base: ModelFacts) -> ModelFacts:
    """The base model's facts, named after the adapter, with the adapter's own count beside them."""
    config: Mapping[str, Any] = snapshot.adapter_config or {}
    if snapshot.weight_files:
        parameters = sum(f.summary.numel for f in snapshot.weight_files)
        weights = sum(f.summary.nbytes for f in snapshot.weight_files)
        derived = False
    else:  # adapter_model.bin: never unpickled; PEFT saves adapters in fp32 unless told otherwise
        weights = snapshot.stored_weight_bytes or 0
        parameters, derived = weights // 4, True
    targets = _targets(config.get("target_modules"))
    adapter = AdapterFacts(
        base_model=base.model_id,
        peft_type=str(config.get("peft_type") or "LORA")[:40],
        parameters=parameters,
        weights_bytes=weights,
        rank=config.get("r") if type(config.get("r")) is int and config.get("r") > 0 else None,
        alpha=config.get("lora_alpha") if isinstance(config.get("lora_alpha"), (int, float)) else None,
        target_modules=targets,
        lora_targets=_lora_targets(targets),
        modules_to_save=tuple(str(m)[:80] for m in config.get("modules_to_save") or () if isinstance(m, str)),
        derived=derived,
    )
    note = f"adapter for {base.model_id}: {parameters:,} adapter parameters on top of the base's"
    return replace(
        base,
        model_id=snapshot.model_id,
        revision=snapshot.revision,
        sha=snapshot.sha,
        format="peft-adapter",
        adapter=adapter,
        notes=(note, *base.notes),
    )


def _targets(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value[:80],)  # "all-linear" or a regex
    if isinstance(value, list):
        return tuple(str(v)[:80] for v in value if isinstance(v, str))
    return ()


def _lora_targets(targets: tuple[str, ...]) -> tuple[str, ...]:
    """hubvram's target names where PEFT's map onto them (all-linear: all), else ()."""
    if targets == ("all-linear",):
        return ("all",)
    mapped = tuple(dict.fromkeys(_LORA_TARGETS[t] for t in targets if t in _LORA_TARGETS))
    return mapped if len(mapped) == len(targets) else ()
