"""The command line: parse flags, call the stages, print. Nothing else lives here.

    __init__.py      the `hubvram` group: `hubvram MODEL` runs `estimate` (click-default-group), and
                     every error becomes one line and an exit status
    options.py       the flags `estimate` and `scan` share, parsed into one RunOptions
    commands.py      `estimate` and `gpus`
    scan_command.py  `scan`
    errors.py        one-line errors, with the flag hints the library leaves out

Heavy modules (huggingface_hub, tabulate, transformers) are imported inside the stages that need them
so that `hubvram --help` starts fast.
"""

from __future__ import annotations

import os
import sys

import click
from click_default_group import DefaultGroup

from .. import __version__
from ..errors import HubVramError
from .commands import estimate_command, gpus_command
from .errors import OneLineError, OneLineUsageError, cli_message, debug_requested, set_debug, silence_stdout
from .scan_command import scan_command

# click >= 8.2 raises this for a bare group (its message is the whole help); older click prints the
# help and exits by itself. A class that no exception is an instance of stands in for it there.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", type("_Never", (Exception,), {}))


class HubVramCLI(DefaultGroup):
    """`hubvram MODEL` runs the default `estimate` command; errors become one line and an exit status."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _NO_ARGS_IS_HELP:  # bare `hubvram`: click shows the help, as it should
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        click.Group.format_commands(
            self, ctx, formatter
        )  # the plain list: `estimate` is named in the help text

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
            if debug_requested():
                raise
            raise OneLineError(cli_message(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            click.echo("hubvram: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `hubvram ... | head`: the reader left; stop quietly
            silence_stdout()
            ctx.exit(1)
        except OSError as exc:  # an --output that cannot be written, a directory that cannot be read
            if debug_requested():
                raise
            where = f": {exc.filename}" if exc.filename else ""
            raise OneLineError(f"{exc.strerror or type(exc).__name__}{where}", 1) from None
        except Exception as exc:
            if debug_requested():
                raise
            message = f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
            raise OneLineError(message, 3) from None


@click.group(
    cls=HubVramCLI,
    default="estimate",
    default_if_no_args=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="hubvram")
@click.option(
    "--debug", is_flag=True, expose_value=False, is_eager=True, callback=set_debug, help="Show tracebacks."
)
def cli() -> None:
    """How much GPU memory a Hugging Face model needs, and on which GPUs it fits.

    Reads only config.json and the safetensors headers (kilobytes), never the weights.

    \b
      hubvram meta-llama/Llama-2-7b-hf
      hubvram Qwen/Qwen3-0.6B --mode training --dtype bf16 --batch-size 4 --seq-len 1024
      hubvram ./my-model-dir --gpu "RTX 4090" --format json
    """


cli.add_command(estimate_command)
cli.add_command(gpus_command)
cli.add_command(scan_command)


def main() -> None:
    """Console-script entry point.

    Ends with os._exit once the output is flushed. By then the answer is written and a scan has shut its
    pools down (scan/runner.py closes them with the rows); what the interpreter's own teardown would add,
    joining idle pool threads and freeing every module, is ~50 ms the user waits for and nothing else
    (measured after a 4-model scan: summary at 0.42 s, process gone 50-65 ms later). A cache write cut
    short could only be one still in flight after Ctrl-C, and a cut entry is re-read, never trusted.
    """
    try:
        cli.main(prog_name="hubvram")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):  # a reader that left, a closed stream
            code = code or 1
    os._exit(code)
