"""The command line: parse flags, call the stages, print. Nothing else lives here.

Heavy modules (huggingface_hub, tabulate, transformers) are imported inside the commands so that
`hubvram --help` starts fast.
"""

from __future__ import annotations

import functools
import sys

import click

from . import __version__
from .errors import HubVramError
from .estimate import ATTENTION, KV_CACHE_DTYPES, MIXED_PRECISION, OFFLOAD
from .estimate import DTYPES as ESTIMATE_DTYPES
from .estimate import MODES as ESTIMATE_MODES
from .estimate import OPTIMIZERS as ESTIMATE_OPTIMIZERS
from .report import RunOptions

# The accepted values come from the estimator, the one place that defines them.
MODES = (*ESTIMATE_MODES, "both")
DTYPES = ESTIMATE_DTYPES
OPTIMIZERS = ESTIMATE_OPTIMIZERS
FORMATS = ("table", "json", "csv", "markdown")


class HubVramCLI(click.Group):
    """`hubvram MODEL` runs the default `estimate` command; errors become one line and an exit status."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = next((i for i, arg in enumerate(args) if arg != "--debug"), len(args))  # after root flags
        if first < len(args) and args[first] not in (*self.commands, "--help", "-h", "--version"):
            args = [*args[:first], "estimate", *args[first:]]
        try:
            return super().parse_args(ctx, args)
        except _NO_ARGS_IS_HELP:  # bare `hubvram`: click shows the help, as it should
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _NO_ARGS_IS_HELP:
            raise
        except click.UsageError as exc:  # a subcommand's options are parsed here
            raise OneLineUsageError(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except HubVramError as exc:
            if _debug_requested():
                raise
            raise OneLineError(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            click.echo("hubvram: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `hubvram ... | head`: the reader left; stop quietly
            _silence_stdout()
            ctx.exit(1)
        except OSError as exc:  # an --output that cannot be written, a directory that cannot be read
            if _debug_requested():
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise OneLineError(f"{exc.strerror or type(exc).__name__}{where}", 1) from None
        except Exception as exc:
            if _debug_requested():
                raise
            message = f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
            raise OneLineError(message, 3) from None


# click >= 8.2 raises this for a bare group (its message is the whole help); older click prints the
# help and exits by itself. A class that no exception is an instance of stands in for it there.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", type("_Never", (Exception,), {}))


class OneLineUsageError(click.UsageError):
    """click's usage error as one line (click prints the usage and a hint on two more), exit 2."""

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message(), error.ctx)

    def show(self, file=None) -> None:
        command = self.ctx.command_path if self.ctx else "hubvram"
        message = " ".join(self.format_message().split()).rstrip(".")
        click.echo(f"hubvram: error: {message} (see '{command} --help')", err=True, file=file)


class OneLineError(click.ClickException):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"hubvram: error: {self.format_message()}", err=True, file=file)


def _debug_requested() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("hubvram.debug"))


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta["hubvram.debug"] = True
    return value


# Sane upper bounds: far beyond any real run, low enough that the arithmetic stays meaningful.
MAX_BATCH_SIZE = 1_000_000
MAX_SEQ_LEN = 100_000_000
MAX_COUNT = 1_000_000  # GPUs, accumulation steps, LoRA rank
_UPPER_BOUNDS = {
    "batch_size": MAX_BATCH_SIZE,
    "seq_len": MAX_SEQ_LEN,
    "new_tokens": MAX_SEQ_LEN,
    "grad_accumulation": MAX_COUNT,
    "lora_rank": MAX_COUNT,
    "num_gpus": MAX_COUNT,
    "tensor_parallel": MAX_COUNT,
}


