"""One exception family. Every message is one line that says what to do next.

Errors carry fields (the model, revision and file they concern) beside their message; the message is
the library's, free of command-line flags. The CLI adds the flag hints (`--token`, `--gpu-memory`) in
one place (`hubvram.cli.errors`).
"""

from __future__ import annotations

import importlib.util


def printable(text: str, limit: int = 80) -> str:
    """Hostile text fit for a one-line message: clipped, control characters (terminal escapes) as '?'."""
    clipped = text if len(text) <= limit else text[: limit - 3] + "..."
    if clipped.isprintable():  # the common case, in C: no character to replace
        return clipped
    return "".join(c if c.isprintable() else "?" for c in clipped)


class HubVramError(Exception):
    """Base of every error hubvram reports to a user; the CLI prints it as one line."""

    exit_code = 1
    prefix = ""  # said before the message: "org/adapter is an adapter for org/base: " (fetch.load)

    def __init__(
        self, message: str, *, model: str | None = None, revision: str | None = None, file: str | None = None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.revision = revision
        self.file = file

    def __str__(self) -> str:
        return self.prefix + self.bare

    @property
    def bare(self) -> str:
        """The message without the prefix."""
        return super().__str__()


class UsageError(HubVramError):
    """The user asked for something that cannot be answered (bad repo id, impossible option)."""

    exit_code = 2


class UnknownGpu(UsageError):
    """A GPU name the catalog does not know (`candidates`: the closest names), or that fits several."""

    def __init__(
        self, message: str, *, name: str, candidates: tuple[str, ...] = (), ambiguous: bool = False
    ) -> None:
        super().__init__(message)
        self.name = name
        self.candidates = candidates
        self.ambiguous = ambiguous


class ModelNotFound(HubVramError):
    """The repo does not exist, or is private and the token cannot see it."""

    def __init__(self, model: str, *, token_sent: bool) -> None:
        hint = "" if token_sent else " (if it is private, log in with `hf auth login` or set HF_TOKEN)"
        if "/" not in model:  # legacy ids (gpt2) redirect; any other id needs its organisation
            hint += "; Hub ids are org/name, e.g. meta-llama/Llama-2-7b-hf"
        super().__init__(f"{model} was not found on the Hub{hint}", model=model)
        self.token_sent = token_sent


class RevisionNotFound(HubVramError):
    """The repo exists but the branch, tag or commit does not."""

    def __init__(self, model: str, revision: str) -> None:
        hint = "check the branch, tag or commit"
        if 7 <= len(revision) < 40 and all(c in "0123456789abcdef" for c in revision):
            hint = "a short commit id is matched against main's commit only; give all 40 characters"
        super().__init__(
            f"{model} has no revision '{printable(revision)}': {hint}", model=model, revision=revision
        )


class GatedModel(HubVramError):
    """The repo is gated or private and the request carried no token that may read it."""

    def __init__(self, model: str, *, token_sent: bool) -> None:
        if token_sent:
            message = f"{model} is gated and your token has no access yet: request access on its Hub page"
        else:
            message = f"{model} is gated: accept its terms on the Hub, then log in with `hf auth login`"
            message += " or set HF_TOKEN"
        super().__init__(message, model=model)
        self.token_sent = token_sent


class NetworkError(HubVramError):
    """The Hub could not be reached, or kept failing after bounded retries."""


class Cancelled(HubVramError):
    """A read stopped because its scan was interrupted (its row is dropped, never shown)."""


class NotSafetensors(HubVramError):
    """The repo holds no weights hubvram can read (and no config to derive a count from)."""


class MalformedHeader(HubVramError):
    """A weights header (safetensors, GGUF) is truncated, oversized or not what the format allows."""


class MalformedConfig(HubVramError):
    """config.json (or an index) is missing, unreadable or lacks a field the estimate needs."""


class MissingField(MalformedConfig):
    """The config lacks a field that this estimate needs."""

    def __init__(self, field: str, model: str, needed_for: str) -> None:
        self.field = field
        message = f"{model}: config.json has no usable '{field}', which the {needed_for} estimate needs"
        if importlib.util.find_spec("transformers") is None:
            message += " (pip install 'hubvram[configs]' lets transformers' config class supply its default)"
        super().__init__(message, model=model)
