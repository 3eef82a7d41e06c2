"""A cache of what hubvram read, keyed by repo and commit sha, under the huggingface_hub cache dir.

    <HF_HUB_CACHE>/hubvram/models--org--name/<sha>.json             config + header summaries
    <HF_HUB_CACHE>/hubvram/models--org--name/ref.<revision>.json    {"sha", "checked"}: which commit a
                                                                    branch or tag named, and when
    <HF_HUB_CACHE>/hubvram/models--org--name/row.<sha>-<key>.json   a scan's row (scan/row_cache.py)

One folder per repo, no deeper: creating a file or folder is what a cache write costs (0.5 ms each on
some virtual disks), so a scanned model costs four (its folder, snapshot, ref and row).

A commit's files never change, so a snapshot is valid forever. Of a safetensors header, the cache keeps
what the estimate needs (summary_cache.py: tensors summed per dtype, and the few a rule names), not the
header: DeepSeek-V3's 16 MB of headers take ~60 KB. Size per model: config.json + ~0.2 KB per weight
file + ~0.1 KB per named tensor; benchmarks/SCAN.md measures it (and bounds a 10,000-model scan).
A branch can move: its ref is trusted for HUBVRAM_CACHE_TTL seconds (default one day), after which one
small request re-checks the sha. `--refresh` bypasses the cache. Tokens are never written here.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from .decode import gc_paused
from .gguf_cache import gguf_from_record, gguf_record
from .summary_cache import file_from_record, file_record

DEFAULT_TTL_SECONDS = 24 * 3600
_SHA = re.compile(r"^[0-9a-f]{40}$")
FORMAT_VERSION = 5  # 5: header summaries instead of every tensor
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


def repo_dir(model_id: str) -> Path:
    return cache_root() / ("models--" + model_id.replace("/", "--"))


def _ref_path(model_id: str, revision: str) -> Path:
    return repo_dir(model_id) / ("ref." + revision.replace("/", "%2F") + ".json")


def cached_sha(model_id: str, revision: str | None, *, fresh_only: bool = True) -> str | None:
    """The commit a revision named when last checked (None if unknown, or stale when fresh_only)."""
    if is_commit_sha(revision):
        return revision
    record = read_json_file(_ref_path(model_id, revision or "main"))
    if not record or not is_commit_sha(record.get("sha")):
        return None
    if fresh_only and time.time() - float(record.get("checked", 0)) > ttl_seconds():
        return None
    return record["sha"]


def remember_ref(model_id: str, revision: str | None, sha: str) -> None:
    if is_commit_sha(sha) and not is_commit_sha(revision):
        write_json_file(_ref_path(model_id, revision or "main"), {"sha": sha, "checked": time.time()})


def _snapshot_path(model_id: str, sha: str, variant: str | None) -> Path:
    """One file per commit; a GGUF variant asked for by name has its own (its header differs)."""
    name = sha if variant is None else f"{sha}@{variant.upper().replace('/', '%2F')}"
    return repo_dir(model_id) / f"{name}.json"


def load(model_id: str, sha: str, variant: str | None = None) -> dict[str, Any] | None:
    """The cached snapshot fields of a commit, headers re-validated; None if absent or unusable."""
    path = _snapshot_path(model_id, sha, variant)
    try:
        size = path.stat().st_size
    except OSError:
        return None
    with gc_paused(size):  # a GGUF record can hold thousands of tensor rows
        record = read_json_file(path)
        if not record or record.get("format") != FORMAT_VERSION:
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


def store(model_id: str, sha: str, snapshot_fields: dict[str, Any], variant: str | None = None) -> None:
    files = snapshot_fields["weight_files"]
    record = {
        "format": FORMAT_VERSION,
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
    write_json_file(_snapshot_path(model_id, sha, variant), record)


def read_json_file(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write_json_file(path: Path, document: dict[str, Any]) -> None:
    """Atomic write; a cache that cannot be written is skipped, never an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as handle:
            # dumps, not dump: json.dump streams through the pure-Python encoder (~10x slower on big headers)
            handle.write(json.dumps(document, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass
