"""`hubvram estimate MODEL` (the default command) and `hubvram gpus`."""

from __future__ import annotations

import click

from ..render.writers import REPORT_FORMATS
from .options import estimate_options, run_options

CHART_SUFFIXES = (".svg", ".html", ".htm")


def _chart_path(_ctx, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.lower().endswith(CHART_SUFFIXES):
        png = value.lower().endswith(".png")
        hint = " (PNG: write .svg and convert it, e.g. rsvg-convert)" if png else ""
        raise click.BadParameter(f"'{value}': the chart is written as .svg or .html{hint}", param=param)
    return value


@click.command("estimate")
@click.argument("model")
@estimate_options(REPORT_FORMATS)
@click.option(
    "--chart",
    metavar="FILE",
    callback=_chart_path,
    help="Also draw memory against context length, each GPU's usable memory a line: FILE.svg or .html.",
)
def estimate_command(
    model: str, revision: str | None, token: str | None, fmt: str, chart: str | None, **kwargs
) -> None:
    """Facts, memory breakdown and per-GPU fit of MODEL (a Hub repo id or a local directory)."""
    # The stages are imported here, not at the top: `hubvram --help` should not load them (start-up time).
    from ..fetch.load import load_snapshot, parse_model_ref
    from ..model import facts_from_snapshot
    from ..render import render
    from ..report import Transfer, build_report

    options = run_options(**kwargs)  # an unknown --gpu fails here, before any request
    model, pasted_revision = parse_model_ref(model)  # a Hub URL, or org/name@revision
    revision = revision or pasted_revision
    snapshot = load_snapshot(model, revision=revision, token=token, variant=options.settings.variant)
    report = build_report(facts_from_snapshot(snapshot), options, Transfer.of(snapshot))
    for warning in report.warnings:
        click.echo(f"hubvram: warning: {warning}", err=True)
    click.echo(render(report, fmt))
    if chart:
        from ..render.chart import report_chart

        click.echo(f"hubvram: chart written to {report_chart(report, chart)}", err=True)


@click.command("gpus")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="table", show_default=True)
@click.option("--verbose", "-v", is_flag=True, help="Also how usable memory was derived, and the sources.")
def gpus_command(fmt: str, verbose: bool) -> None:
    """List the GPU catalog: usable memory of each card (what one process can allocate), bandwidth, FLOP/s."""
    from ..gpus import load_catalog
    from ..render.writers import gib, render_table

    people = fmt in ("table", "markdown")
    headers = ["name", "vendor", "kind", "usable", "reported", "GB/s", "fp16 TFLOPS"]
    rows = []
    for g in load_catalog():
        row = [g.name, g.vendor, g.kind]
        if people:
            row += [gib(g.memory_bytes), gib(g.reported_bytes)]
            row += [_scaled(g.bandwidth_bytes_per_s, 1e9, 0), _scaled(g.fp16_dense_flops, 1e12, 1)]
        else:
            row += [g.memory_bytes, g.reported_bytes, g.bandwidth_bytes_per_s, g.fp16_dense_flops]
        if verbose or not people:
            row += [g.note, g.source, g.specs_source]
        rows.append(row)
    if verbose or not people:
        headers += ["how usable was derived", "memory source", "specs source"]
    click.echo(render_table(rows, headers, fmt))


def _scaled(value: int | None, unit: float, digits: int) -> str:
    return "?" if value is None else f"{value / unit:,.{digits}f}"
