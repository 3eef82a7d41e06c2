"""Names of scenarios: a full label ("training mixed-bf16 adamw lora8 b2 s512") and short ones for the
columns of a table whose scenarios share their batch and sequence length ("bf16", "train")."""

from __future__ import annotations

from collections.abc import Sequence

from ..estimator import Estimate
from ..model import ModelFacts
from ..report import dtype_label


def precision_label(estimate: Estimate, facts: ModelFacts) -> str:
    """The precision a scenario runs at, with the training regime: "bf16", "mixed-bf16", "pure-bf16"."""
    o = estimate.options
    precision = dtype_label(estimate, facts)
    if o.mode == "training" and o.mixed_precision:
        return f"mixed-{o.mixed_precision}"
    if o.mode == "training" and o.lora_rank is None:
        return f"pure-{precision}"  # weights, gradients and optimizer states all in it
    return precision


def scenario_label(estimate: Estimate, facts: ModelFacts) -> str:
    """A short name for a scenario: "training mixed-bf16 adamw lora8 ckpt b2 s512"."""
    o = estimate.options
    return " ".join([*_words(estimate, facts), f"b{o.batch_size}", f"s{o.seq_len}"])


def _words(estimate: Estimate, facts: ModelFacts) -> list[str]:
    o = estimate.options
    parts = [o.mode, precision_label(estimate, facts)]
    if o.mode == "training":
        parts.append(o.optimizer)
        parts += [f"lora{o.lora_rank}"] if o.lora_rank else []
        parts += ["ckpt"] if o.gradient_checkpointing else []
        parts += [f"zero{o.zero_stage}x{o.num_gpus}"] if o.zero_stage else []
        parts += [f"offload-{o.offload}"] if o.offload != "none" else []
    elif o.tensor_parallel > 1:
        parts.append(f"tp{o.tensor_parallel}")
    return parts


def short_labels(estimates: Sequence[Estimate], facts: ModelFacts) -> list[str]:
    """Column names for scenarios that share batch and length: the precision for inference ("int4"),
    "train" (with the regime if two trainings differ) for training; full labels when they collide."""
    short = []
    trainings = [e for e in estimates if e.options.mode == "training"]
    for e in estimates:
        if e.options.mode == "inference":
            short.append(" ".join(_words(e, facts)[1:]))
        elif len(trainings) == 1:
            short.append("train")
        else:
            short.append("train " + " ".join(_words(e, facts)[1:]))
    if len(set(short)) < len(short):
        return [scenario_label(e, facts) for e in estimates]
    return short


def shared_shape(estimates: Sequence[Estimate]) -> str:
    """ "batch 1, 2,048 tokens" when every scenario shares them, else ""."""
    shapes = {(e.options.batch_size, e.options.seq_len) for e in estimates}
    if len(shapes) != 1:
        return ""
    batch, seq = shapes.pop()
    return f"batch {batch}, {seq:,} tokens"
