"""The render stage: a Report or a scan's rows in the format asked for (table, markdown, JSON, CSV, JSONL).

writers.py      the formats both commands share, and the units (GiB = 2**30 bytes)
report_text.py  `hubvram MODEL`: facts, breakdown, fit table; its CSV
scan_text.py    `hubvram scan`: one row per model
"""

from __future__ import annotations

from ..report import Report
from .report_text import report_csv, report_text, scenario_label
from .scan_text import scan_columns, scan_line, scan_text
from .writers import gib, json_text, render_table

REPORT_FORMATS = ("table", "json", "csv", "markdown")
SCAN_FORMATS = ("table", "csv", "json", "jsonl", "markdown")


def render(report: Report, fmt: str) -> str:
    """One model's report in `fmt` (one of REPORT_FORMATS)."""
    if fmt == "json":
        return json_text(report.to_dict())
    if fmt == "csv":
        return report_csv(report)
    return report_text(report, fmt)


__all__ = [
    "REPORT_FORMATS",
    "SCAN_FORMATS",
    "gib",
    "render",
    "render_table",
    "scan_columns",
    "scan_line",
    "scan_text",
    "scenario_label",
]
