"""`hubvram scan FILE|-`: many models, one row each, written as they finish (JSONL) or as one table."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time

import click

from ..render.writers import SCAN_FORMATS
from .errors import cli_message, silence_stdout
from .options import estimate_options, run_options

_FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".md": "markdown"}


@click.command("scan")
@click.argument("model_list", metavar="FILE|-", type=click.File("r", encoding="utf-8"))
@estimate_options(
    SCAN_FORMATS,
    format_default=None,
    format_help="Output format (default: from --output's extension, else table).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=16,
    show_default=True,
    help="Models read at once (1-64).",
)
@click.option("--refresh", is_flag=True, help="Ignore hubvram's cache: read every model from the Hub again.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@click.option("--resume", is_flag=True, help="Skip the models already in the JSONL --output; append to it.")
@click.pass_context
def scan_command(
    ctx: click.Context,
    model_list,
    revision: str | None,
    token: str | None,
    fmt: str | None,
    concurrency: int,
    refresh: bool,
    output: str | None,
    resume: bool,
    **kwargs,
) -> None:
    """Estimate every model listed in FILE (`-`: stdin), one `org/name[@revision]` per line.

    Blank lines and `#` comments are skipped; --revision applies to lines without `@revision`.
    Each model is a row: parameters, total bytes per scenario, and whether the first scenario fits
    each --gpu (or the default GPUs). A model that cannot be read is a row with an `error` column;
    the exit status is 1 if any failed, 130 on Ctrl-C (JSONL rows written so far stay valid).
    """
    # The stages are imported here, not at the top: `hubvram --help` should not load them (start-up time).
    from ..render import render_scan, scan_columns, scan_line
    from ..scan import in_input_order, read_done, read_model_list, scan

    options = run_options(**kwargs)  # an unknown --gpu fails here, before any request
    if ctx.get_parameter_source("engine") is not click.core.ParameterSource.DEFAULT:
        options = dataclasses.replace(options, serving_columns=True)  # --engine given: its columns too
    suffix = os.path.splitext(output or "")[1].lower()
    fmt = fmt or _FORMAT_BY_SUFFIX.get(suffix, "table")
    if resume and not (output and fmt == "jsonl"):
        raise click.UsageError("--resume needs --output FILE in JSONL (--format jsonl or a .jsonl name)")
    keys, names = scan_columns((), options)
    models = [(model, rev or revision) for model, rev in read_model_list(model_list.read())]
    skipped = 0
    if resume and output and os.path.exists(output):
        with open(output, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        kept, done = read_done(lines)
        if len(kept) != len(lines):  # drop error rows (tried again) and a line cut short
            with open(output, "w", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in kept))
        skipped = sum(1 for m in models if m in done)
        models = [m for m in models if m not in done]

    rows = []
    started = time.perf_counter()
    interrupted = False
    with contextlib.ExitStack() as stack:
        stream = bar = None
        if fmt == "jsonl" and output:
            stream = stack.enter_context(open(output, "a" if resume else "w", encoding="utf-8"))
        if sys.stderr.isatty() and models:
            bar = click.progressbar(length=len(models), label="scanning", file=sys.stderr)
            stack.enter_context(bar)
        rows_iter = scan(
            models,
            options,
            concurrency=concurrency,
            refresh=refresh,
            token=token,
            worker_processes=True,
            describe=cli_message,  # the flag hints of hubvram MODEL's errors (--token) in the rows too
        )
        results = stack.enter_context(contextlib.closing(rows_iter))
        try:
            for row in results:
                rows.append(row)
                if fmt == "jsonl":
                    line = scan_line(row, keys, names, options.serving_columns)
                    if stream is None:
                        click.echo(line)  # click.echo flushes
                    else:
                        stream.write(line + "\n")
                        stream.flush()
                if bar is not None:
                    bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
        except BrokenPipeError:  # `hubvram scan ... | head`: the reader has gone, stop quietly
            silence_stdout()
            ctx.exit(1)
    if fmt != "jsonl":
        text = render_scan(in_input_order(rows), options, fmt)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        else:
            click.echo(text)
    failed = sum(1 for row in rows if row.error)
    summary = f"scanned {len(rows)}, failed {failed}, cached {sum(1 for row in rows if row.cached)}"
    elapsed = time.perf_counter() - started
    summary += f" in {elapsed:.3f} s" if elapsed < 10 else f" in {elapsed:.1f} s"
    if skipped:
        summary += f"; skipped {skipped} already in {output}"
    if interrupted:
        summary += f"; interrupted, {len(models) - len(rows)} not scanned"
    click.echo(summary, err=True)
    ctx.exit(130 if interrupted else 1 if failed else 0)
