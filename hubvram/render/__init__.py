"""The render stage: a Report or a scan's rows in the format asked for (table, markdown, JSON, CSV, JSONL).

writers.py      the formats both commands share, and the units (GiB = 2**30 bytes)
report_text.py  `hubvram MODEL`: facts, breakdown, fit table; its CSV
scan_text.py    `hubvram scan`: one row per model
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): `hubvram --help` needs only the format names of writers.py.
_EXPORTS = {
    "render": "report_text",
    "report_csv": "report_text",
    "scenario_label": "labels",
    "scan_columns": "scan_text",
    "scan_line": "scan_text",
    "render_scan": "scan_text",
    "REPORT_FORMATS": "writers",
    "SCAN_FORMATS": "writers",
    "gib": "writers",
    "json_text": "writers",
    "render_table": "writers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
