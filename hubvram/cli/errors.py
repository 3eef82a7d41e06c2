"""Errors on the command line: one line on stderr, `hubvram: error: ...`, and an exit status.

The library's errors carry fields and flag-free messages; the flag hints (`--token`, `--gpu-memory`)
are added here, the one place that knows the flags.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import GatedModel, HubVramError, ModelNotFound, UnknownGpu


def cli_message(exc: HubVramError) -> str:
    """The one-line message of a library error, with the command-line hint where one helps."""
    return exc.prefix + _message(exc)


def _message(exc: HubVramError) -> str:
    if isinstance(exc, GatedModel) and not exc.token_sent:
        return (
            f"{exc.model} is gated: accept its terms on the Hub, then log in with `hf auth login` "
            "or pass --token / set HF_TOKEN"
        )
    if isinstance(exc, ModelNotFound) and not exc.token_sent:
        return exc.bare.replace("or set HF_TOKEN)", "or pass --token)")
    if isinstance(exc, UnknownGpu):
        if exc.ambiguous:
            names = ", ".join(exc.candidates)
            return f"GPU '{exc.name}' is ambiguous: {names}; name the size, or pass --gpu-memory"
        hint = (
            f"did you mean {', '.join(exc.candidates)}? Otherwise"
            if exc.candidates
            else "not in the catalog;"
        )
        return f"unknown GPU '{exc.name}'; {hint} give its memory with --gpu-memory (e.g. 24GiB)"
    return exc.bare


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


def debug_requested() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get("hubvram.debug"))


def set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta["hubvram.debug"] = True
    return value


def silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is an OSError and a ValueError
        pass
