"""The start-up errors vLLM raises when a model does not fit, worded as its source words them.

``_check_enough_kv_cache_memory`` (0.33 ``vllm/v1/core/kv_cache_planning.py``; ``kv_cache_utils.py`` up to
0.32), quoted in notes/VLLM.md section 6: the current wording, with the two documented differences of
0.14-0.21 ("models's", no CPU remark). Numbers go through vLLM's own ``format_gib``.
"""

from __future__ import annotations

GiB = 1 << 30
DOCS = "See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."
# CUDA context a process holds before vLLM's snapshot (estimator/result.py CUDA_CONTEXT_BYTES, PyTorch notes)
STARTUP_BASELINE_BYTES = 500 * 2**20


def format_gib(b: int) -> str:
    """vllm.utils.mem_utils.format_gib: str(round(b / GiB, 2)), so 1.5 and 8.0, not 1.50."""
    return f"{round(b / GiB, 2)}"


def no_memory_message(release: tuple[int, int]) -> str:
    """_check_enough_kv_cache_memory when available <= 0 (the CPU remark since 0.22)."""
    cpu = (
        " (this flag also controls CPU memory reservation on the CPU backend, despite its name)"
        if release >= (0, 22)
        else ""
    )
    return (
        "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        f"initializing the engine{cpu}. {DOCS}"
    )


def too_long_message(
    max_model_len: int, needed: int, available: int, estimated: int, release: tuple[int, int]
) -> str:
    """_check_enough_kv_cache_memory when one request at max_model_len does not fit (source in notes/VLLM.md;
    <= 0.21: "models's" and no CPU remark)."""
    whose = "model's" if release >= (0, 22) else "models's"
    cpu = " (which also controls CPU memory on the CPU backend)" if release >= (0, 22) else ""
    estimate = (
        f"Based on the available memory, the estimated maximum model length is {estimated}. "
        if estimated > 0
        else ""
    )
    return (
        f"To serve at least one request with the {whose} max seq len ({max_model_len}), "
        f"({format_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache memory "
        f"({format_gib(available)} GiB). {estimate}Try increasing `gpu_memory_utilization`{cpu} or "
        f"decreasing `max_model_len` when initializing the engine. {DOCS}"
    )


def startup_message(total: int, requested: int, util: float) -> str | None:
    """Worker start-up check: free memory at the snapshot (total - CUDA context) below the requested share.
    Wording of request_memory / init_device (0.11-0.14; later releases add the device, e.g. "cuda:0")."""
    free = total - STARTUP_BASELINE_BYTES
    if free >= requested:
        return None
    return (
        f"Free memory on device ({round(free / GiB, 2)}/{round(total / GiB, 2)} GiB) on startup is less than "
        f"desired GPU memory utilization ({util}, {round(requested / GiB, 2)} GiB). Decrease GPU memory "
        "utilization or reduce GPU memory used by other processes."
    )


def oom_message(needed: int, requested: int) -> str:
    return (
        f"weights and the profile run need {needed / GiB:.2f} GiB, more than the {requested / GiB:.2f} GiB "
        "vLLM may use (CUDA out of memory while loading or profiling; hubvram's wording)"
    )
