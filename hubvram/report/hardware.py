"""What a card's hardware says about a report's precisions: fp8 and bf16 tensor cores, int4 kernels,
Apple's one unified memory."""

from __future__ import annotations

from ..gpus import Gpu
from .build import Report, stored_precision


def caveats(report: Report, gpu: Gpu) -> tuple[str, ...]:
    """What the card's hardware says about the report's precisions (a custom GPU: nothing is known)."""
    kinds = set()
    for e in report.estimates:
        o = e.options
        precision = (o.dtype or o.variant or stored_precision(report.facts)).lower()
        kinds.add("bf16" if "bf16" in precision or o.mixed_precision == "bf16" else precision)
        kinds.add("fp8" if "fp8" in precision else "")
        kinds.add("int4" if precision in ("int4", "nf4") or precision.startswith("int4") else "")
    found = []
    if "fp8" in kinds and gpu.fp8_dense_flops == 0:
        found.append(
            f"no fp8 tensor cores on the {gpu.name}: fp8 weights run upcast through weight-only kernels"
        )
    if "bf16" in kinds and gpu.bf16 is False and gpu.kind != "apple":  # Apple: bf16 no slower than fp16
        found.append("no bf16 tensor cores: use fp16, bf16 runs far slower")
    if "int4" in kinds and gpu.arch in ("Volta", "Turing"):
        found.append(
            f"int4 kernels (Marlin, Machete) need Ampere or newer: the {gpu.name} falls back to slower ones"
        )
    if gpu.kind == "apple" and any(
        row.gpu is gpu and not all(f.fits for f in row.fits) for row in report.gpus
    ):
        found.append("Apple silicon has one unified memory: no splitting over cards")
    return tuple(found)
