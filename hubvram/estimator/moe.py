"""Mixture of experts: which parameters a token uses (active) and which bytes a decode step reads.

The headers give the exact total; the architecture gives the routed experts (experts x layers x one
expert's MLP). Everything that is not a routed expert (attention, embeddings, norms, routers, shared
experts, dense layers) is used by every token. The split is exact for the parameter counts when the
config describes the experts fully; the bytes of quantized experts are derived from the dtype that holds
most parameters (the experts, in any MoE checkpoint), with that dtype's quantization scales.

Multi-token-prediction layers (DeepSeek-V3 ``num_nextn_predict_layers``) are stored in the weights but
not run by plain generation (vLLM loads them only for speculative decoding): they are split out too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..dtypes import FLOAT_BYTES, FLOAT_DTYPES
from ..model.facts import Architecture, ModelFacts
from ..model.families import family_is, is_gated_mlp
from .weights import stored_compute_dtype, weight_bytes_per_param

# Bits per parameter of each label ParameterCount.by_dtype uses: safetensors dtypes
# (safetensors/src/tensor.rs Dtype) and the unpacked labels of model/counting.py (_unpacked).
PARAM_BITS: dict[str, int] = {
    "F64": 64,
    "F32": 32,
    "F16": 16,
    "BF16": 16,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "I8": 8,
    "U8": 8,
    "INT8": 8,
    "INT4": 4,
    "INT3": 3,
    "INT2": 2,
    "MXFP4": 4,
    "NF4": 4,
    "FP4": 4,
}
# Expert MLPs with biases: GptOssExperts holds gate_up_proj_bias [E, 2w] and down_proj_bias [E, h]
# (transformers models/gpt_oss/modeling_gpt_oss.py).
EXPERT_BIAS_FAMILIES = frozenset({"gpt_oss"})


@dataclass(frozen=True)
class ExpertSplit:
    """Parameters and bytes of a model split into routed experts, the always-used rest and MTP layers.

    ``weights_bytes == trunk_routed_bytes + shared_bytes + mtp_bytes``.
    """

    total_params: int  # as counted from the headers (MTP layers included when stored)
    active_params: int  # one token's forward: the trunk's non-expert parameters + top-k experts per MoE layer
    routed_params: int  # every routed expert of every stored MoE layer (MTP layers included)
    mtp_params: int  # multi-token-prediction layers, experts included (estimated; 0 without them)
    trunk_routed_bytes: int  # routed experts of the trunk as stored (scales included)
    shared_bytes: int  # what every token uses: attention, embeddings, norms, routers, shared experts
    mtp_bytes: int  # MTP layers (estimated)
    experts: int = 0  # routed experts per MoE layer (0: dense model)
    top_k: int = 0
    moe_layers: int = 0  # MoE layers in the trunk
    mtp_layers: int = 0  # MTP layers found in the weights
    notes: tuple[str, ...] = ()

    @property
    def weights_bytes(self) -> int:
        return self.trunk_routed_bytes + self.shared_bytes + self.mtp_bytes

    def routed_bytes_read(self, tokens: int) -> float:
        """Routed-expert bytes one step over ``tokens`` tokens touches, under uniform routing."""
        if not self.experts:
            return 0.0
        distinct = expected_distinct_experts(self.experts, self.top_k, tokens)
        return self.trunk_routed_bytes * distinct / self.experts


def expected_distinct_experts(experts: int, top_k: int, tokens: int) -> float:
    """Expected distinct experts of one layer that ``tokens`` tokens, each routed to ``top_k``, touch.

    Uniform routing: an expert is missed by one token with probability 1 - k/E, by all B with (1 - k/E)^B,
    so E * (1 - (1 - k/E)^B) are hit (k at B = 1, tending to E; notes/THROUGHPUT.md, "Decode").
    """
    if tokens <= 0 or experts <= 0:
        return 0.0
    k = min(top_k, experts)
    return experts * (1.0 - (1.0 - k / experts) ** tokens)


def expert_parameters(arch: Architecture) -> int:
    """Parameters of one routed expert: gate, up and down projections (up and down when not gated)."""
    hidden = arch.hidden_size or 0
    width = arch.moe_intermediate_size or arch.intermediate_size or 4 * hidden
    matrices = 3 if is_gated_mlp(arch) else 2  # SwiGLU: gate + up + down (Shazeer 2020); else up + down
    bias = 2 * width + hidden if family_is(arch, EXPERT_BIAS_FAMILIES) else 0
    return matrices * hidden * width + bias


def expert_split(facts: ModelFacts) -> ExpertSplit:
    """Split ``facts``' parameters and bytes into routed experts, the always-used rest and MTP layers."""
    arch = facts.architecture
    total = facts.parameters.total
    weights = facts.weights_bytes
    layers = arch.num_layers or 0
    mtp = arch.mtp_layers or 0
    embed = (arch.vocab_size or 0) * (arch.hidden_size or 0)
    notes: list[str] = []
    experts = arch.num_experts or 0 if arch.is_moe else 0
    top_k = min(arch.num_experts_per_token or 1, experts)
    per_expert = expert_parameters(arch) if experts else 0
    moe_layers = max(layers - (arch.first_dense_layers or 0), 0) if experts else 0  # first_k_dense_replace
    routed = experts * per_expert * (moe_layers + mtp)  # DeepSeek-V3's MTP layer is a MoE layer too
    if mtp and routed + 2 * embed * (1 + mtp) > total:  # these weights do not hold the MTP layers
        mtp = 0
        routed = experts * per_expert * moe_layers
    if routed > total:
        notes.append(
            f"the config's experts ({experts} x {moe_layers} layers x {per_expert:,} parameters) exceed the "
            "counted parameters; every parameter is taken as active"
        )
        experts = top_k = moe_layers = routed = per_expert = 0
    expert_bpp = _expert_bytes_per_param(facts) if routed else 0.0
    routed_bytes = min(int(routed * expert_bpp), weights)
    rest = total - routed
    mtp_rest = _mtp_rest_parameters(rest, layers, mtp, embed)
    mtp_routed = experts * per_expert * mtp
    mtp_bytes = 0
    if mtp:
        # embedding-sized tables stay 16-bit in quantized checkpoints; the rest at its own average width
        tables = 2 * embed * (1 + mtp)
        e = FLOAT_BYTES[stored_compute_dtype(facts)]
        other_bpp = max(weights - routed_bytes - tables * e, 0) / max(rest - tables, 1)
        mtp_bytes = int(
            (mtp_rest - 2 * embed * mtp) * other_bpp + 2 * embed * mtp * e + mtp_routed * expert_bpp
        )
    trunk_routed_bytes = int(routed_bytes * moe_layers / (moe_layers + mtp)) if routed else 0
    if mtp:
        notes.append(
            f"{mtp} multi-token-prediction layer(s) stored ({(mtp_rest + mtp_routed) / 1e9:.1f}B parameters, "
            "estimated): not run by plain generation, loaded by vLLM only for speculative decoding"
        )
    return ExpertSplit(
        total_params=total,
        active_params=rest - mtp_rest + top_k * per_expert * moe_layers,
        routed_params=routed,
        mtp_params=mtp_rest + mtp_routed,
        trunk_routed_bytes=trunk_routed_bytes,
        shared_bytes=weights - trunk_routed_bytes - mtp_bytes,
        mtp_bytes=mtp_bytes,
        experts=experts,
        top_k=top_k,
        moe_layers=moe_layers,
        mtp_layers=mtp,
        notes=tuple(notes),
    )


