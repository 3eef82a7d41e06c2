"""HTTP for one repo revision, through huggingface_hub's session: every GET retried, bounded, cancellable.

huggingface_hub supplies the shared session (one connection pool), auth headers (explicit token,
HF_TOKEN or the token saved by `hf auth login`) and error mapping (`hf_raise_for_status`). The retry
loop is ours: huggingface_hub's http_backoff retries only until response headers arrive, and a body
cut short (reset, truncation, timeout mid-read) must be retried too. Same policy: 408/429/5xx and
transport errors, Retry-After honoured, exponential backoff, bounded tries (limits.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from ..errors import (
    Cancelled,
    GatedModel,
    HubVramError,
    MalformedConfig,
    MalformedHeader,
    ModelNotFound,
    NetworkError,
    RevisionNotFound,
)
from ..errors import printable as _clip
from . import limits
from .safetensors import PREFIX_BYTES
from .snapshot import ReadCounter

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


class HubTransport:
    """GETs for one repo revision; counts what it reads and notes the commit the answers name."""

    def __init__(
        self,
        model_id: str,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.model_id = model_id
        self.revision = revision
        self.token = token
        self.timeout = limits.DEFAULT_TIMEOUT if timeout is None else timeout  # read at call time: patchable
        # Either set: every read of this repo stops at its next request, body chunk or retry wait.
        # `cancel` is the caller's (a scan sets it on Ctrl-C); `failed`, this transport's, is set when
        # one of its reads fails, so the others (shards read in parallel) need not run out.
        self.cancel = cancel
        self.failed = threading.Event()
        self.transfer = ReadCounter()
        self.sha: str | None = None
        self.file_sizes: dict[str, int] = {}  # from Content-Range totals: bounds the header checks
        self.commit_moved = False  # the branch moved while it was read (answers named two commits)
        self._headers: dict[str, str] | None = None

    def endpoint(self) -> str:
        from huggingface_hub import constants

        # huggingface_hub reads HF_ENDPOINT once at import; honour a later change of the variable too.
        return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")

    def resolve_url(self, path: str) -> str:
        revision = self.sha or self.revision or "main"
        return f"{self.endpoint()}/{self.model_id}/resolve/{quote(revision, safe='')}/{quote(path, safe='/')}"

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """huggingface_hub's headers (auth, user agent), built once per repo read: building them looks the
        token up (environment, token file) every time, ~20 us a request."""
        if self._headers is None:
            from huggingface_hub.utils import build_hf_headers

            from .. import __version__

            self._headers = build_hf_headers(
                token=self.token, library_name="hubvram", library_version=__version__
            )
        return {**self._headers, **(extra or {})}

    def get_range(self, filename: str, start: int, length: int, cap: int | None = None) -> bytes | None:
        """Bytes [start, start+length) of a repo file; None if the file does not exist.

        Reads at most start + length bytes even when a server ignores Range and sends the whole file.
        `cap` bounds one read (default: a safetensors header and its length prefix).
        """
        if length > (limits.MAX_HEADER_BYTES + PREFIX_BYTES if cap is None else cap):
            raise MalformedHeader(f"{filename}: refusing to read {length:,} bytes of header")
        # identity: a Range counts bytes of the file itself, never of a compressed answer
        byte_range = {"Range": f"bytes={start}-{start + length - 1}", "Accept-Encoding": "identity"}
        sizes: dict[str, int] = {}
        data = self.get(
            self.resolve_url(filename),
            headers=byte_range,
            limit=length,
            start=start,
            missing_ok=True,
            sizes=sizes,
        )
        if "total" in sizes:
            self.file_sizes[filename] = sizes["total"]
        if data is not None and len(data) < length:
            raise MalformedHeader(
                f"{filename}: file ends after {start + len(data):,} bytes, inside its header"
            )
        return data

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int | None = None,
        start: int = 0,
        missing_ok: bool = False,
        sizes: dict[str, int] | None = None,
        stop: threading.Event | None = None,
    ) -> bytes | None:
        """One GET through huggingface_hub's session, retried, bounded, with errors mapped to ours.

        huggingface_hub's http_backoff retries only until response headers arrive; a body cut short
        (reset, truncation, timeout mid-read) must be retried too, so the loop is ours. Same policy:
        408/429/5xx and transport errors, Retry-After honoured, exponential backoff, bounded tries.
        `stop`, when set, ends this request alone (as the reader's own events end all of them).
        """
        import httpx2
        from huggingface_hub import errors as hf
        from huggingface_hub.utils import get_session

        limit = limits.MAX_JSON_BYTES if limit is None else limit
        for attempt in range(limits.MAX_RETRIES + 1):
            self._stop_if_cancelled(stop)
            self.transfer.add(1, 0)
            deadline = time.monotonic() + limits.REQUEST_DEADLINE
            try:
                with get_session().stream(
                    "GET", url, params=params, headers=self.headers(headers), timeout=self.timeout
                ) as response:
                    wait = _retry_wait(response, attempt)
                    if wait is None:
                        if sizes is not None:
                            sizes.update(_file_size(response))
                        return self._read_response(response, limit, start, url, deadline, stop)
            except hf.EntryNotFoundError:
                if missing_ok:
                    return None
                raise MalformedConfig(
                    f"{self.model_id}: {url.rsplit('/', 1)[-1]} is not in the repo"
                ) from None
            except (
                httpx2.TimeoutException,
                httpx2.NetworkError,
                httpx2.RemoteProtocolError,
                httpx2.DecodingError,  # a compressed answer cut short or garbled: like a truncation
            ) as exc:
                if attempt == limits.MAX_RETRIES:
                    raise translate(exc, self) from None
                wait = limits.RETRY_BASE_WAIT * 2**attempt
            except hf.HfHubHTTPError as exc:
                raise translate(exc, self) from None
            except httpx2.HTTPError as exc:
                raise translate(exc, self) from None
            self._pause(min(wait, limits.MAX_RETRY_WAIT), stop)
        raise NetworkError(
            f"{self.model_id}: the Hub kept failing after {limits.MAX_RETRIES} retries; try again later"
        )

    def _read_response(
        self, response, limit: int, start: int, url: str, deadline: float, stop: threading.Event | None
    ) -> bytes:
        from huggingface_hub.utils import hf_raise_for_status

        self._capture_sha(response)
        if response.status_code >= 400:
            # a bounded body for the error mapping
            response._content = self._collect(response, 65_536, url, deadline, stop)
            hf_raise_for_status(response)
        skip = start if response.status_code == 200 else 0  # Range ignored: the body starts at byte 0
        body = self._collect(response, skip + limit, url, deadline, stop)[skip:]
        if "Range" not in (response.request.headers if response.request else {}) and len(body) >= limit:
            raise MalformedConfig(f"{self.model_id}: {url.rsplit('/', 1)[-1]} is larger than {limit:,} bytes")
        return body

    def _collect(
        self, response, limit: int, url: str, deadline: float, stop: threading.Event | None
    ) -> bytes:
        """At most `limit` body bytes, decoded (a JSON answer may come gzipped); stops on a cancelled
        read, or an answer that trickles in.

        The session's timeout bounds each read, not the answer: a server sending a byte every few
        seconds would hold a read for ever without the deadline. `limit` counts decoded bytes, so a
        compressed answer cannot unpack past it (each chunk adds at most ~1,000x its wire size).
        """
        declared = response.headers.get("Content-Length", "")
        expected = int(declared) if declared.isdigit() else None
        chunks, size = [], 0
        for chunk in response.iter_bytes():  # as decoded: a chunk size would make httpx wait to fill it
            self._stop_if_cancelled(stop)
            take = chunk[: limit - size]
            chunks.append(take)
            size += len(take)
            if size >= limit and response.num_bytes_downloaded != expected:
                break  # more is coming than asked for (a server that ignored Range): stop reading it
            # All of the answer here: the loop's next step ends the stream, which keeps the connection
            # for the next request (left mid-answer it is closed, and each range read opened a new one);
            # and a last chunk that lands late is not a failure
            if response.num_bytes_downloaded != expected and time.monotonic() > deadline:
                raise NetworkError(
                    f"{self.model_id}: {_clip(url.rsplit('/', 1)[-1])} was still arriving after "
                    f"{limits.REQUEST_DEADLINE:g} s: the connection or the server is too slow"
                )
        self.transfer.add(0, response.num_bytes_downloaded)  # what crossed the network
        return b"".join(chunks)

    def _cancelled(self, stop: threading.Event | None = None) -> bool:
        return (
            self.failed.is_set()
            or (self.cancel is not None and self.cancel.is_set())
            or (stop is not None and stop.is_set())
        )

    def _stop_if_cancelled(self, stop: threading.Event | None = None) -> None:
        if self._cancelled(stop):
            raise Cancelled(f"{self.model_id}: stopped before it was read")

    def _pause(self, seconds: float, stop: threading.Event | None = None) -> None:
        """Wait before a retry (at most MAX_RETRY_WAIT); a cancelled read stops waiting within 0.1 s."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self._cancelled(stop):
            self.failed.wait(min(left, 0.1))
        self._stop_if_cancelled(stop)

    def _capture_sha(self, response) -> None:
        commit = response.headers.get("X-Repo-Commit")
        if commit:
            self.note_commit(commit)

    def note_commit(self, sha: str) -> None:
        """Remember the commit an answer named; a second, different one means the branch moved."""
        if self.sha is None:
            self.sha = sha
        elif sha != self.sha:
            self.commit_moved = True  # config and headers came from two commits: do not cache the mix


def shared_pool() -> ThreadPoolExecutor:
    """The process's pool for reads inside one model (config beside the first header bytes, shards)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="hubvram")
        return _POOL


def _file_size(response) -> dict[str, int]:
    """The whole file's size, from `Content-Range: bytes a-b/TOTAL` (206) or Content-Length (200)."""
    content_range = response.headers.get("Content-Range", "")
    total = content_range.rpartition("/")[2].strip()
    if response.status_code == 206 and total.isdigit():
        return {"total": int(total)}
    length = response.headers.get("Content-Length", "")
    if response.status_code == 200 and length.isdigit():
        return {"total": int(length)}
    return {}


def _retry_wait(response, attempt: int) -> float | None:
    """Seconds to wait before retrying this response, or None to use it as it is."""
    if response.status_code not in limits.RETRY_STATUSES or attempt == limits.MAX_RETRIES:
        return None
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.strip().isdigit():
        return float(retry_after.strip())
    return limits.RETRY_BASE_WAIT * 2**attempt


def translate(exc: BaseException, reader: HubTransport) -> BaseException:
    """Turn huggingface_hub and transport exceptions into one-line hubvram errors."""
    import httpx2
    from huggingface_hub import errors as hf

    model, revision = reader.model_id, reader.revision or "main"
    if isinstance(exc, HubVramError):
        return exc
    if isinstance(exc, hf.GatedRepoError):
        return GatedModel(model, token_sent=has_token(reader.token))
    if isinstance(exc, hf.RevisionNotFoundError):
        return RevisionNotFound(model, revision)
    if isinstance(exc, hf.RepositoryNotFoundError):
        return ModelNotFound(model, token_sent=has_token(reader.token))
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
        if status in (401, 404):  # a 404 the Hub did not label (an id it has never known): no such repo
            return ModelNotFound(model, token_sent=has_token(reader.token))
        return NetworkError(f"{model}: the Hub answered HTTP {status}; try again later")
    if isinstance(exc, httpx2.RemoteProtocolError):
        return NetworkError(
            f"{model}: the Hub's answers kept breaking off mid-way (after retries); try again later"
        )
    if isinstance(exc, httpx2.TimeoutException):
        return NetworkError(f"{model}: the Hub did not answer within {reader.timeout:g} s (after retries)")
    if isinstance(exc, (httpx2.HTTPError, OSError)):
        return NetworkError(
            f"{model}: could not reach the Hub ({type(exc).__name__}); check the network or HF_ENDPOINT"
        )
    return exc


def has_token(token: str | bool | None) -> bool:
    if isinstance(token, str):
        return bool(token)
    if token is False:
        return False
    from huggingface_hub import get_token

    return get_token() is not None
