"""vLLM's paged KV cache: page sizes per layer, how layer kinds are grouped, blocks per request.

Pure arithmetic after vLLM's V1 engine, read in notes/VLLM.md (sections 4, 5, 7) and the
``vllm/v1/core/kv_cache_utils.py`` / ``kv_cache_planning.py`` source quoted there. Sizes are per GPU
(per tensor-parallel rank): each rank holds the pages of its own KV heads for every layer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..model.facts import Architecture
from .shape import require

FULL = "full_attention"
SLIDING = "sliding_attention"
# _get_kv_cache_groups_uniform_page_size: the group size is the smallest bucket's layer count, or the
# largest one's when max < 1.5 * min ("e.g. gpt-oss-20b + eagle, 12 sw + 13 full -> (13, 13)").
GROUP_SIZE_SLACK = 1.5


def cdiv(a: int, b: int) -> int:
    """vllm.utils.math_utils.cdiv: ceiling division."""
    return -(-a // b)


@dataclass(frozen=True)
class KvGroup:
    """One KV cache group: layers of one kind sharing a block table (vLLM KVCacheGroupSpec)."""

    kind: str  # "full_attention" or "sliding_attention"
    layers: int  # real layers in the group
    window: int | None = None  # sliding window in tokens


@dataclass(frozen=True)
class KvLayout:
    """The KV cache of one GPU as vLLM lays it out: equal pages, layers grouped by attention kind."""

    block_size: int  # tokens per block (CacheConfig.block_size)
    page_bytes: int  # one layer's page: block_size tokens of K and V (MLA: the latent)
    groups: tuple[KvGroup, ...]
    group_size: int  # layers per group after padding (physical tensors shared by one layer of every group)
    padding_layers: int  # "Add N padding layers, may waste at most P% KV cache memory"
    kv_heads_per_gpu: int  # MLA: 1 (the latent)
    head_size: int  # per KV head (MLA: kv_lora_rank + qk_rope_head_dim)
    dtype_bytes: float
    in_flight_tokens: int  # tokens a sliding-window layer keeps beyond its window while a batch runs
    mla: bool = False

    @property
    def bytes_per_block(self) -> int:
        """_get_kv_cache_bytes_per_block: the largest group's sum of per-layer page sizes."""
        return max(g.layers for g in self.groups) * self.page_bytes

    @property
    def bytes_per_token_per_layer(self) -> int:
        return self.page_bytes // self.block_size

    @property
    def bytes_per_token(self) -> int:
        """What one more token of context costs a long request: the full-attention groups' pages."""
        full = sum(1 for g in self.groups if g.kind == FULL)
        return self.bytes_per_block // self.block_size * full

    def group_blocks(self, group: KvGroup, max_model_len: int) -> int:
        """Blocks one request of ``max_model_len`` tokens holds in ``group`` (spec.max_memory_usage_bytes)."""
        if group.kind == SLIDING and group.window:
            # SlidingWindowSpec: the last window - 1 tokens plus the tokens in flight, +1 block because
            # the window need not start at a block boundary
            tokens = min(group.window - 1 + self.in_flight_tokens, max_model_len)
            return cdiv(tokens, self.block_size) + 1
        return cdiv(max_model_len, self.block_size)  # FullAttentionSpec: every token of the request

    def blocks_per_request(self, max_model_len: int) -> int:
        """Sum over groups (get_max_concurrency_for_kv_cache_config)."""
        return sum(self.group_blocks(g, max_model_len) for g in self.groups)

    def bytes_per_request(self, max_model_len: int) -> int:
        """_max_memory_usage_bytes_from_groups: bytes_per_block x the request's blocks over all groups."""
        return self.bytes_per_block * self.blocks_per_request(max_model_len)

    def longest_request(self, available_bytes: int, upper: int) -> int:
        """_estimate_max_model_len_from_groups: binary search of the longest max_model_len in [1, upper]
        whose request fits ``available_bytes``; 0 when not even one token does."""
        if available_bytes <= 0 or self.bytes_per_request(1) > available_bytes:
            return 0
        left, right, result = 1, upper, 1
        while left <= right:
            mid = (left + right) // 2
            if self.bytes_per_request(mid) <= available_bytes:
                result, left = mid, mid + 1
            else:
                right = mid - 1
        return result


