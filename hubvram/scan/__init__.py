"""Batch scans: many models, one row each, concurrently, from the cache when it can (runner.py)."""

from __future__ import annotations

from .model_list import read_done, read_model_list
from .rows import GpuFit, ScanRow, in_input_order, row_from_report, scenario_key, scenario_keys
from .runner import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, scan, scan_one

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
    "GpuFit",
    "ScanRow",
    "in_input_order",
    "read_done",
    "read_model_list",
    "row_from_report",
    "scan",
    "scan_one",
    "scenario_key",
    "scenario_keys",
]
