"""The fake Hub's answers: JSON and error responses, Range parsing."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .repos import CHUNK, RepoFile


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # A file body: (file, start, end) streamed in chunks instead of `body`.
    file_range: tuple[RepoFile, int, int] | None = None

    @property
    def length(self) -> int:
        if self.file_range is not None:
            return self.file_range[2] - self.file_range[1]
        return len(self.body)

    def chunks(self, chunk: int = CHUNK) -> Iterator[bytes]:
        if self.file_range is not None:
            f, start, end = self.file_range
            yield from f.iter_range(start, end, chunk)
        elif self.body:
            yield self.body


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        json.dumps(data, separators=(",", ":")).encode(),
    )


def error_response(
    status: int, code: str | None, message: str, headers: dict[str, str] | None = None
) -> Response:
    h = {"X-Error-Message": message, **(headers or {})}
    if code:
        h["X-Error-Code"] = code
    return json_response(status, {"error": message}, h)


def repo_not_found(status: int = 404) -> Response:
    return error_response(status, "RepoNotFound", "Repository not found")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """[start, end) for one byte range, or None when it cannot be satisfied (-> 416)."""
    m = RANGE_RE.match(value)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix range: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return None
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None
    if start >= size:
        return None
    return start, end
