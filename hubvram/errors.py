"""One exception family. Every message is one line that says what to do next."""

from __future__ import annotations


def printable(text: str, limit: int = 80) -> str:
    """Hostile text fit for a one-line message: clipped, control characters (terminal escapes) as '?'."""
    clipped = text if len(text) <= limit else text[: limit - 3] + "..."
    return "".join(c if c.isprintable() else "?" for c in clipped)


class HubVramError(Exception):
    """Base of every error hubvram reports to a user; the CLI prints it as one line."""

    exit_code = 1


class UsageError(HubVramError):
    """The user asked for something that cannot be answered (bad repo id, impossible option)."""

    exit_code = 2


class ModelNotFound(HubVramError):
    """The repo does not exist, or is private and the token cannot see it."""


class RevisionNotFound(HubVramError):
    """The repo exists but the branch, tag or commit does not."""


class GatedModel(HubVramError):
    """The repo is gated or private and the request carried no token that may read it."""


class NetworkError(HubVramError):
    """The Hub could not be reached, or kept failing after bounded retries."""


class Cancelled(HubVramError):
    """A read stopped because its scan was interrupted (its row is dropped, never shown)."""


class NotSafetensors(HubVramError):
    """The repo holds no safetensors weights (and no config to derive a count from)."""


class MalformedHeader(HubVramError):
    """A safetensors header is truncated, oversized or not what the format allows."""


class MalformedConfig(HubVramError):
    """config.json (or an index) is missing, unreadable or lacks a field the estimate needs."""


class MissingField(MalformedConfig):
    """The config lacks a field that this estimate needs."""

    def __init__(self, field: str, model: str, needed_for: str) -> None:
        self.field = field
        super().__init__(
            f"{model}: config.json has no usable '{field}', which the {needed_for} estimate needs"
        )
