"""An Estimate: the breakdown at the peak, every phase of the step, and the runtime overhead on top."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..gpus.catalog import Gpu
from ..gpus.fitting import Fit, fit
from .options import EstimateOptions

COMPONENT_KEYS = ("weights", "kv_cache", "activations", "gradients", "optimizer_states", "overhead")

# Runtime overhead of one GPU process, documented rather than measured (a CPU has none):
# the CUDA context with lazy module loading, ~0.3-0.5 GB (PyTorch "CUDA semantics" notes);
CUDA_CONTEXT_BYTES = 500 * 2**20
# cuBLAS's workspace per handle on Hopper (NVIDIA cuBLAS docs, cublasSetWorkspace);
CUBLAS_WORKSPACE_BYTES = 32 * 2**20
# the caching allocator's block rounding and fragmentation, ~5% of the peak (PyTorch memory_stats docs).
ALLOCATOR_SLACK = 0.05


@dataclass(frozen=True)
class Estimate:
    """Peak memory of one scenario on one GPU, with its breakdown.

    ``components`` is the breakdown at the peak: it always holds COMPONENT_KEYS (plus extras such as
    ``lora_adapters`` or ``optimizer_scratch``) and sums to ``total``. ``phases`` holds the breakdown of
    every phase of the step; ``peak_phase`` names the largest. ``resident`` gives each component's
    largest size over the phases (e.g. all the gradients, even when the peak falls before they exist).
    """

    options: EstimateOptions
    components: Mapping[str, int]
    total: int
    # Split over several cards (gpus.fitting.fit): the tensors every card keeps whatever the split (0 for
    # tensor-parallel inference and layer-split training; llama.cpp: its compute buffer), the runtime
    # each card adds (CUDA context and workspace, or --overhead), and its allocator slack.
    replicated_bytes: int
    peak_phase: str = ""
    phases: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    fixed_bytes: int = 0
    slack: float = 0.0

    def fit(self, gpu: Gpu) -> Fit:
        """This estimate on `gpu`: on one card, and on the fewest cards that hold it split."""
        return fit(
            self.total,
            gpu,
            replicated_bytes=self.replicated_bytes,
            fixed_bytes=self.fixed_bytes,
            slack=self.slack,
        )

    @property
    def resident(self) -> dict[str, int]:
        keys = {k for phase in self.phases.values() for k in phase} | set(self.components)
        return {
            k: max([p.get(k, 0) for p in self.phases.values()] + [self.components.get(k, 0)]) for k in keys
        }

    def to_dict(self) -> dict[str, Any]:
        opts = self.options
        return {
            "mode": opts.mode,
            "dtype": opts.dtype,
            "batch_size": opts.batch_size,
            "seq_len": opts.seq_len,
            "options": opts.to_dict(),
            "components": dict(self.components),
            "total": self.total,
            "peak_phase": self.peak_phase,
            "phases": {name: dict(parts) for name, parts in self.phases.items()},
            "replicated_bytes": self.replicated_bytes,
            "notes": list(self.notes),
        }


def runtime(options: EstimateOptions) -> tuple[int, float]:
    """(fixed bytes, slack fraction) of one GPU process: --overhead replaces both when given."""
    if options.overhead is not None:
        return options.overhead, 0.0
    return CUDA_CONTEXT_BYTES + CUBLAS_WORKSPACE_BYTES, ALLOCATOR_SLACK


def overhead_bytes(options: EstimateOptions, peak: float) -> int:
    fixed, slack = runtime(options)
    return int(fixed + slack * peak)


def finish(
    options: EstimateOptions,
    phases: dict[str, dict[str, float]],
    notes: list[str],
    per_gpu_activation_keys: tuple[str, ...] = (),
) -> Estimate:
    peak_phase = max(phases, key=lambda name: sum(phases[name].values()))
    peak = sum(phases[peak_phase].values())
    overhead = overhead_bytes(options, peak)
    frozen_phases: dict[str, Mapping[str, int]] = {}
    for name, parts in phases.items():
        full = {key: 0 for key in COMPONENT_KEYS}
        full.update({key: int(round(value)) for key, value in parts.items()})
        full["overhead"] = overhead
        frozen_phases[name] = MappingProxyType(full)
    components = frozen_phases[peak_phase]
    total = sum(components.values())
    replicated = sum(components.get(key, 0) for key in per_gpu_activation_keys)
    fixed, slack = runtime(options)
    return Estimate(
        options=options,
        components=components,
        total=total,
        replicated_bytes=replicated,
        peak_phase=peak_phase,
        phases=MappingProxyType(frozen_phases),
        notes=tuple(notes),
        fixed_bytes=fixed,
        slack=slack,
    )