def _positive(_ctx, param: click.Parameter, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be a positive integer", param=param)
    return _bounded(param, value)


def _bounded(param: click.Parameter, value):
    bound = _UPPER_BOUNDS.get(param.name or "")
    if value is not None and bound is not None and value > bound:
        raise click.BadParameter(f"must be at most {bound:,}", param=param)
    return value


def _count(_ctx, param: click.Parameter, value):
    if value is not None and value < 0:
        raise click.BadParameter("must be zero or a positive integer", param=param)
    return _bounded(param, value)


def _overhead(_ctx, param: click.Parameter, value: str | None) -> int | None:
    if value is None or value.strip().lower() == "auto":
        return None
    from .gpus import parse_size

    if value.strip() == "0":
        return 0
    try:
        return parse_size(value)
    except HubVramError as exc:
        raise click.BadParameter(f"{exc} (or 'auto', or 0 to leave it out)", param=param) from None


def estimate_options(fn):
    """Flags shared by `hubvram MODEL` and `hubvram scan`."""
    decorators = [
        click.option(
            "--mode", type=click.Choice(MODES), default="both", show_default=True, help="What to size."
        ),
        click.option(
            "--dtype", type=click.Choice(DTYPES), help="Precision of the weights (default: as stored)."
        ),
        click.option("--batch-size", type=int, default=1, show_default=True, callback=_positive),
        click.option(
            "--seq-len",
            type=int,
            callback=_positive,
            help="Tokens per sequence (default: 2048, capped at the model's).",
        ),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adamw", show_default=True),
        click.option(
            "--overhead",
            callback=_overhead,
            metavar="BYTES|auto",
            help="Runtime overhead per GPU (CUDA context, workspaces): 'auto' (default), a size, or 0.",
        ),
        click.option(
            "--gpu", "gpus", multiple=True, metavar="NAME", help="A GPU from the catalog (repeatable)."
        ),
        click.option("--gpu-memory", multiple=True, metavar="SIZE", help="A GPU by its memory, e.g. 24GiB."),
        click.option(
            "--new-tokens", type=int, default=0, callback=_count, help="Inference: tokens generated."
        ),
        click.option(
            "--mixed-precision",
            type=click.Choice(MIXED_PRECISION),
            help="Training: fp32 master weights and optimizer states, bf16/fp16 compute (autocast).",
        ),
        click.option("--gradient-checkpointing", is_flag=True, help="Training: recompute activations."),
        click.option("--grad-accumulation", type=int, default=1, callback=_positive, metavar="N"),
        click.option(
            "--lora-rank",
            type=int,
            callback=_positive,
            help="Train LoRA adapters of this rank (QLoRA with --dtype nf4/int4).",
        ),
        click.option(
            "--lora-targets",
            default="q,v",
            show_default=True,
            help="LoRA target projections: q,k,v,o,gate,up,down or 'all'.",
        ),
        click.option(
            "--zero",
            "zero_stage",
            type=click.IntRange(0, 3),
            default=0,
            help="ZeRO/FSDP stage (with --num-gpus).",
        ),
        click.option(
            "--num-gpus",
            type=int,
            default=1,
            callback=_positive,
            help="Data-parallel GPUs for ZeRO sharding.",
        ),
        click.option("--offload", type=click.Choice(OFFLOAD), default="none", show_default=True),
        click.option(
            "--tensor-parallel",
            type=int,
            default=1,
            callback=_positive,
            help="Inference: GPUs splitting the model.",
        ),
        click.option(
            "--kv-cache-dtype",
            type=click.Choice(KV_CACHE_DTYPES),
            help="Default: compute dtype.",
        ),
        click.option("--attention", type=click.Choice(ATTENTION), default="sdpa", show_default=True),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
        click.option("--revision", help="Branch, tag or commit (default: main)."),
        click.option(
            "--token", help="Hugging Face token (default: HF_TOKEN or the one saved by `hf auth login`)."
        ),
        click.option(
            "--debug",
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_set_debug,
            help="Show tracebacks.",
        ),
    ]
    return functools.reduce(lambda f, d: d(f), reversed(decorators), fn)


SCENARIO_FLAGS = (
    "batch_size",
    "optimizer",
    "overhead",
    "new_tokens",
    "mixed_precision",
    "gradient_checkpointing",
    "grad_accumulation",
    "lora_rank",
    "lora_targets",
    "zero_stage",
    "num_gpus",
    "offload",
    "tensor_parallel",
    "kv_cache_dtype",
    "attention",
)


def run_options(**kwargs) -> RunOptions:
    """The parsed flags of `estimate_options` as one RunOptions."""
    scenario = {name: kwargs[name] for name in SCENARIO_FLAGS if name in kwargs}
    return RunOptions(
        mode=kwargs["mode"],
        dtype=kwargs["dtype"],
        seq_len=kwargs["seq_len"],
        scenario=scenario,
        gpus=tuple(kwargs["gpus"]),
        gpu_memory=tuple(kwargs["gpu_memory"]),
        fmt=kwargs["fmt"],
    )


@click.group(cls=HubVramCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubvram")
@click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=_set_debug, help="Show tracebacks."
)
def cli() -> None:
    """How much GPU memory a Hugging Face model needs, and on which GPUs it fits.

    Reads only config.json and the safetensors headers (kilobytes), never the weights.

    \b
      hubvram meta-llama/Llama-2-7b-hf
      hubvram Qwen/Qwen3-0.6B --mode training --dtype bf16 --batch-size 4 --seq-len 1024
      hubvram ./my-model-dir --gpu "RTX 4090" --format json
    """


@cli.command("estimate")
@click.argument("model")
@estimate_options
def estimate_command(model: str, revision: str | None, token: str | None, **kwargs) -> None:
    """Facts, memory breakdown and per-GPU fit of MODEL (a Hub repo id or a local directory)."""
    from .render import render
    from .report import build_report, read_facts, resolve_gpus

    options = run_options(**kwargs)
    resolve_gpus(options.gpus, options.gpu_memory)  # an unknown --gpu fails before any request
    facts, transfer = read_facts(model, revision=revision, token=token)
    report = build_report(facts, options, transfer)
    click.echo(render(report, options.fmt))


@cli.command("gpus")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
def gpus_command(fmt: str) -> None:
    """List the GPU catalog: usable memory of each card (what one process can allocate)."""
    from .gpus import load_catalog
    from .render import gib, table_rows

    headers = ["name", "vendor", "kind", "usable", "reported", "how usable was derived"]
    rows = [
        [g.name, g.vendor, g.kind, gib(g.memory_bytes) if fmt in ("table", "markdown") else g.memory_bytes]
        + [gib(g.reported_bytes) if fmt in ("table", "markdown") else g.reported_bytes, g.note]
        for g in load_catalog()
    ]
    click.echo(table_rows(rows, headers, fmt))


SCAN_FORMATS = ("table", "csv", "json", "jsonl", "markdown")
_FORMAT_BY_SUFFIX = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".md": "markdown"}


