"""A scan's rows in every format: one line per model, its totals per scenario and its fit per GPU."""

from __future__ import annotations

from collections.abc import Sequence

from ..report import RunOptions
from ..scan.rows import GpuFit, ScanRow, scenario_keys
from .writers import csv_text, gib, json_text, jsonl_line, table_text


def scan_columns(rows: Sequence[ScanRow], options: RunOptions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The scenario columns (those the options can fill, then any a row brought) and the GPU names."""
    keys = scenario_keys(options)
    keys += tuple(dict.fromkeys(key for row in rows for key, _ in row.totals if key not in keys))
    return keys, tuple(gpu.name for gpu in options.held_against())


def render_scan(rows: Sequence[ScanRow], options: RunOptions, fmt: str) -> str:
    """Rows as a table, markdown, CSV, JSON or JSONL (the CLI streams JSONL row by row: scan_line)."""
    keys, names = scan_columns(rows, options)
    if fmt == "json":
        return json_text([row.to_dict(keys, names) for row in rows])
    if fmt == "jsonl":
        return "\n".join(scan_line(row, keys, names) for row in rows)
    if fmt == "csv":
        columns = list(ScanRow(model="").to_dict(keys, names))
        return csv_text(columns, ([row.to_dict(keys, names)[c] for c in columns] for row in rows))
    return _table(rows, keys, names, fmt)


def scan_line(row: ScanRow, keys: Sequence[str], names: Sequence[str]) -> str:
    """One row as a JSON line."""
    return jsonl_line(row.to_dict(keys, names))


def _table(rows: Sequence[ScanRow], keys: tuple[str, ...], names: tuple[str, ...], fmt: str) -> str:
    first = keys[0] if keys else ""
    headers = ["model", "parameters", "weights", *keys, *(f"{n} ({first})" for n in names), "error"]
    table = []
    for row in rows:
        totals = dict(row.totals)
        fits = {g.name: g for g in row.gpus}
        model = row.model if row.revision is None else f"{row.model}@{row.revision}"
        cells = [model, "" if row.parameters is None else f"{row.parameters:,}"]
        cells.append("" if row.weights_bytes is None else gib(row.weights_bytes))
        cells += [gib(totals[k]) if k in totals else "" for k in keys]
        cells += [_fit_cell(fits.get(n)) for n in names]
        cells.append(row.error or "")
        table.append(cells)
    if not any(row.error for row in rows):
        headers.pop()
        table = [cells[:-1] for cells in table]
    note = "fits: on one card; Nx: cards needed when split; -: not even on 64"
    return table_text(table, headers, fmt) + "\n" + note


def _fit_cell(fit: GpuFit | None) -> str:
    if fit is None:
        return ""
    if fit.fits:
        return "fits"
    return f"{fit.gpus_needed}x" if fit.gpus_needed else "-"
