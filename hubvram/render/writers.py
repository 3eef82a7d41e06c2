"""The output formats both commands share: JSON, JSONL, CSV and tables (plain or markdown).

Units are chosen here, once: GiB = 2**30 bytes for people, exact bytes in JSON and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

GIB = 2**30
REPORT_FORMATS = ("table", "json", "csv", "markdown")  # hubvram MODEL, hubvram gpus
SCAN_FORMATS = ("table", "csv", "json", "jsonl", "markdown")  # hubvram scan


def gib(nbytes: int | float) -> str:
    """Bytes for people: GiB (2**30), or MiB below one GiB so small models do not read 0.00."""
    if abs(nbytes) < GIB:
        return f"{nbytes / 2**20:,.1f} MiB"
    return f"{nbytes / GIB:,.2f} GiB"


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2)


def jsonl_line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with one header line; None cells are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return buffer.getvalue().rstrip("\n")


def table_text(rows: Sequence[Sequence[Any]], headers: Sequence[str], fmt: str) -> str:
    """A table for people: tabulate's "simple" layout, or GitHub markdown for fmt "markdown"."""
    import tabulate  # lazy: JSON and CSV output never need it

    tablefmt = "github" if fmt == "markdown" else "simple"
    padding, tabulate.MIN_PADDING = tabulate.MIN_PADDING, 0  # columns as wide as their text: 100 columns
    try:
        return tabulate.tabulate(rows, headers=headers, tablefmt=tablefmt, disable_numparse=True)
    finally:
        tabulate.MIN_PADDING = padding


def render_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], fmt: str) -> str:
    """A plain list of records (`hubvram gpus`) in any format."""
    if fmt == "json":
        return json_text([dict(zip(headers, row, strict=True)) for row in rows])
    if fmt == "csv":
        return csv_text(headers, rows)
    return table_text(rows, headers, fmt)