@cli.command("scan")
@click.argument("model_list", metavar="FILE|-", type=click.File("r", encoding="utf-8"))
@estimate_options
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
    import contextlib
    import os
    import time
    from dataclasses import replace

    from . import scan as scanner

    options = run_options(**kwargs)
    suffix = os.path.splitext(output or "")[1].lower()
    options = replace(options, fmt=options.fmt or _FORMAT_BY_SUFFIX.get(suffix, "table"))
    if resume and not (output and options.fmt == "jsonl"):
        raise click.UsageError("--resume needs --output FILE in JSONL (--format jsonl or a .jsonl name)")
    # An unknown --gpu fails here, before any request.
    keys, names = scanner.scenario_keys(options), scanner.gpu_names(options)
    models = [(model, rev or revision) for model, rev in scanner.read_model_list(model_list.read())]
    skipped = 0
    if resume and output and os.path.exists(output):
        with open(output, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        kept, done = scanner.read_done(lines)
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
        if options.fmt == "jsonl" and output:
            stream = stack.enter_context(open(output, "a" if resume else "w", encoding="utf-8"))
        if sys.stderr.isatty() and models:
            bar = click.progressbar(length=len(models), label="scanning", file=sys.stderr)
            stack.enter_context(bar)
        rows_iter = scanner.scan(
            models, options, concurrency=concurrency, refresh=refresh, token=token, worker_processes=True
        )
        results = stack.enter_context(contextlib.closing(rows_iter))
        try:
            for row in results:
                rows.append(row)
                if options.fmt == "jsonl":
                    line = scanner.jsonl_line(row, keys, names)
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
            _silence_stdout()
            ctx.exit(1)
    if options.fmt != "jsonl":
        text = scanner.render_rows(scanner.in_input_order(rows), options, options.fmt)
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


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError and a ValueError
        pass


for _param in scan_command.params:  # scan also writes JSONL, and guesses the format from --output's name
    if _param.name == "fmt" and isinstance(_param, click.Option):
        _param.type = click.Choice(SCAN_FORMATS)
        _param.default = None
        _param.show_default = False
        _param.help = "Output format (default: from --output's extension, else table)."


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="hubvram")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
