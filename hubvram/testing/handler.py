"""HTTP plumbing of the fake Hub: the request handler (faults, latency, chunked writes) and servers."""

from __future__ import annotations

import gzip
import os
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .records import RequestRecord
from .responses import Response, error_response, is_loopback, json_response

SLOW_CHUNK = 16 * 1024  # chunk and SO_SNDBUF of the "ignore_range" fault
SOCKET_TIMEOUT = 30.0  # idle keep-alive connections and stalled writes give up after this
MAX_DELAY = 60.0
MAX_REQUEST_BODY = 1 << 20


class Stopping(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubvram-hubserver/1"
    timeout = SOCKET_TIMEOUT
    server: HubHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def setup(self) -> None:
        super().setup()
        try:  # headers and a small body go out as two writes: without this, Nagle + delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.conn_number = self.server.hub._conn_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.hub._conn_closed(self.connection)

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    # -- the one request path
    def _handle(self) -> None:
        hub = self.server.hub
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= MAX_REQUEST_BODY:
            self.rfile.read(length)
        elif length > MAX_REQUEST_BODY:
            self.close_connection = True
        split = urlsplit(self.path)
        raw_path = split.path or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        method = self.command
        record = hub._begin(
            RequestRecord(method, unquote(raw_path), query, headers, connection=self.conn_number)
        )
        try:
            if hub.latency:
                hub._sleep(hub.latency)
            fault = hub._take_fault(method, record.path)
            action = fault.action if fault else None
            if action == "reset":
                self._reset()
                return
            if action == "delay":
                hub._sleep(min(float(fault.params.get("seconds", 1.0)), MAX_DELAY))
            host = headers.get("host") or f"{hub.host}:{hub.port}"
            if action == "status":
                resp = self._fault_status(fault.params)
            else:
                try:
                    resp = hub.app.handle(method, raw_path, query, headers, host)
                except Exception as exc:  # a broken fixture: say so instead of dropping the connection
                    resp = error_response(500, None, f"hubserver failed: {exc!r}")
                if action == "redirect":
                    resp = self._fault_redirect(fault.params, resp, split)
                elif (
                    action == "ignore_range"
                    and method == "GET"
                    and resp.file_range is not None
                    and resp.status == 206
                ):
                    f = resp.file_range[0]
                    resp.status = 200
                    resp.headers.pop("Content-Range", None)
                    resp.file_range = (f, 0, f.size)
            self._send(record, method, resp, action, fault.params if fault else {})
        except Stopping:
            self.close_connection = True
        except OSError:  # the client went away (broken pipe, reset, timeout)
            self.close_connection = True
        finally:
            hub._end()

    def _fault_status(self, params: dict[str, Any]) -> Response:
        status = int(params.get("status", 500))
        body = params.get("body")
        if body is None:
            body = {"error": f"Injected fault: HTTP {status}"}
        if isinstance(body, (dict, list)):
            resp = json_response(status, body)
        else:
            resp = Response(
                status,
                {"Content-Type": "text/plain; charset=utf-8"},
                body.encode() if isinstance(body, str) else bytes(body),
            )
        resp.headers.update({str(k): str(v) for k, v in (params.get("headers") or {}).items()})
        return resp

    def _fault_redirect(self, params: dict[str, Any], normal: Response, split: Any) -> Response:
        location = str(params["location"])
        location = location.replace("{path}", split.path + (f"?{split.query}" if split.query else ""))
        target = urlsplit(location)
        if target.scheme or target.netloc:
            if target.scheme not in ("http", "https") or not is_loopback(target.hostname or ""):
                raise ValueError(f"redirect fault: only loopback targets, not {location!r}")
        # A Hub redirect (LFS file -> CDN) carries the file metadata itself.
        h = (
            {
                k: v
                for k, v in normal.headers.items()
                if k in ("X-Repo-Commit", "ETag", "X-Linked-Size", "X-Linked-Etag")
            }
            if normal.status < 300
            else {}
        )
        h["Location"] = location
        return Response(int(params.get("status", 302)), h, b"")

    def _reset(self) -> None:
        """Close the socket with SO_LINGER 0: the peer gets an RST and no response."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.server.hub._conn_closed(sock)
        try:
            os.close(sock.detach())
        except OSError:
            pass

    def _send(
        self, record: RequestRecord, method: str, resp: Response, action: str | None, params: dict[str, Any]
    ) -> None:
        hub = self.server.hub
        if action == "gzip" and "gzip" in self.headers.get("Accept-Encoding", "") and resp.length:
            packed = gzip.compress(b"".join(resp.chunks()))  # what a CDN does to JSON
            resp = Response(resp.status, {**resp.headers, "Content-Encoding": "gzip"}, packed)
        hub._set_status(record, resp.status)
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            if k.lower() not in ("content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(resp.length))
        if action == "truncate":
            self.close_connection = True
        self.end_headers()
        if method == "HEAD" or resp.length == 0:
            return
        if action == "truncate":
            keep = max(0, int(params.get("keep", 0)))
            written = 0
            for chunk in resp.chunks():
                if written >= keep:
                    break
                chunk = memoryview(chunk)[: keep - written]
                self._write(record, chunk)
                written += len(chunk)
            self._close_write_side()
            return
        if action == "trickle":
            piece = max(1, int(params.get("bytes", 1)))
            every = min(max(0.0, float(params.get("every", 0.2))), 5.0)
            first = True
            for chunk in resp.chunks():  # ends with the body, a reset or stop()
                for start in range(0, len(chunk), piece):
                    if not first:
                        hub._sleep(every)
                    first = False
                    self._write(record, chunk[start : start + piece])
            return
        if action == "ignore_range":
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SLOW_CHUNK)
            except OSError:
                pass
            for chunk in resp.chunks(SLOW_CHUNK):
                self._write(record, chunk)  # raises at the first broken pipe / reset
            return
        for chunk in resp.chunks():
            self._write(record, chunk)

    def _close_write_side(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _write(self, record: RequestRecord, chunk: bytes | memoryview) -> None:
        """Send one chunk, counting only the bytes the kernel took.

        The count is raised *before* each send() and corrected after it, so that by the time the client
        has the last byte, bytes_sent already includes it.
        """
        hub = self.server.hub
        view = memoryview(chunk)
        while view.nbytes:
            if hub._stopping.is_set():
                raise Stopping
            hub._add_bytes(record, view.nbytes)
            try:
                n = self.connection.send(view)
            except OSError:
                hub._add_bytes(record, -view.nbytes)
                raise
            if n < view.nbytes:
                hub._add_bytes(record, n - view.nbytes)
            view = view[n:]


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (a scan opens
    # 32 at once), and each dropped one costs the client a 1 s SYN retransmit: not a Hub's behaviour.
    request_queue_size = 128
    hub: Any  # the HubServer that owns this socket server (server.py builds both)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, Stopping)):
            return
        super().handle_error(request, client_address)


class HubHTTPServer6(HubHTTPServer):
    address_family = socket.AF_INET6
