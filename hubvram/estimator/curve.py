"""Memory against context length: the estimate of one scenario at each of several context lengths.

The data behind ``render/chart.py``: pure, one ``estimate()`` per point. Contexts above the model's own
context are left out (the report caps its scenarios there too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..model.facts import ModelFacts
from .estimating import estimate
from .options import EstimateOptions
from .weights import stored_compute_dtype

MIN_CONTEXT = 1024  # the chart's first tick, 1k


@dataclass(frozen=True)
class MemoryCurve:
    """Total estimated memory (bytes, per GPU) of one scenario at each context length."""

    label: str  # e.g. "inference bf16 b1"
    contexts: tuple[int, ...]
    totals: tuple[int, ...]
    options: EstimateOptions

    def crossing(self, memory_bytes: int) -> float | None:
        """Context at which the curve reaches ``memory_bytes``, interpolated linearly on the log2 axis the
        chart draws; 0.0 when even the first point is above it, None when no point is."""
        points = list(zip(self.contexts, self.totals, strict=True))
        if not points or points[-1][1] <= memory_bytes:
            return None
        if points[0][1] > memory_bytes:
            return 0.0
        for (c0, t0), (c1, t1) in zip(points, points[1:], strict=False):
            if t0 <= memory_bytes < t1:
                f = (memory_bytes - t0) / (t1 - t0)
                return 2 ** (math.log2(c0) + f * (math.log2(c1) - math.log2(c0)))
        return None  # pragma: no cover - totals are non-decreasing in the context


def default_contexts(facts: ModelFacts, lowest: int = MIN_CONTEXT) -> tuple[int, ...]:
    """Powers of two from 1k up to the model's context, and the context itself."""
    top = facts.architecture.max_position_embeddings or 1 << 17
    contexts = []
    c = lowest
    while c < top:
        contexts.append(c)
        c *= 2
    contexts.append(top)
    return tuple(contexts)


def scenario_label(facts: ModelFacts, options: EstimateOptions) -> str:
    dtype = options.dtype or stored_compute_dtype(facts)
    label = f"{options.mode} {dtype} b{options.batch_size}"
    if options.kv_cache_dtype:
        label += f" kv {options.kv_cache_dtype}"
    if options.tensor_parallel > 1:
        label += f" tp{options.tensor_parallel}"
    return label


def memory_curve(
    facts: ModelFacts,
    options: EstimateOptions,
    contexts: tuple[int, ...] | None = None,
    label: str | None = None,
) -> MemoryCurve:
    """``estimate(facts, options)`` with seq_len set to each context (new_tokens kept below it)."""
    top = facts.architecture.max_position_embeddings
    chosen = sorted({c for c in (contexts or default_contexts(facts)) if c > 0 and (not top or c <= top)})
    totals = []
    for c in chosen:
        point = replace(options, seq_len=c, new_tokens=min(options.new_tokens, c - 1))
        totals.append(estimate(facts, point).total)
    return MemoryCurve(label or scenario_label(facts, options), tuple(chosen), tuple(totals), options)
