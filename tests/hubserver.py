"""A local HTTP server that imitates the Hugging Face Hub routes huggingface_hub uses.

Stdlib only. It serves the repos laid out under a root folder (see notes/FIXTURES-LAYOUT.md):

    <root>/<org>/<name>/repo.json
    <root>/<org>/<name>/files/<path>                     served byte for byte
    <root>/<org>/<name>/files/<p>.safetensors.header     served as <p>.safetensors: header + zero bytes

Point the real client at it with ``HF_ENDPOINT`` (and ``huggingface_hub.constants.ENDPOINT``, read at import).

Routes (model repos only, ids ``org/name``):

    GET  /api/models/{id}[/revision/{rev}]        model info (``expand=``, ``blobs=true``)
    HEAD|GET /{id}/resolve/{rev}/{path}           file bytes, ``Range`` -> 206 / 416
    GET  /api/models/{id}/safetensors-metadata/{index path}   every shard header of ``main`` at once
    GET  /api/models/{id}/tree/{rev}[/{path}]     listing, ``recursive=true``, ``Link: <...>; rel="next"``
    anything else                                 404

Choices where the real Hub's answer is unknown or impractical, kept deliberately:

- Model info and the tree listing of a *gated* repo are public, as on the real Hub (``gated`` says
  "auto"/"manual"); file downloads (resolve) and ``safetensors-metadata`` need ``FIXTURE_TOKEN``:
  none -> 401, another token -> 403, both with ``X-Error-Code: GatedRepo``.
- A *private* repo is hidden on every route: no token -> 401, another token -> 404, both
  ``X-Error-Code: RepoNotFound``.
- ``safetensors-metadata`` answers ``500`` (``X-Error-Message`` names the shard) when a shard header is
  not valid JSON, and ``404 EntryNotFound`` when the index or a shard is missing.
- Etags: a stored file has its git blob sha1 (and its sha256 when it is an LFS file). Virtual files
  (``*.safetensors`` built from a ``.header``, ``virtual_files``) get a deterministic *fake* sha256
  derived from repo id, path, size and header bytes: hashing gigabytes of zeros would be pointless.
- LFS files: ``*.safetensors``, ``*.bin`` and the other weight suffixes in ``LFS_SUFFIXES``, and every
  virtual file. They carry ``X-Linked-Size`` / ``X-Linked-Etag`` and an ``lfs`` entry in listings.
- ``Range``: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``; anything else (several ranges, a malformed
  spec) and a start beyond the end answer ``416`` with ``Content-Range: bytes */size``.
- The tree ``cursor`` query parameter is an offset; ``expand=true`` on the tree adds nothing.

Observability (thread-safe): ``server.requests`` (list of ``RequestRecord``), ``server.bytes_sent``
(response *body* bytes actually written to sockets), ``server.reset()``, ``server.wait_idle()``.
``RequestRecord.path`` is percent-decoded and has no query; ``status`` is 0 when no response was sent.

Fault injection: ``server.add_fault(pattern, action, times=1, method=None, **params)``; see ``add_fault``.

Run it standalone (benchmarks, README demo)::

    python tests/hubserver.py --root fixtures/hub --port 8765 --latency 0.05
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

FIXTURE_TOKEN = "hf_hubvramFixtureTokenDoNotLeak"

DEFAULT_PAGE_SIZE = 1000
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".gguf",
    ".h5",
    ".msgpack",
    ".onnx",
    ".npz",
    ".pkl",
)
# Fields the real Hub accepts in `expand=` for models (huggingface_hub's ExpandModelProperty_T).
EXPANDABLE_MODEL_FIELDS = frozenset(
    {
        "author",
        "baseModels",
        "cardData",
        "childrenModelCount",
        "config",
        "createdAt",
        "disabled",
        "downloads",
        "downloadsAllTime",
        "evalResults",
        "gated",
        "gguf",
        "inference",
        "inferenceProviderMapping",
        "lastModified",
        "library_name",
        "likes",
        "mask_token",
        "model-index",
        "pipeline_tag",
        "private",
        "resourceGroup",
        "safetensors",
        "sha",
        "siblings",
        "spaces",
        "tags",
        "transformersInfo",
        "trendingScore",
        "usedStorage",
        "widgetData",
    }
)
FAULT_ACTIONS = frozenset(
    {"status", "reset", "delay", "truncate", "ignore_range", "redirect", "trickle", "gzip"}
)

_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)
_SLOW_CHUNK = 16 * 1024  # chunk and SO_SNDBUF of the "ignore_range" fault
_SOCKET_TIMEOUT = 30.0  # idle keep-alive connections and stalled writes give up after this
_MAX_DELAY = 60.0
_MAX_REQUEST_BODY = 1 << 20
_HEADER_SUFFIX = ".safetensors.header"
_SAFETENSORS_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
}


# --------------------------------------------------------------------------- records and faults


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


# --------------------------------------------------------------------------- repos on disk


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def parse_safetensors_header(prefix: bytes) -> dict[str, Any]:
    """Parse the JSON header of a safetensors prefix (u64-LE length + JSON); raises ValueError."""
    if len(prefix) < 8:
        raise ValueError("shorter than the 8-byte length prefix")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > len(prefix) - 8:
        raise ValueError(f"header length {n} exceeds the {len(prefix) - 8} bytes stored")
    try:
        header = json.loads(prefix[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    return header


def _data_size(prefix: bytes) -> int:
    """D of the layout doc: the largest data_offsets end in the header (0 if it cannot be parsed)."""
    try:
        header = parse_safetensors_header(prefix)
    except ValueError:
        return 0
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__"
        and isinstance(v, dict)
        and isinstance(v.get("data_offsets"), list)
        and len(v["data_offsets"]) == 2
        and isinstance(v["data_offsets"][1], int)
    ]
    return max(ends, default=0)


@dataclass
class _File:
    repo_id: str
    path: str
    size: int
    lfs: bool
    source: Path | None = None  # a stored file, served byte for byte
    prefix: bytes = b""  # virtual file: these bytes, then zeros up to size
    _hashes: tuple[str, str | None] | None = field(default=None, repr=False)

    @property
    def virtual(self) -> bool:
        return self.source is None

    def _compute_hashes(self) -> tuple[str, str | None]:
        if self._hashes is None:
            if self.virtual:
                h = hashlib.sha256(b"hubvram-virtual-file\0")
                h.update(f"{self.repo_id}\0{self.path}\0{self.size}\0".encode())
                h.update(self.prefix)
                sha256: str | None = h.hexdigest()
                oid = _git_blob_sha1(_lfs_pointer(sha256, self.size))
            else:
                data = self.source.read_bytes()
                sha256 = hashlib.sha256(data).hexdigest() if self.lfs else None
                oid = _git_blob_sha1(_lfs_pointer(sha256, self.size)) if sha256 else _git_blob_sha1(data)
            self._hashes = (oid, sha256)
        return self._hashes

    @property
    def oid(self) -> str:
        """Git blob id (of the LFS pointer for LFS files)."""
        return self._compute_hashes()[0]

    @property
    def sha256(self) -> str | None:
        return self._compute_hashes()[1]

    @property
    def etag(self) -> str:
        return f'"{self.sha256 or self.oid}"'

    @property
    def lfs_info(self) -> dict[str, Any] | None:
        if not self.lfs:
            return None
        return {
            "size": self.size,
            "sha256": self.sha256,
            "pointerSize": len(_lfs_pointer(self.sha256, self.size)),
        }

    def iter_range(self, start: int, end: int, chunk: int = _CHUNK) -> Iterator[bytes]:
        """Bytes [start, end) in chunks of at most ``chunk``, never the whole file at once."""
        if self.source is not None:
            with self.source.open("rb") as f:
                f.seek(start)
                pos = start
                while pos < end:
                    data = f.read(min(chunk, end - pos))
                    if not data:
                        return
                    pos += len(data)
                    yield data
            return
        pos = start
        if pos < len(self.prefix):
            head = self.prefix[pos : min(end, len(self.prefix))]
            for i in range(0, len(head), chunk):
                yield head[i : i + chunk]
            pos += len(head)
        zeros = memoryview(_ZEROS)
        while pos < end:
            n = min(chunk, end - pos, _CHUNK)
            yield zeros[:n]
            pos += n


@dataclass
class _Repo:
    id: str
    sha: str
    refs: dict[str, str]
    gated: Any
    private: bool
    model_info: dict[str, Any]
    files: dict[str, _File]
    files_dir: Path

    def resolve(self, revision: str) -> str | None:
        if revision in ("main", self.sha):
            return self.sha
        if revision in self.refs:
            return self.refs[revision]
        if revision in self.refs.values():
            return revision
        return None

    @property
    def object_id(self) -> str:
        return hashlib.sha1(self.id.encode()).hexdigest()[:24]


def _load_repo(repo_dir: Path, repo_id: str) -> _Repo:
    meta = json.loads((repo_dir / "repo.json").read_text())
    files_dir = repo_dir / "files"
    file_sizes: dict[str, int] = meta.get("file_sizes") or {}
    files: dict[str, _File] = {}
    if files_dir.is_dir():
        for p in sorted(files_dir.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(files_dir).as_posix()
            if rel.endswith(_HEADER_SUFFIX):
                path = rel[: -len(".header")]
                prefix = p.read_bytes()
                size = file_sizes.get(path, len(prefix) + _data_size(prefix))
                files[path] = _File(repo_id, path, int(size), lfs=True, prefix=prefix)
            else:
                files.setdefault(
                    rel, _File(repo_id, rel, p.stat().st_size, lfs=rel.endswith(LFS_SUFFIXES), source=p)
                )
    for path, size in (meta.get("virtual_files") or {}).items():
        files[path] = _File(repo_id, path, int(size), lfs=True)
    return _Repo(
        id=repo_id,
        sha=meta.get("sha") or hashlib.sha1(repo_id.encode()).hexdigest(),
        refs=dict(meta.get("refs") or {}),
        gated=meta.get("gated", False),
        private=bool(meta.get("private", False)),
        model_info=dict(meta.get("model_info") or {}),
        files=dict(sorted(files.items())),
        files_dir=files_dir,
    )


# --------------------------------------------------------------------------- responses


@dataclass
class _Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # A file body: (file, start, end) streamed in chunks instead of `body`.
    file_range: tuple[_File, int, int] | None = None

    @property
    def length(self) -> int:
        if self.file_range is not None:
            return self.file_range[2] - self.file_range[1]
        return len(self.body)

    def chunks(self, chunk: int = _CHUNK) -> Iterator[bytes]:
        if self.file_range is not None:
            f, start, end = self.file_range
            yield from f.iter_range(start, end, chunk)
        elif self.body:
            yield self.body


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(
        status,
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        json.dumps(data, separators=(",", ":")).encode(),
    )


def _error(status: int, code: str | None, message: str, headers: dict[str, str] | None = None) -> _Response:
    h = {"X-Error-Message": message, **(headers or {})}
    if code:
        h["X-Error-Code"] = code
    return _json(status, {"error": message}, h)


def _repo_not_found(status: int = 404) -> _Response:
    return _error(status, "RepoNotFound", "Repository not found")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def _parse_range(value: str, size: int) -> tuple[int, int] | None:
    """[start, end) for one byte range, or None when it cannot be satisfied (-> 416)."""
    m = _RANGE_RE.match(value)
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


# --------------------------------------------------------------------------- the application


class _HubApp:
    """Routes a request to a `_Response`. Pure with respect to the socket: `_Handler` writes it."""

    def __init__(self, server: HubServer) -> None:
        self.server = server
        self._cache: dict[Path, tuple[int, _Repo]] = {}
        self._cache_lock = threading.Lock()
        # safetensors-metadata answers by content (index bytes + every shard's header bytes): the Hub
        # serves this route from metadata it stored at upload, not by re-parsing every shard per request.
        # Built once, a 160-shard answer (11 MB) no longer costs the server 0.5 s of a CPU that the
        # client under test shares on a small machine. Bounded: the oldest answers are dropped.
        self._metadata_answers: dict[str, bytes] = {}
        self._metadata_indexes: dict[str, tuple[dict, list[str]]] = {}

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def repo(self, org: str, name: str) -> _Repo | None:
        if not _SEGMENT_RE.match(org) or not _SEGMENT_RE.match(name):
            return None
        repo_dir = self.server.root / org / name
        meta = repo_dir / "repo.json"
        try:
            mtime = meta.stat().st_mtime_ns
        except OSError:
            return None
        with self._cache_lock:
            cached = self._cache.get(repo_dir)
            if cached and cached[0] == mtime:
                return cached[1]
        repo = _load_repo(repo_dir, f"{org}/{name}")
        with self._cache_lock:
            self._cache[repo_dir] = (mtime, repo)
        return repo

    # -- access control
    @staticmethod
    def _token(headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else auth.strip()

    def _check_private(self, repo: _Repo, headers: dict[str, str]) -> _Response | None:
        if not repo.private:
            return None
        token = self._token(headers)
        if token == FIXTURE_TOKEN:
            return None
        return _repo_not_found(401 if token is None else 404)

    def _check_gated(self, repo: _Repo, headers: dict[str, str], extra: dict[str, str]) -> _Response | None:
        if not repo.gated:
            return None
        token = self._token(headers)
        if token == FIXTURE_TOKEN:
            return None
        if token is None:
            return _error(
                401,
                "GatedRepo",
                f"Access to model {repo.id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
                extra,
            )
        return _error(
            403,
            "GatedRepo",
            f"Access to model {repo.id} is restricted and you are not in the "
            "authorized list. Visit the model page to ask for access.",
            extra,
        )

    # -- dispatch
    def handle(
        self, method: str, raw_path: str, query: dict[str, list[str]], headers: dict[str, str], host: str
    ) -> _Response:
        segs = [unquote(s) for s in raw_path.split("/")[1:]]
        if method in ("GET", "HEAD"):
            if len(segs) >= 5 and segs[2] == "resolve":
                return self.resolve(method, segs[0], segs[1], segs[3], "/".join(segs[4:]), headers)
            if len(segs) >= 4 and segs[:2] == ["api", "models"]:
                org, name, rest = segs[2], segs[3], segs[4:]
                if not rest:
                    return self.model_info(org, name, None, query, headers)
                if rest[0] == "revision" and len(rest) == 2:
                    return self.model_info(org, name, rest[1], query, headers)
                if rest[0] == "tree" and len(rest) >= 2:
                    return self.tree(
                        org, name, rest[1], "/".join(rest[2:]).strip("/"), raw_path, query, headers, host
                    )
                if rest[0] == "safetensors-metadata" and len(rest) >= 2:
                    return self.safetensors_metadata(org, name, "/".join(rest[1:]), headers)
        return _error(404, None, "Not Found")

    def _open(self, org: str, name: str, headers: dict[str, str]) -> tuple[_Repo | None, _Response | None]:
        repo = self.repo(org, name)
        if repo is None:
            return None, _repo_not_found()
        denied = self._check_private(repo, headers)
        return (None, denied) if denied else (repo, None)

    def model_info(
        self, org: str, name: str, revision: str | None, query: dict[str, list[str]], headers: dict[str, str]
    ) -> _Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        sha = repo.resolve(revision or "main")
        if sha is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        blobs = query.get("blobs", ["false"])[-1].lower() in ("1", "true")
        siblings = []
        for f in repo.files.values():
            s: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                s["size"] = f.size
                s["blobId"] = f.oid
                if f.lfs:
                    s["lfs"] = f.lfs_info
            siblings.append(s)
        info: dict[str, Any] = {
            **repo.model_info,
            "_id": repo.object_id,
            "id": repo.id,
            "modelId": repo.id,
            "sha": sha,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "siblings": siblings,
        }
        expand = [e for key in ("expand", "expand[]") for v in query.get(key, []) for e in v.split(",") if e]
        if expand:
            unknown = sorted(set(expand) - EXPANDABLE_MODEL_FIELDS)
            if unknown:
                return _error(
                    400, None, f'"expand" must be one of {sorted(EXPANDABLE_MODEL_FIELDS)}, got {unknown}'
                )
            info = {"_id": info["_id"], "id": info["id"], **{k: info[k] for k in expand if k in info}}
        return _json(200, info)

    def resolve(
        self, method: str, org: str, name: str, revision: str, path: str, headers: dict[str, str]
    ) -> _Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        sha = repo.resolve(revision)
        if sha is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        base = {"X-Repo-Commit": sha}
        denied = self._check_gated(repo, headers, base)
        if denied:
            return denied
        f = repo.files.get(path)
        if f is None:
            return _error(404, "EntryNotFound", f'{path} does not exist on "{revision}"', base)
        h = {
            **base,
            "ETag": f.etag,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/json" if path.endswith(".json") else "application/octet-stream",
            "Content-Disposition": f'inline; filename="{Path(path).name}"',
        }
        if f.lfs:
            h["X-Linked-Size"] = str(f.size)
            h["X-Linked-Etag"] = f.etag
        rng = headers.get("range")
        if rng is None:
            return _Response(200, h, file_range=(f, 0, f.size))
        span = _parse_range(rng, f.size)
        if span is None:
            return _error(
                416, None, "Requested Range Not Satisfiable", {**h, "Content-Range": f"bytes */{f.size}"}
            )
        start, end = span
        h["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        return _Response(206, h, file_range=(f, start, end))

    def tree(
        self,
        org: str,
        name: str,
        revision: str,
        path: str,
        raw_path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        host: str,
    ) -> _Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        if repo.resolve(revision) is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        recursive = query.get("recursive", ["false"])[-1].lower() in ("1", "true")
        dirs: set[str] = set()
        for fpath in repo.files:
            parts = fpath.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        if path and path not in dirs:
            return _error(404, "EntryNotFound", f'{path} does not exist on "{revision}"')
        prefix = f"{path}/" if path else ""

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix) :])

        entries: list[dict[str, Any]] = [
            {
                "type": "directory",
                "oid": hashlib.sha1(f"tree\0{repo.id}\0{d}".encode()).hexdigest(),
                "size": 0,
                "path": d,
            }
            for d in dirs
            if wanted(d)
        ]
        for f in repo.files.values():
            if wanted(f.path):
                e: dict[str, Any] = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
                if f.lfs:
                    info = f.lfs_info
                    e["lfs"] = {"oid": info["sha256"], "size": f.size, "pointerSize": info["pointerSize"]}
                entries.append(e)
        entries.sort(key=lambda e: e["path"])
        try:
            cursor = max(0, int(query.get("cursor", ["0"])[-1]))
        except ValueError:
            return _error(400, None, "Invalid cursor")
        page_size = max(1, int(self.server.page_size))
        page = entries[cursor : cursor + page_size]
        h: dict[str, str] = {}
        if cursor + page_size < len(entries):
            q = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs]
            q.append(("cursor", str(cursor + page_size)))
            h["Link"] = f'<http://{host}{raw_path}?{urlencode(q)}>; rel="next"'
        return _json(200, page, h)

    def safetensors_metadata(
        self, org: str, name: str, index_path: str, headers: dict[str, str]
    ) -> _Response:
        repo, err = self._open(org, name, headers)
        if err:
            return err
        denied = self._check_gated(repo, headers, {})
        if denied:
            return denied
        index_file = repo.files.get(index_path)
        if index_file is None:
            return _error(404, "EntryNotFound", f'{index_path} does not exist on "main"')
        index_raw = b"".join(index_file.iter_range(0, index_file.size))
        index_key = hashlib.sha256(index_raw).hexdigest()
        parsed = self._metadata_indexes.get(index_key)  # DeepSeek-V3's index is 8.8 MB: parsed once
        if parsed is None:
            try:
                index = json.loads(index_raw)
                shards = sorted(set(index["weight_map"].values()))
            except (ValueError, KeyError, TypeError, AttributeError):
                return _error(400, None, f"{index_path} is not a safetensors index (no weight_map)")
            parsed = ({k: v for k, v in index.items() if k != "weight_map"}, shards)
            self._keep(self._metadata_indexes, index_key, parsed)
        index_rest, shards = parsed
        folder = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
        prefixes: dict[str, bytes] = {}
        for shard in shards:
            f = repo.files.get(folder + shard)
            if f is None:
                return _error(404, "EntryNotFound", f'shard {folder + shard} does not exist on "main"')
            prefixes[shard] = f.prefix if f.virtual else b"".join(f.iter_range(0, min(f.size, 100_000_000)))
        digest = hashlib.sha256(index_raw)
        for shard, prefix in prefixes.items():
            digest.update(b"\0%d\0%s\0" % (len(prefix), shard.encode()))
            digest.update(prefix)
        key = digest.hexdigest()  # by content, not by reference: no 100 MB shard kept as a key
        body = self._metadata_answers.get(key)
        if body is None:
            out: dict[str, Any] = {}
            for shard, prefix in prefixes.items():
                try:
                    out[shard] = parse_safetensors_header(prefix)
                except ValueError as exc:
                    return _error(
                        500, None, f"Could not parse the safetensors header of {folder + shard}: {exc}"
                    )
            answer = {"index": index_rest, "headers": out}
            body = json.dumps(answer, separators=(",", ":")).encode()
            self._keep(self._metadata_answers, key, body)
        return _Response(200, {"Content-Type": "application/json; charset=utf-8"}, body)

    def _keep(self, kept: dict[str, Any], key: str, value: Any) -> None:
        """Remember a built answer by content; past _METADATA_ANSWERS_KEPT, the oldest is dropped."""
        with self._cache_lock:
            while len(kept) >= _METADATA_ANSWERS_KEPT:
                del kept[next(iter(kept))]
            kept[key] = value


_METADATA_ANSWERS_KEPT = 64
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------- HTTP plumbing


class _Stopping(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubvram-hubserver/1"
    timeout = _SOCKET_TIMEOUT
    server: _HTTPServer

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
        if 0 < length <= _MAX_REQUEST_BODY:
            self.rfile.read(length)
        elif length > _MAX_REQUEST_BODY:
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
                hub._sleep(min(float(fault.params.get("seconds", 1.0)), _MAX_DELAY))
            host = headers.get("host") or f"{hub.host}:{hub.port}"
            if action == "status":
                resp = self._fault_status(fault.params)
            else:
                try:
                    resp = hub.app.handle(method, raw_path, query, headers, host)
                except Exception as exc:  # a broken fixture: say so instead of dropping the connection
                    resp = _error(500, None, f"hubserver failed: {exc!r}")
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
        except _Stopping:
            self.close_connection = True
        except OSError:  # the client went away (broken pipe, reset, timeout)
            self.close_connection = True
        finally:
            hub._end()

    def _fault_status(self, params: dict[str, Any]) -> _Response:
        status = int(params.get("status", 500))
        body = params.get("body")
        if body is None:
            body = {"error": f"Injected fault: HTTP {status}"}
        if isinstance(body, (dict, list)):
            resp = _json(status, body)
        else:
            resp = _Response(
                status,
                {"Content-Type": "text/plain; charset=utf-8"},
                body.encode() if isinstance(body, str) else bytes(body),
            )
        resp.headers.update({str(k): str(v) for k, v in (params.get("headers") or {}).items()})
        return resp

    def _fault_redirect(self, params: dict[str, Any], normal: _Response, split: Any) -> _Response:
        location = str(params["location"])
        location = location.replace("{path}", split.path + (f"?{split.query}" if split.query else ""))
        target = urlsplit(location)
        if target.scheme or target.netloc:
            if target.scheme not in ("http", "https") or not _is_loopback(target.hostname or ""):
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
        return _Response(int(params.get("status", 302)), h, b"")

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
        self, record: RequestRecord, method: str, resp: _Response, action: str | None, params: dict[str, Any]
    ) -> None:
        hub = self.server.hub
        if action == "gzip" and "gzip" in self.headers.get("Accept-Encoding", "") and resp.length:
            packed = gzip.compress(b"".join(resp.chunks()))  # what a CDN does to JSON
            resp = _Response(resp.status, {**resp.headers, "Content-Encoding": "gzip"}, packed)
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
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SLOW_CHUNK)
            except OSError:
                pass
            for chunk in resp.chunks(_SLOW_CHUNK):
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
                raise _Stopping
            hub._add_bytes(record, view.nbytes)
            try:
                n = self.connection.send(view)
            except OSError:
                hub._add_bytes(record, -view.nbytes)
                raise
            if n < view.nbytes:
                hub._add_bytes(record, n - view.nbytes)
            view = view[n:]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (a scan opens
    # 32 at once), and each dropped one costs the client a 1 s SYN retransmit: not a Hub's behaviour.
    request_queue_size = 128
    hub: HubServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, _Stopping)):
            return
        super().handle_error(request, client_address)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


# --------------------------------------------------------------------------- the server


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
        if not _is_loopback(host):
            raise ValueError(f"HubServer only listens on loopback addresses, not {host!r}")
        self.root = Path(root)
        self.latency = float(latency)
        self.host = host
        self.port = int(port)
        self.page_size = int(page_size)
        self.app = _HubApp(self)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._records: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._bytes_sent = 0
        self._in_flight = 0
        self._conn_count = 0
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
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
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        httpd = server_class((self.host, self.port), _Handler)
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
            if "location" not in params or (target.netloc and not _is_loopback(target.hostname or "")):
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
            raise _Stopping

    def _conn_opened(self, sock: socket.socket) -> int:
        with self._lock:
            self._conns[sock] = threading.current_thread()
            self._conn_count += 1
            return self._conn_count

    def _conn_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.pop(sock, None)


# --------------------------------------------------------------------------- building repos (tests)


def safetensors_header(tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    """The first 8+N bytes of a safetensors file holding ``tensors`` laid out back to back.

    ``tensors`` maps a name to ``(dtype, shape)`` or to a raw header entry dict. The JSON is padded with
    spaces to a multiple of 8 bytes, as the safetensors library does.
    """
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    for name, spec in tensors.items():
        if isinstance(spec, dict):
            header[name] = spec
            continue
        dtype, shape = spec
        n = _SAFETENSORS_DTYPE_BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js


def write_repo(
    root: str | os.PathLike[str],
    repo_id: str,
    *,
    files: dict[str, Any] | None = None,
    safetensors: dict[str, dict[str, Any] | bytes] | None = None,
    virtual_files: dict[str, int] | None = None,
    file_sizes: dict[str, int] | None = None,
    gated: bool | str = False,
    private: bool = False,
    refs: dict[str, str] | None = None,
    model_info: dict[str, Any] | None = None,
    sha: str | None = None,
) -> Path:
    """Write one repo in the fixture layout under ``root`` and return its folder.

    ``files``: repo path -> bytes, str, or a JSON-able object (written as JSON). ``safetensors``: repo path
    of a ``.safetensors`` file -> tensors for ``safetensors_header`` (or the raw header bytes).
    """
    repo_dir = Path(root) / repo_id
    files_dir = repo_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    for path, content in (files or {}).items():
        target = files_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        elif not isinstance(content, (bytes, bytearray)):
            content = json.dumps(content, indent=2).encode()
        target.write_bytes(content)
    for path, tensors in (safetensors or {}).items():
        target = files_dir / (path + ".header")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            tensors if isinstance(tensors, (bytes, bytearray)) else safetensors_header(tensors)
        )
    meta: dict[str, Any] = {
        "id": repo_id,
        "sha": sha or hashlib.sha1(repo_id.encode()).hexdigest(),
        "refs": refs or {},
        "gated": gated,
        "private": private,
        "model_info": model_info or {},
        "virtual_files": virtual_files or {},
    }
    if file_sizes:
        meta["file_sizes"] = file_sizes
    (repo_dir / "repo.json").write_text(json.dumps(meta, indent=2))
    return repo_dir


# --------------------------------------------------------------------------- command line


def main(argv: Iterable[str] | None = None) -> int:
    default_root = Path(__file__).resolve().parent.parent / "fixtures" / "hub"
    parser = argparse.ArgumentParser(description="Serve fixture repos as a fake Hugging Face Hub.")
    parser.add_argument("--root", default=str(default_root), help="folder of <org>/<name>/repo.json repos")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before each answer")
    args = parser.parse_args(list(argv) if argv is not None else None)

    server = HubServer(args.root, latency=args.latency, host=args.host, port=args.port)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    url = server.start()
    print(f"HF_ENDPOINT={url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
