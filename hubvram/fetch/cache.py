"""A cache of what hubvram read, keyed by repo and commit sha, under the huggingface_hub cache dir.

    <HF_HUB_CACHE>/hubvram/models--org--name.json   one file per repo:
        "refs":      {revision: {"sha", "checked"}}: which commit a branch or tag named, and when
        "snapshots": {sha (or "sha@VARIANT", a GGUF variant asked for): config + header summaries}
        "rows":      {"sha-key": a scan's row} (scan/row_cache.py)

One file per repo, written in place: creating a file is what a cache write costs (0.5-0.9 ms each on
the virtual disk benchmarks/SCAN.md ran on, where a light model takes ~5 ms of CPU), so a scanned model
creates one file, and writes it twice (snapshot and ref, then its row). A write cut short or two writers
at once leave a file that does not parse: it is refetched like any damaged entry, never trusted.

A commit's files never change, so a snapshot is valid forever. Of a safetensors header, the cache keeps
what the estimate needs (summary_cache.py: tensors summed per dtype, and the few a rule names), not the
header: DeepSeek-V3's 11.6 MB of headers take ~24 KB. Bounded per repo: the latest MAX_SNAPSHOTS
snapshots, MAX_ROWS rows and MAX_REFS refs are kept, and a file over MAX_RECORD_BYTES is not written
(benchmarks/SCAN.md measures the bytes per model and bounds a 10,000-model scan). A branch can move:
its ref is trusted for HUBVRAM_CACHE_TTL seconds (default one day), after which one small request
re-checks the sha. `--refresh` bypasses the cache. Tokens are never written here.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .decode import gc_paused
from .gguf_cache import gguf_from_record, gguf_record
from .summary_cache import file_from_record, file_record

DEFAULT_TTL_SECONDS = 24 * 3600
_SHA = re.compile(r"^[0-9a-f]{40}$")
FORMAT_VERSION = 6  # 5: header summaries instead of every tensor; 6: one file per repo
MAX_SNAPSHOTS = 4  # commits (and GGUF variants) kept per repo: the latest written
MAX_ROWS = 16  # scan rows kept per repo (options x commits x hubvram versions): the latest written
MAX_REFS = 8  # branches and tags remembered per repo
# A repo's file larger than this is not written (its reads are not cached): typical ones take 2-30 KB,
# an MLX- or GPTQ-quantized MoE, whose every packed weight is kept by name, up to ~10 MB.
MAX_RECORD_BYTES = 16_000_000
_LOCKS = [threading.Lock() for _ in range(64)]  # writes of one repo in this process, one at a time
_FORMATS = ("safetensors", "pytorch", "none", "peft-adapter", "mistral-native", "meta-original", "gguf")


def cache_root() -> Path:
    """HUBVRAM_CACHE, else `hubvram/` in huggingface_hub's cache (HF_HUB_CACHE, else HF_HOME/hub).

    The variables are read at call time, as huggingface_hub resolves them at its import: a variable set
    later (a test, an embedding program) still counts, and a cached answer never imports huggingface_hub.
    """
    if os.environ.get("HUBVRAM_CACHE"):
        return Path(os.environ["HUBVRAM_CACHE"]).expanduser()
    hub_cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if not hub_cache and os.environ.get("HF_HOME"):
        hub_cache = os.path.join(os.environ["HF_HOME"], "hub")
    if not hub_cache:
        from huggingface_hub import constants  # lazy: only when no variable says where

        hub_cache = constants.HF_HUB_CACHE
    return Path(hub_cache).expanduser() / "hubvram"


def ttl_seconds() -> float:
    try:
        return float(os.environ.get("HUBVRAM_CACHE_TTL", DEFAULT_TTL_SECONDS))
    except ValueError:
        return DEFAULT_TTL_SECONDS


def is_commit_sha(revision: str | None) -> bool:
    return bool(revision and _SHA.match(revision))


def model_path(model_id: str) -> Path:
    return cache_root() / ("models--" + model_id.replace("/", "--") + ".json")


def read_model(model_id: str) -> dict[str, Any] | None:
    """The repo's cache record (refs, snapshots, rows), or None if absent, damaged or of another format."""
    path = model_path(model_id)
    try:
        size = path.stat().st_size
    except OSError:
        return None
    with gc_paused(size):  # a GGUF snapshot can hold thousands of tensor rows
        record = read_json_file(path)
    if (
        not record
        or record.get("format") != FORMAT_VERSION
        or not all(isinstance(record.get(k), dict) for k in ("refs", "snapshots", "rows"))
    ):
        return None
    return record