def kv_heads_per_gpu(arch: Architecture, tensor_parallel: int) -> int:
    """ModelConfig.get_num_kv_heads: max(1, kv_heads // tp); MLA keeps one latent on every rank."""
    if arch.kv_lora_rank:
        return 1
    heads = arch.kv_heads or require(arch, "num_attention_heads", "the KV cache")
    return max(1, heads // tensor_parallel)


def kv_head_size(arch: Architecture) -> int:
    if arch.kv_lora_rank:  # MLAAttentionSpec: head_size = kv_lora_rank + qk_rope_head_dim, no separate V
        return arch.kv_lora_rank + (arch.qk_rope_head_dim or 0)
    head_dim = arch.attention_head_dim
    return head_dim if head_dim else require(arch, "head_dim", "the KV cache")


def kv_layout(
    arch: Architecture,
    *,
    dtype_bytes: float,
    tensor_parallel: int = 1,
    block_size: int = 16,
    in_flight_tokens: int = 8192,
    hybrid: bool = True,
) -> KvLayout:
    """The per-GPU KV layout of ``arch`` in vLLM (layers' specs, then get_kv_cache_groups)."""
    layers = require(arch, "num_layers", "the KV cache")
    heads = kv_heads_per_gpu(arch, tensor_parallel)
    size = kv_head_size(arch)
    kv_factor = 1 if arch.kv_lora_rank else 2  # AttentionSpec: K and V; MLA: one latent
    page = int(kv_factor * block_size * heads * size * dtype_bytes)
    # vLLM's model code takes a per-layer window from config.layer_types (llama.py, qwen2.py, gpt_oss.py;
    # Gemma 2/3 patterns are filled in as layer_types by model/config.py); without layer_types a
    # config's sliding_window (Mistral-7B-v0.1) leaves every layer on full attention there
    kinds = list(arch.layer_types[:layers]) if len(arch.layer_types) >= layers else [FULL] * layers
    kinds = [SLIDING if k == SLIDING else FULL for k in kinds]  # other kinds (chunked, linear) not modelled
    window = arch.sliding_window
    if not hybrid or not window:
        # --disable-hybrid-kv-cache-manager: unify_hybrid_kv_cache_specs turns sliding layers into full
        # attention when both kinds are present; a model of only sliding layers keeps its window
        if not window or FULL in kinds:
            kinds = [FULL] * layers
    buckets = Counter(kinds)
    groups: list[KvGroup] = []
    padding = 0
    if len(buckets) == 1:
        kind = kinds[0]
        groups.append(KvGroup(kind, layers, window if kind == SLIDING else None))
        group_size = layers
    else:
        smallest, largest = min(buckets.values()), max(buckets.values())
        group_size = largest if largest < GROUP_SIZE_SLACK * smallest else smallest
        for kind in (FULL, SLIDING):  # bucket order does not change the sizes
            count = buckets.get(kind, 0)
            if not count:
                continue
            n_groups = cdiv(count, group_size)
            padding += n_groups * group_size - count
            for i in range(n_groups):  # layers[i::num_groups]
                members = len(range(i, count, n_groups))
                groups.append(KvGroup(kind, members, window if kind == SLIDING else None))
    return KvLayout(
        block_size=block_size,
        page_bytes=page,
        groups=tuple(groups),
        group_size=group_size,
        padding_layers=padding,
        kv_heads_per_gpu=heads,
        head_size=size,
        dtype_bytes=dtype_bytes,
        in_flight_tokens=in_flight_tokens,
        mla=bool(arch.kv_lora_rank),
    )


def capacity(
    layout: KvLayout, num_blocks: int, max_model_len: int, *, by_concurrency: bool = True
) -> tuple[float, int]:
    """(max concurrency, GPU KV cache size in tokens) as vLLM logs them at start-up.

    Concurrency = num_blocks / blocks per request (get_max_concurrency_for_kv_cache_config). Tokens: 0.21+
    ``int(concurrency * max_model_len)`` (get_kv_cache_capacity: "handles hybrid layouts correctly");
    up to 0.20 ``num_blocks // num_groups * block_size`` (``by_concurrency=False``).
    """
    concurrency = num_blocks / layout.blocks_per_request(max_model_len)
    if by_concurrency:
        return concurrency, int(concurrency * max_model_len)
    return concurrency, num_blocks // len(layout.groups) * layout.block_size
