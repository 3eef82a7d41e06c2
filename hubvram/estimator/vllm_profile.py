"""What vLLM takes out of its budget before the KV cache: the profile run, non-torch memory, CUDA graphs.

notes/VLLM.md sections 2 and 3. ``determine_available_memory`` runs ``profile_run()``: one eager forward
of ``max_num_batched_tokens`` tokens spread over ``min(tokens, max_num_seqs)`` requests, then the sampler
on one row per request. Its transient torch peak is charged to the budget. vLLM measures it; hubvram
computes it from the shapes below, which is an estimate of the live tensors, not a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dtypes import FLOAT_BYTES
from ..model.facts import Architecture, ModelFacts
from ..model.families import is_gated_mlp
from .device import Device
from .weights import stored_compute_dtype

GiB = 1 << 30
# Growth of memory outside PyTorch's allocator after the start-up snapshot (kernel workspaces, runner
# buffers): 0.16 GiB in vllm-project/vllm#12126 and 0.20 GiB in #14447 (notes/VLLM.md section 2).
NON_TORCH_BYTES = int(0.2 * GiB)
# CUDA graph memory vLLM 0.20+ estimates and subtracts: 0.52 GiB observed for Qwen3-8B, 51 piecewise +
# 35 full graphs up to 512 tokens (LMCache/LMCache#3430); 0.17-0.36 GiB per rank with TP 2-4
# (noonghunna/club-3090#127, gpustack/runner#251). One observed value, not a model of graph memory.
CUDAGRAPH_BYTES = int(0.52 * GiB)
# The sampler of the profile run keeps, per row and vocabulary entry: the logits in the model dtype
# (compute_logits), their fp32 copy (Sampler: logits.to(torch.float32)), the fp32 softmax probabilities
# and the fp32 exponential noise of the Gumbel-max draw (topk_topp_sampler.random_sample:
# q = torch.empty_like(probs).exponential_()). Triton's top-k/top-p kernel works in place (0.33).
SAMPLER_FP32_COPIES = 3


@dataclass(frozen=True)
class ProfilePeak:
    """Transient torch memory of vLLM's profile run on one GPU, in bytes."""

    forward: int  # the model's forward over max_num_batched_tokens tokens
    sampler: int  # logits and sampling over one row per dummy request
    tokens: int
    rows: int

    @property
    def peak(self) -> int:
        return max(self.forward, self.sampler)


def profile_peak(arch: Architecture, tokens: int, rows: int, act_bytes: float, tp: int = 1) -> ProfilePeak:
    """The profile run's transient peak: max(forward, sampler).

    Forward (one decoder layer's live tensors; layers run one after another, so one layer's set is the
    peak): the residual stream and the normed input (``2 h``, full width on every rank) beside the larger of
    - the MLP: gate_up output ``2 I`` and the activation's output ``I`` (vLLM's LlamaMLP rebinds ``x``, so
      gate_up is freed after the activation); ungated: ``I`` + ``I``; MoE (fused_moe's
      intermediate_cache1/2/3): ``k (2 w + w + h)`` per token, plus a shared expert's ``3 s`` run alongside;
    - attention: the qkv projection output ``q + 2 kv`` and the attention output ``q``;
    with I, w, s, q and kv split over tensor-parallel ranks. Sampler: ``rows x vocab x (model dtype +
    SAMPLER_FP32_COPIES x 4)`` plus the last hidden states ``tokens x h``.

    Assumptions: bf16/fp16 activations, chunked prefill (tokens = max_num_batched_tokens, not a whole
    prompt), no multimodal encoder profiling, Triton sampler (the PyTorch sort path holds about two more fp32
    copies), allocator rounding ignored. Not measured here; a V0-era log (vllm-project/vllm#10511,
    Llama-3-8B, 8192 tokens) reports 1.26 GiB where the forward term gives 0.78 GiB.
    """
    hidden = arch.hidden_size or 0
    heads = arch.num_attention_heads or 0
    if arch.kv_lora_rank:  # MLA: q of qk_nope + qk_rope per head, the compressed kv and the values
        q = heads * (
            (arch.qk_nope_head_dim or 0) + (arch.qk_rope_head_dim or 0) or arch.attention_head_dim or 0
        )
        kv = arch.kv_lora_rank + (arch.qk_rope_head_dim or 0)
    else:
        q = heads * (arch.attention_head_dim or 0)
        kv = (arch.kv_heads or heads) * (arch.attention_head_dim or 0)
    attention = (2 * q + 2 * kv) / tp
    inter = arch.intermediate_size or 4 * hidden
    dense = (3 * inter if is_gated_mlp(arch) else 2 * inter) / tp
    mlp = dense if not arch.is_moe or arch.first_dense_layers else 0.0
    if arch.is_moe:
        width = arch.moe_intermediate_size or inter
        top_k = arch.num_experts_per_token or 1
        shared = 3 * width * (arch.num_shared_experts or 0) / tp
        mlp = max(mlp, top_k * (3 * width / tp + hidden) + shared)
    forward = tokens * (2 * hidden + max(mlp, attention)) * act_bytes
    vocab = arch.vocab_size or 0
    sampler = rows * vocab * (act_bytes + 4 * SAMPLER_FP32_COPIES) + tokens * hidden * act_bytes
    return ProfilePeak(forward=int(forward), sampler=int(sampler), tokens=tokens, rows=rows)


def batch_defaults(gpu: Device, release: tuple[int, int], usage: str) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) of EngineArgs.get_batch_defaults (0.33
    vllm/engine/arg_utils.py), keyed by usage context ("serve": OPENAI_API_SERVER, "llm": LLM_CLASS) and the
    device's total memory (cudaMemGetInfo, the catalog's usable bytes)."""
    memory = gpu.memory_bytes
    name = gpu.name.lower()
    if release >= (0, 28) and memory >= 160 * GiB:  # B200, B300, MI300X/MI325X (tier added in 0.28)
        return 16384, 1024
    if memory >= 70 * GiB and "a100" not in name and not (release >= (0, 33) and "gb10" in name):
        return (8192 if usage == "serve" else 16384), 1024  # H100, H200, GH200 (A100 excluded since 0.9)
    return (2048 if usage == "serve" else 8192), 256  # A100 and smaller cards


def in_flight_tokens(max_num_batched_tokens: int, release: tuple[int, int]) -> int:
    """Tokens a sliding-window layer holds beyond its window: VllmConfig.max_in_flight_tokens (0.33:
    max_concurrent_batches x max_num_batched_tokens, 2 batches with async scheduling, its default);
    0.20: max_num_batched_tokens. Releases between were not bisected: taken as 0.20's."""
    return (2 if release >= (0, 33) else 1) * max_num_batched_tokens


def mla_block_size(arch: Architecture, gpu: Device) -> int | None:
    """Block size an MLA backend forces (vllm/platforms/cuda.py): FlashMLA 64 on Hopper ("Forcing kv cache
    block size to 64 for FlashMLA backend"), CUTLASS MLA 128 on Blackwell; None: the default 16."""
    if not arch.kv_lora_rank:
        return None
    return {"Hopper": 64, "Blackwell": 128}.get(gpu.arch or "")


def model_dtype_bytes(facts: ModelFacts, dtype: str) -> int:
    """Bytes of vLLM's model dtype: asked, else the checkpoint's float dtype with fp32 served as 16-bit."""
    if dtype != "auto":
        return {"float16": 2, "bfloat16": 2, "float32": 4}[dtype]
    return min(FLOAT_BYTES[stored_compute_dtype(facts)], 2)