def update_model(model_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Read the repo's record, apply `change`, keep the latest entries of each kind, write it back."""
    with _LOCKS[hash(model_id) % len(_LOCKS)]:
        record = read_model(model_id) or {"format": FORMAT_VERSION, "refs": {}, "snapshots": {}, "rows": {}}
        change(record)
        for kind, most in (("refs", MAX_REFS), ("snapshots", MAX_SNAPSHOTS), ("rows", MAX_ROWS)):
            entries = record[kind]
            for key in list(entries)[: max(0, len(entries) - most)]:
                del entries[key]
        write_json_file(model_path(model_id), record, limit=MAX_RECORD_BYTES)


def put(entries: dict[str, Any], key: str, value: Any) -> None:
    """Set an entry as the latest written (the last kept when a repo's entries are trimmed)."""
    entries.pop(key, None)
    entries[key] = value


def cached_sha(model_id: str, revision: str | None, *, fresh_only: bool = True) -> str | None:
    """The commit a revision named when last checked (None if unknown, or stale when fresh_only)."""
    if is_commit_sha(revision):
        return revision
    return sha_in(read_model(model_id), revision, fresh_only=fresh_only)


def sha_in(record: dict[str, Any] | None, revision: str | None, *, fresh_only: bool = True) -> str | None:
    """cached_sha from a record already read."""
    if is_commit_sha(revision):
        return revision
    ref = (record or {}).get("refs", {}).get(revision or "main")
    if not isinstance(ref, dict) or not is_commit_sha(ref.get("sha")):
        return None
    checked = ref.get("checked", 0)
    if fresh_only and (type(checked) not in (int, float) or time.time() - checked > ttl_seconds()):
        return None
    return ref["sha"]


def remember_ref(model_id: str, revision: str | None, sha: str) -> None:
    if is_commit_sha(sha) and not is_commit_sha(revision):
        update_model(model_id, lambda record: _put_ref(record, revision, sha))


def _put_ref(record: dict[str, Any], revision: str | None, sha: str) -> None:
    if is_commit_sha(sha) and not is_commit_sha(revision):
        put(record["refs"], revision or "main", {"sha": sha, "checked": time.time()})


def _snapshot_key(sha: str, variant: str | None) -> str:
    """One entry per commit; a GGUF variant asked for by name has its own (its header differs)."""
    return sha if variant is None else f"{sha}@{variant.upper()}"


def load(model_id: str, sha: str, variant: str | None = None) -> dict[str, Any] | None:
    """The cached snapshot fields of a commit, headers re-validated; None if absent or unusable."""
    record = (read_model(model_id) or {}).get("snapshots", {}).get(_snapshot_key(sha, variant))
    if not isinstance(record, dict):
        return None
    try:
        files = tuple(file_from_record(row) for row in record["weight_files"])
        ggufs = tuple(gguf_from_record(row) for row in record.get("gguf_headers", []))
    except Exception:  # a damaged cache entry is refetched, never trusted
        return None
    config, components = record.get("config"), record.get("components", [])
    weights_format, stored = record.get("weights_format"), record.get("stored_weight_bytes")
    if (
        not isinstance(config, dict)
        or weights_format not in _FORMATS
        or not (stored is None or type(stored) is int)
        or not all(isinstance(record.get(k), (dict, type(None))) for k in ("params", "adapter_config"))
        or not isinstance(record.get("file_sizes", {}), dict)
        or not all(type(v) is int for v in record.get("file_sizes", {}).values())
        or not isinstance(record.get("gguf_variant"), (str, type(None)))
        or not (isinstance(components, list) and all(isinstance(c, str) for c in components))
    ):
        return None  # damaged or written by something else: refetch
    return {
        "config": config,
        "weights_format": weights_format,
        "stored_weight_bytes": stored,
        "components": tuple(components),
        "weight_files": files,
        "params": record.get("params"),
        "file_sizes": record.get("file_sizes", {}),
        "gguf_headers": ggufs,
        "gguf_variant": record.get("gguf_variant"),
        "adapter_config": record.get("adapter_config"),
    }


def store(
    model_id: str,
    sha: str,
    snapshot_fields: dict[str, Any],
    variant: str | None = None,
    *,
    revision: str | None = None,
    remember: bool = False,
) -> None:
    """Keep a commit's snapshot; with `remember`, also that `revision` named it (one write for both)."""
    files = snapshot_fields["weight_files"]
    snapshot = {
        "config": snapshot_fields["config"],
        "weights_format": snapshot_fields["weights_format"],
        "stored_weight_bytes": snapshot_fields["stored_weight_bytes"],
        "components": list(snapshot_fields["components"]),
        "weight_files": [file_record(f) for f in files],
        "params": snapshot_fields["params"],
        "file_sizes": snapshot_fields["file_sizes"],
        "gguf_headers": [gguf_record(h) for h in snapshot_fields["gguf_headers"]],
        "gguf_variant": snapshot_fields["gguf_variant"],
        "adapter_config": snapshot_fields["adapter_config"],
    }

    def change(record: dict[str, Any]) -> None:
        put(record["snapshots"], _snapshot_key(sha, variant), snapshot)
        if remember:
            _put_ref(record, revision, sha)

    update_model(model_id, change)


def read_json_file(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write_json_file(path: Path, document: dict[str, Any], limit: int | None = None) -> None:
    """Write in place (no temporary file: creating one costs more than the write); a write cut short
    leaves JSON that does not parse, which is refetched. A cache that cannot be written, or a document
    over `limit` bytes, is skipped."""
    try:
        # dumps, not dump: json.dump streams through the pure-Python encoder (~10x slower on big records)
        data = json.dumps(document, separators=(",", ":")).encode()
        if limit is not None and len(data) > limit:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError:
        pass
