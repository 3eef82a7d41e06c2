"""What the fake Hub records of each request, and the faults a test can arm."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FAULT_ACTIONS = frozenset(
    {"status", "reset", "delay", "truncate", "ignore_range", "redirect", "trickle", "gzip"}
)


@dataclass
class RequestRecord:
    """One request the server received; ``status`` 0 means no response was sent (reset).

    ``connection`` numbers the TCP connections (1, 2, ...): equal numbers mean a reused keep-alive connection.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int = 0
    bytes_sent: int = 0
    connection: int = 0


@dataclass
class Fault:
    """A fault armed by ``HubServer.add_fault``; ``remaining`` counts the requests it will still hit."""

    pattern: re.Pattern[str]
    action: str
    remaining: int
    method: str | None
    params: dict[str, Any]
    hits: int = 0