def expert_split_at(facts: ModelFacts, dtype: str | None) -> ExpertSplit:
    """``expert_split`` with the bytes of the weights re-quantized to ``dtype`` (None: as stored), as
    ``weights.weights_bytes`` sizes them: every parameter at the dtype's bytes, scales included, except the
    embedding tables (and MTP copies), which quantizers keep 16-bit."""
    split = expert_split(facts)
    if dtype is None:
        return split
    arch = facts.architecture
    embed = (arch.vocab_size or 0) * (arch.hidden_size or 0)
    tables = embed * (1 if arch.tie_word_embeddings else 2) + 2 * embed * split.mtp_layers
    if dtype in FLOAT_DTYPES:
        bpp = table_bpp = float(FLOAT_BYTES[dtype])
    else:
        bpp, table_bpp = weight_bytes_per_param(dtype, arch.hidden_size), 2.0
    stored_moe = split.moe_layers + split.mtp_layers
    trunk_routed = split.routed_params * split.moe_layers // stored_moe if stored_moe else 0
    mtp_tables = 2 * embed * split.mtp_layers
    mtp_bytes = (split.mtp_params - mtp_tables) * bpp + mtp_tables * table_bpp
    shared = (split.total_params - split.routed_params - split.mtp_params - tables + mtp_tables) * bpp
    return replace(
        split,
        trunk_routed_bytes=int(trunk_routed * bpp),
        shared_bytes=int(shared + (tables - mtp_tables) * table_bpp),
        mtp_bytes=int(mtp_bytes),
    )


def active_parameters(facts: ModelFacts) -> int:
    """Parameters one token's forward uses (MoE: top-k experts per layer; MTP layers left out)."""
    return expert_split(facts).active_params


def input_embedding_bytes(facts: ModelFacts, dtype: str | None = None) -> int:
    """Bytes of the input embedding table, which a forward reads one row per token of (a lookup).

    A tied table is also the lm_head, read whole every step, so it is not a lookup-only table: 0.
    Embeddings stay 16-bit (or the float dtype) in quantized checkpoints (GPTQ/AWQ/bnb/FP8 replace nn.Linear).
    """
    arch = facts.architecture
    if arch.tie_word_embeddings or not arch.vocab_size or not arch.hidden_size:
        return 0
    width = FLOAT_BYTES[dtype] if dtype in FLOAT_DTYPES else 2 if dtype else None
    size = arch.vocab_size * arch.hidden_size * (width or FLOAT_BYTES[stored_compute_dtype(facts)])
    return min(size, facts.weights_bytes) if dtype is None else size


def _expert_bytes_per_param(facts: ModelFacts) -> float:
    """Bytes per routed-expert parameter: the dtype holding most parameters, with its quantization scales."""
    counts = facts.parameters.by_dtype
    total = facts.parameters.total
    if not counts or not total:
        return 0.0
    label = max(counts, key=lambda k: counts[k])
    bits = PARAM_BITS.get(label.upper())
    if bits is None:
        return facts.weights_bytes / total
    scales = facts.parameters.quantization_aux_bytes if bits < 16 else 0
    return bits / 8 + scales / counts[label]


def _mtp_rest_parameters(rest: int, layers: int, mtp: int, embed: int) -> int:
    """Non-expert parameters of ``mtp`` MTP layers: one decoder layer's share of the non-expert rest, plus
    the layer's own embedding and output-head copies (DeepSeek-V3 stores model.layers.61.embed_tokens and
    shared_head.head, vocab x hidden each). An estimate: the headers are summed, not kept per layer."""
    if not mtp or not layers:
        return 0
    per_layer = max(rest - 2 * embed * (1 + mtp), 0) / (layers + mtp)
    return int(mtp * (per_layer + 2 * embed))
