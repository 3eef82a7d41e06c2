"""A scan's rows in every format: one line per model, its totals per scenario and its fit per GPU."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from ..report import RunOptions
from ..scan.rows import GpuFit, ScanRow, scenario_keys
from .writers import GIB, csv_text, json_text, jsonl_line, table_text


def scan_columns(rows: Sequence[ScanRow], options: RunOptions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The scenario columns (those the options can fill, then any a row brought) and the GPU names."""
    keys = scenario_keys(options)
    keys += tuple(dict.fromkeys(key for row in rows for key, _ in row.totals if key not in keys))
    return keys, tuple(gpu.name for gpu in options.held_against())


def render_scan(rows: Sequence[ScanRow], options: RunOptions, fmt: str) -> str:
    """Rows as a table, markdown, CSV, JSON or JSONL (the CLI streams JSONL row by row: scan_line)."""
    keys, names = scan_columns(rows, options)
    serving = options.serving_columns
    if fmt == "json":
        return json_text([row.to_dict(keys, names, serving) for row in rows])
    if fmt == "jsonl":
        return "\n".join(scan_line(row, keys, names, serving) for row in rows)
    if fmt == "csv":
        columns = list(ScanRow(model="").to_dict(keys, names, serving))
        return csv_text(columns, ([row.to_dict(keys, names, serving)[c] for c in columns] for row in rows))
    return _table(rows, keys, options, fmt)


def scan_line(row: ScanRow, keys: Sequence[str], names: Sequence[str], serving: bool = False) -> str:
    """One row as a JSON line."""
    return jsonl_line(row.to_dict(keys, names, serving))


def _table(rows: Sequence[ScanRow], keys: tuple[str, ...], options: RunOptions, fmt: str) -> str:
    """One line per model: totals in GiB per scenario, then per-GPU columns (up to three GPUs) or the
    smallest card the first scenario fits on (and on how many of them); errors below the table."""
    gpus = options.held_against()
    names = tuple(g.name for g in gpus)
    memory = {g.name: g.memory_bytes for g in gpus}
    first = _column(keys[0]) if keys else ""
    per_gpu = len(names) <= 3
    headers = ["model", "parameters", *(_column(k) for k in ["weights", *keys])]
    headers += [f"{_short_gpu(n)} ({first})" for n in names] if per_gpu else [f"smallest fit ({first})"]
    speeds = options.serving_columns and per_gpu  # one decode tok/s column per GPU (all of them: CSV/JSON)
    headers += [f"{_short_gpu(n)} tok/s" for n in names] if speeds else []
    table, errors = [], []
    for row in rows:
        totals = dict(row.totals)
        fits = {g.name: g for g in row.gpus}
        model = row.model if row.revision is None else f"{row.model}@{row.revision}"
        cells = [model, "" if row.parameters is None else f"{row.parameters:,}"]
        cells.append("" if row.weights_bytes is None else f"{row.weights_bytes / GIB:,.2f}")
        cells += [f"{totals[k] / GIB:,.2f}" if k in totals else "" for k in keys]
        if per_gpu:
            cells += [_fit_cell(fits.get(n)) for n in names]
        elif not row.error:
            fitting = [n for n in names if fits.get(n) and fits[n].fits]
            smallest = min(fitting, key=memory.__getitem__) if fitting else None
            cells.append(f"{_short_gpu(smallest)} ({len(fitting)}/{len(names)})" if smallest else "-")
        if speeds and not row.error:
            cells += [_rate(fits[n].serving_value("decode_tokens_per_s")) if n in fits else "" for n in names]
        if row.error:
            cells[1] = "error (below)"
            errors.append(textwrap.fill(f"{model}: {row.error}", 100, subsequent_indent="    "))
        table.append(cells)
    note = "GiB; fits: on one card; Nx: cards needed when split; -: not even on 64; (k/n): fits on k of n"
    if speeds:
        note += "; tok/s: decode bound of the scenario the engine serves, per sequence"
    return "\n".join([table_text(table, headers, fmt), textwrap.fill(note, 100), *errors])


def _rate(value: float | int | None) -> str:
    return "-" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _column(key: str) -> str:
    """A scenario key as a column name: inference -> infer, inference:int4 -> int4, training -> train."""
    mode, _, precision = key.partition(":")
    if key == "weights":
        return "weights GiB"
    return (
        precision
        if mode == "inference" and precision
        else "infer"
        if mode == "inference"
        else f"train{':' + precision if precision else ''}"
    )


def _short_gpu(name: str) -> str:
    for word in ("RTX ", "Apple ", "NVIDIA "):
        name = name.replace(word, "")
    return name


def _fit_cell(fit: GpuFit | None) -> str:
    if fit is None:
        return ""
    if fit.fits:
        return "fits"
    return f"{fit.gpus_needed}x" if fit.gpus_needed else "-"
