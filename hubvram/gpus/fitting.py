"""Does an estimate fit a GPU, on how many cards, and what is the largest batch or context that fits.

Pure arithmetic on integer bytes: no I/O, no catalog lookups (the caller passes the Gpu).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .catalog import Gpu

# Default upper bound for largest_fitting: 2**24 = 16,777,216 (above any published context length).
DEFAULT_SEARCH_LIMIT = 1 << 24


@dataclass(frozen=True)
class Fit:
    """How `required_bytes` sits on `gpu`: on one card, and split over the fewest cards that hold it."""

    gpu: Gpu
    required_bytes: int  # the whole estimate, as if on one card
    fits: bool  # fits on a single card
    gpus_needed: int | None  # fewest cards that hold it; None when max_gpus are not enough
    headroom_bytes: int  # gpu memory - required_bytes on one card; negative when it does not fit on one
    per_gpu_bytes: int | None  # bytes on each card when split over gpus_needed; None with gpus_needed

    @property
    def shortfall_bytes(self) -> int:
        """Bytes missing on a single card (0 when it fits)."""
        return max(0, -self.headroom_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "gpus_needed": self.gpus_needed,
            "headroom_bytes": self.headroom_bytes,
            "per_gpu_bytes": self.per_gpu_bytes,
        }


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def per_gpu_bytes(total_bytes: int, n: int, *, replicated_bytes: int = 0) -> int:
    """Bytes on each of n cards: the shardable part split evenly (rounded up), plus the replicated part."""
    return _ceil_div(total_bytes - replicated_bytes, n) + replicated_bytes


def gpus_needed(
    total_bytes: int, memory_bytes: int, *, replicated_bytes: int = 0, max_gpus: int = 64
) -> int | None:
    """Smallest n with ceil((total - replicated) / n) + replicated <= memory, or None past max_gpus.

    Closed form: ceil(x) <= k for an integer k iff x <= k, so n >= shardable / (memory - replicated).
    """
    _check(total_bytes, replicated_bytes, max_gpus)
    available = memory_bytes - replicated_bytes  # what each card has left for its shard
    shardable = total_bytes - replicated_bytes
    if available < 0:
        return None  # the replicated part alone overflows a card
    if shardable == 0:
        return 1
    if available == 0:
        return None
    n = _ceil_div(shardable, available)
    return n if n <= max_gpus else None


def fit(
    total_bytes: int,
    gpu: Gpu,
    *,
    replicated_bytes: int = 0,
    fixed_bytes: int = 0,
    slack: float = 0.0,
    max_gpus: int = 64,
) -> Fit:
    """Fit of an estimate on `gpu`, alone and split over the fewest cards that hold it.

    Split over n cards, each card holds its share of the tensors, `replicated_bytes` that every card keeps
    whatever the split, its own runtime (`fixed_bytes`: CUDA context, workspaces) and its allocator's
    `slack` on what it holds (so the runtime of the whole model is never charged to each card):

        per card = (ceil((peak - replicated) / n) + replicated) x (1 + slack) + fixed
        peak = (total - fixed) / (1 + slack), the tensors of the estimate

    Apple silicon has one unified memory per machine: there is no splitting over cards (None).
    """
    if not 0 <= replicated_bytes <= total_bytes:
        raise ValueError(f"need 0 <= replicated_bytes <= total_bytes, got {replicated_bytes}, {total_bytes}")
    peak = round((total_bytes - fixed_bytes) / (1 + slack))
    replicated = min(replicated_bytes, peak)
    room = int((gpu.memory_bytes - fixed_bytes) / (1 + slack))  # what each card has for tensors
    n = None
    if gpu.kind != "apple" or total_bytes <= gpu.memory_bytes:
        n = gpus_needed(peak, max(room, 0), replicated_bytes=replicated, max_gpus=max_gpus)
    per_gpu = total_bytes if n == 1 else None
    if n is not None and n > 1:
        per_gpu = int(per_gpu_bytes(peak, n, replicated_bytes=replicated) * (1 + slack)) + fixed_bytes
    return Fit(
        gpu=gpu,
        required_bytes=total_bytes,
        fits=total_bytes <= gpu.memory_bytes,
        gpus_needed=1 if total_bytes <= gpu.memory_bytes else n,
        headroom_bytes=gpu.memory_bytes - total_bytes,
        per_gpu_bytes=per_gpu,
    )


def largest_fitting(
    bytes_for: Callable[[int], int],
    memory_bytes: int,
    *,
    lo: int = 1,
    hi: int = DEFAULT_SEARCH_LIMIT,
) -> int | None:
    """Largest integer v in [lo, hi] with bytes_for(v) <= memory_bytes, or None if even lo does not fit.

    bytes_for must be non-decreasing (batch size, context length). Doubling from lo finds a value
    that does not fit, then bisection closes in: at most about 2 * log2(hi) calls. Returns hi when
    hi itself fits (the answer is then "at least hi").
    """
    if lo < 0 or hi < lo:
        raise ValueError(f"largest_fitting needs 0 <= lo <= hi, got lo={lo}, hi={hi}")
    if bytes_for(lo) > memory_bytes:
        return None
    good = lo  # fits
    while True:
        candidate = min(max(good * 2, good + 1), hi)
        if candidate == good:
            return good  # good == hi
        if bytes_for(candidate) <= memory_bytes:
            good = candidate
        else:
            bad = candidate  # does not fit
            break
    while bad - good > 1:
        mid = (good + bad) // 2
        if bytes_for(mid) <= memory_bytes:
            good = mid
        else:
            bad = mid
    return good


def _check(total_bytes: int, replicated_bytes: int, max_gpus: int) -> None:
    if max_gpus < 1:
        raise UsageError(f"the GPU count limit must be at least 1, got {max_gpus}")
    if total_bytes < 0 or replicated_bytes < 0 or replicated_bytes > total_bytes:
        raise ValueError(
            f"need 0 <= replicated_bytes <= total_bytes, "
            f"got replicated={replicated_bytes}, total={total_bytes}"
        )
