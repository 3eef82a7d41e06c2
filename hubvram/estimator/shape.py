"""Per-layer sizes of a model as the estimator uses them, and the config fields it cannot do without."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import MissingField
from ..model.facts import Architecture
from .weights import ParamSplit


def require(arch: Architecture, name: str, needed_for: str = "this", model: str = "model") -> int:
    value = getattr(arch, name)
    if not value:
        raise MissingField(name, model, needed_for)
    return int(value)


@dataclass(frozen=True)
class Shape:
    """Per-layer sizes, in elements per token."""

    hidden: int
    q: int  # query heads x head_dim
    kv: int  # key/value heads x head_dim (per K or V)
    inter: int  # MLP intermediate actually run per token (MoE: active experts x expert width + shared)
    heads: int
    layers: int
    vocab: int
    layer_params: float  # parameters of one transformer layer (all experts)
    experts: int = 0  # MoE: routed experts per layer (0: dense MLP)
    top_k: int = 0  # MoE: experts each token is routed to
    expert_width: int = 0  # MoE: intermediate size of one expert
    shared_width: int = 0  # MoE: intermediate size of the shared experts together


def layer_shape(arch: Architecture, model: str, needed_for: str, params: ParamSplit | None = None) -> Shape:
    hidden = require(arch, "hidden_size", needed_for, model)
    layers = require(arch, "num_layers", needed_for, model)
    heads = require(arch, "num_attention_heads", needed_for, model)
    head_dim = arch.attention_head_dim or hidden // heads
    kv_heads = arch.kv_heads or heads
    inter = arch.intermediate_size or 4 * hidden
    layer_params = max((params.total - params.embedding) / layers, 0.0) if params else 0.0
    shape = Shape(
        hidden,
        heads * head_dim,
        kv_heads * head_dim,
        inter,
        heads,
        layers,
        arch.vocab_size or 0,
        layer_params,
    )
    if arch.is_moe:
        width = arch.moe_intermediate_size or arch.intermediate_size or 4 * hidden
        top_k = arch.num_experts_per_token or 1
        shared = width * (arch.num_shared_experts or 0)
        shape = replace(
            shape,
            inter=width * top_k + shared,
            experts=arch.num_experts or 0,
            top_k=top_k,
            expert_width=width,
            shared_width=shared,
        )
    return shape
