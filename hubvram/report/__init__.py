"""The report stage: facts + what the user asked for -> the scenarios' estimates -> their fit on each GPU,
what an engine serves there, and what the hardware says about it.

This is the one path `hubvram MODEL` and `hubvram scan` share; the arithmetic itself lives in the
estimator and gpus packages, the drawing in render.
"""

from .build import (
    DEFAULT_SEQ_LEN,
    WHAT_IF_PRECISIONS,
    GpuRow,
    Report,
    RunOptions,
    Transfer,
    build_report,
    dtype_label,
    estimate_dict,
    read_facts,
    scenarios,
    stored_precision,
    trainable,
)
from .hardware import caveats
from .serving import ENGINES, resolve_engine

__all__ = [
    "DEFAULT_SEQ_LEN",
    "ENGINES",
    "WHAT_IF_PRECISIONS",
    "GpuRow",
    "Report",
    "RunOptions",
    "Transfer",
    "build_report",
    "caveats",
    "dtype_label",
    "estimate_dict",
    "read_facts",
    "resolve_engine",
    "scenarios",
    "stored_precision",
    "trainable",
]
