"""HubServer: the fake Hub on a loopback port, with request records and injected faults."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .app import DEFAULT_PAGE_SIZE, HubApp
from .handler import Handler, HubHTTPServer, HubHTTPServer6, Stopping
from .records import FAULT_ACTIONS, Fault, RequestRecord
from .responses import is_loopback


class HubServer:
    """A fake Hugging Face Hub on a loopback address, serving the repos under ``root``.

    ``HubServer(root, latency=0.0, host="127.0.0.1", port=0)``; ``start()`` returns the base URL
    (use it as HF_ENDPOINT), ``stop()`` shuts down; also a context manager.
    Attributes: ``latency`` (seconds slept before each answer), ``page_size`` (tree listing page size),
    ``url``, ``host``, ``port``, ``root``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"HubServer only listens on loopback addresses, not {host!r}")
        self.root = Path(root)
        self.latency = float(latency)
        self.host = host
        self.port = int(port)
        self.page_size = int(page_size)
        self.app = HubApp(self)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._records: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._bytes_sent = 0
        self._in_flight = 0
        self._conn_count = 0
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._httpd: HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> str:
        if self._httpd is not None:
            return self.url
        self._stopping.clear()
        server_class = HubHTTPServer6 if ":" in self.host else HubHTTPServer
        httpd = server_class((self.host, self.port), Handler)
        httpd.hub = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hubserver:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for _, thread in conns:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._thread = None

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observability
    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received since the last reset, oldest first."""
        with self._lock:
            return [
                dataclasses.replace(r, query=dict(r.query), headers=dict(r.headers)) for r in self._records
            ]

    @property
    def bytes_sent(self) -> int:
        """Response body bytes written to sockets since the last reset (headers not counted)."""
        with self._lock:
            return self._bytes_sent

    def requests_to(self, pattern: str, method: str | None = None) -> list[RequestRecord]:
        """The recorded requests whose path matches the regex ``pattern`` (and ``method`` if given)."""
        rx = re.compile(pattern)
        return [
            r for r in self.requests if rx.search(r.path) and (method is None or r.method == method.upper())
        ]

    def reset(self, *, reread_repos: bool = True) -> None:
        """Forget recorded requests, bytes_sent and armed faults; re-read repos on the next request
        unless ``reread_repos`` is false (a benchmark between timed runs over unchanged repos)."""
        with self._lock:
            self._records.clear()
            self._faults.clear()
            self._bytes_sent = 0
        if reread_repos:
            self.app.clear_cache()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (e.g. after a client closed a download early)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    # -- faults
    def add_fault(
        self, pattern: str, action: str, times: int = 1, method: str | None = None, **params: Any
    ) -> Fault:
        """Make the next ``times`` requests whose path matches ``pattern`` (regex, searched) misbehave.

        Actions and their params:
          - ``"status"``: ``status`` (int), ``headers`` (dict), ``body`` (str, bytes or JSON-able; default
            ``{"error": ...}``) -- e.g. 429 with ``headers={"Retry-After": "1"}``, 500, 502, 503.
          - ``"reset"``: no response; the socket is closed with SO_LINGER 0 (the client sees an RST).
          - ``"delay"``: sleep ``seconds`` (capped at 60), then answer normally.
          - ``"truncate"``: headers with the full Content-Length, then only ``keep`` body bytes (default 0),
            then the connection is closed.
          - ``"ignore_range"``: a ranged GET of a file is answered 200 with the whole file, in 16 KiB chunks
            through a 16 KiB SO_SNDBUF, stopping at the first broken pipe; bytes_sent counts what was written.
          - ``"gzip"``: the answer gzip-compressed with ``Content-Encoding: gzip`` when the request's
            ``Accept-Encoding`` allows it (as a CDN compresses JSON); bytes_sent counts the compressed bytes.
          - ``"trickle"``: the answer, ``bytes`` (default 1) body bytes at a time, ``every`` seconds apart
            (default 0.2, capped at 5): a server that never times a read out but never finishes either.
          - ``"redirect"``: ``status`` (default 302) with ``Location`` = ``location``; ``{path}`` in it is
            replaced by the request path and query. Absolute targets must be loopback. A redirect of a file
            keeps X-Repo-Commit, ETag and X-Linked-* like the Hub's redirect to its CDN.
        A fault is spent by each matching request; ``method`` restricts it to one HTTP method.
        """
        if action not in FAULT_ACTIONS:
            raise ValueError(f"unknown fault action {action!r}; expected one of {sorted(FAULT_ACTIONS)}")
        if action == "redirect":
            target = urlsplit(str(params.get("location", "")))
            if "location" not in params or (target.netloc and not is_loopback(target.hostname or "")):
                raise ValueError("redirect fault needs a relative or loopback `location`")
        if action == "status" and "status" not in params:
            raise ValueError("status fault needs `status=`")
        fault = Fault(
            re.compile(pattern), action, int(times), method.upper() if method else None, dict(params)
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    # -- used by the handler
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and (fault.method in (None, method)) and fault.pattern.search(path):
                    fault.remaining -= 1
                    fault.hits += 1
                    return fault
        return None

    def _begin(self, record: RequestRecord) -> RequestRecord:
        with self._lock:
            self._records.append(record)
            self._in_flight += 1
        return record

    def _end(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def _set_status(self, record: RequestRecord, status: int) -> None:
        with self._lock:
            record.status = status

    def _add_bytes(self, record: RequestRecord, n: int) -> None:
        with self._lock:
            record.bytes_sent += n
            self._bytes_sent += n

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise Stopping

    def _conn_opened(self, sock: socket.socket) -> int:
        with self._lock:
            self._conns[sock] = threading.current_thread()
            self._conn_count += 1
            return self._conn_count

    def _conn_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.pop(sock, None)
