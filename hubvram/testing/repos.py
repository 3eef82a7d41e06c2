"""Fixture repos on disk: how the fake Hub reads a repo folder, and how tests write one (write_repo)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURE_TOKEN = "hf_hubvramFixtureTokenDoNotLeak"

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

CHUNK = 1 << 20
ZEROS = bytes(CHUNK)

HEADER_SUFFIX = ".safetensors.header"
GGUF_HEADER_SUFFIX = ".gguf.header"  # a .gguf's header; its total size comes from repo.json file_sizes
SAFETENSORS_DTYPE_BYTES = {
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


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
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


def safetensors_data_size(prefix: bytes) -> int:
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
class RepoFile:
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
                oid = git_blob_sha1(lfs_pointer(sha256, self.size))
            else:
                data = self.source.read_bytes()
                sha256 = hashlib.sha256(data).hexdigest() if self.lfs else None
                oid = git_blob_sha1(lfs_pointer(sha256, self.size)) if sha256 else git_blob_sha1(data)
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
            "pointerSize": len(lfs_pointer(self.sha256, self.size)),
        }

    def iter_range(self, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
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
        zeros = memoryview(ZEROS)
        while pos < end:
            n = min(chunk, end - pos, CHUNK)
            yield zeros[:n]
            pos += n


@dataclass
class Repo:
    id: str
    sha: str
    refs: dict[str, str]
    gated: Any
    private: bool
    model_info: dict[str, Any]
    files: dict[str, RepoFile]
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


def load_repo(repo_dir: Path, repo_id: str) -> Repo:
    meta = json.loads((repo_dir / "repo.json").read_text())
    files_dir = repo_dir / "files"
    file_sizes: dict[str, int] = meta.get("file_sizes") or {}
    files: dict[str, RepoFile] = {}
    if files_dir.is_dir():
        for p in sorted(files_dir.rglob("*")):
            if not p.is_file():
                continue
            rel = p.relative_to(files_dir).as_posix()
            if rel.endswith(HEADER_SUFFIX):
                path = rel[: -len(".header")]
                prefix = p.read_bytes()
                size = file_sizes.get(path, len(prefix) + safetensors_data_size(prefix))
                files[path] = RepoFile(repo_id, path, int(size), lfs=True, prefix=prefix)
            elif rel.endswith(GGUF_HEADER_SUFFIX):
                path = rel[: -len(".header")]
                prefix = p.read_bytes()
                files[path] = RepoFile(
                    repo_id, path, int(file_sizes.get(path, len(prefix))), lfs=True, prefix=prefix
                )
            else:
                files.setdefault(
                    rel, RepoFile(repo_id, rel, p.stat().st_size, lfs=rel.endswith(LFS_SUFFIXES), source=p)
                )
    for path, size in (meta.get("virtual_files") or {}).items():
        files[path] = RepoFile(repo_id, path, int(size), lfs=True)
    return Repo(
        id=repo_id,
        sha=meta.get("sha") or hashlib.sha1(repo_id.encode()).hexdigest(),
        refs=dict(meta.get("refs") or {}),
        gated=meta.get("gated", False),
        private=bool(meta.get("private", False)),
        model_info=dict(meta.get("model_info") or {}),
        files=dict(sorted(files.items())),
        files_dir=files_dir,
    )


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
        n = SAFETENSORS_DTYPE_BYTES[dtype]
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
    gguf: dict[str, tuple[bytes, int]] | None = None,
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
    of a ``.safetensors`` file -> tensors for ``safetensors_header`` (or the raw header bytes). ``gguf``:
    repo path of a ``.gguf`` file -> (its header bytes, the whole file's size): served as the header and
    zeros (hubvram.testing.gguf writes such headers).
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
    file_sizes = dict(file_sizes or {})
    for path, (header, size) in (gguf or {}).items():
        target = files_dir / (path + ".header")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(header)
        file_sizes[path] = size
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
