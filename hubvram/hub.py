"""The network stage: read config.json and safetensors headers of a repo, never tensor data.

Everything speaks huggingface_hub: its shared HTTP session, auth headers (explicit token, HF_TOKEN
or the token saved by `hf auth login`), retries with backoff (`http_backoff`, which honours
Retry-After) and error mapping (`hf_raise_for_status`). We issue the GETs ourselves instead of
calling `hf_hub_download` / `parse_safetensors_file_metadata` because those cost an extra HEAD per
file and read a speculative 100 kB range that would pull tensor data; here every header is read
with two exact ranges: bytes 0-7 (its length N), then bytes 8..N+7.

A single-file repo costs three requests in two round trips: config.json and the first 8 bytes of
model.safetensors in parallel, then the header. A sharded repo on `main` costs four in two round
trips: the same first two, then the file listing beside one request for every shard header (asked
for before the listing confirms the root index; repos without one, .bin only or subfolders, spend
one small 404 on that guess). Other revisions read the index and two exact ranges per shard.
"""

from __future__ import annotations

import json
import os
import posixpath
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .errors import (
    Cancelled,
    GatedModel,
    HubVramError,
    MalformedConfig,
    MalformedHeader,
    ModelNotFound,
    NetworkError,
    RevisionNotFound,
    UsageError,
)
from .errors import printable as _clip
from .header import (
    MAX_HEADER_BYTES,
    PREFIX_BYTES,
    SafetensorsFile,
    gc_paused,
    header_length,
    parse_header,
    parse_header_document,
)

if TYPE_CHECKING:
    from .workers import DecoderPool

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILE = "config.json"
MAX_JSON_BYTES = 50_000_000  # config, index or listing: a larger one is refused, not read
MAX_MODEL_HEADER_BYTES = 512_000_000  # per-model budget over all headers (DeepSeek-V3: ~16 MB)
MAX_SHARDS = 10_000
DEFAULT_TIMEOUT = 10.0
MAX_RETRIES = 3
# A safetensors-metadata answer this large (Qwen3-30B-A3B: 2.3 MB, DeepSeek-V3: 11.6 MB) is decoded in a
# worker process during a scan when one is available (workers.DecoderPool); smaller ones stay in-process.
OFFLOAD_BYTES = 1_000_000


@dataclass
class ReadCounter:
    """Requests made and body bytes received while reading one model (thread-safe counters)."""

    requests: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, requests: int, nbytes: int) -> None:
        with self._lock:
            self.requests += requests
            self.bytes += nbytes


@dataclass(frozen=True)
class RepoSnapshot:
    """What hubvram read from one repo revision: its config and the headers of its weight files."""

    model_id: str
    revision: str | None
    sha: str | None
    config: Mapping[str, Any]
    weight_files: tuple[SafetensorsFile, ...] = ()
    weights_format: str = "safetensors"  # "safetensors", "pytorch" (.bin only), "none"
    stored_weight_bytes: int | None = None  # .bin repos: total size from the index or the listing
    components: tuple[str, ...] = ()  # subfolders whose weights were read (diffusers, sentence-transformers)
    source: str = "hub"  # "hub" or "local"
    requests: int = 0
    bytes_received: int = 0
    cached: bool = False  # answered from hubvram's cache (no header bytes transferred)

    @property
    def header_bytes(self) -> int:
        return sum(f.header_bytes for f in self.weight_files)


# ---------------------------------------------------------------------------------------------
# Entry point


def load_snapshot(
    model: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    timeout: float | None = None,
    pool: ThreadPoolExecutor | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    decoders: DecoderPool | None = None,
    cancel: threading.Event | None = None,
) -> RepoSnapshot:
    """Read a repo from the Hub (or hubvram's cache of it), or a local directory with the same files."""
    if _looks_local(model):
        return read_local(Path(model))
    reader = HubReader(
        model, revision=revision, token=token, timeout=timeout, pool=pool, decoders=decoders, cancel=cancel
    )
    offline = _offline()
    if use_cache and (offline or not refresh):
        snapshot = reader.from_cache(trust_stale=offline)
        if snapshot is not None:
            return snapshot
    if offline:
        raise NetworkError(
            f"{model} is not in hubvram's cache and HF_HUB_OFFLINE is set: run it once online, or unset it"
        )
    snapshot = reader.read()
    if use_cache and snapshot.sha and not reader.commit_moved:
        from . import cache

        cache.store(model, snapshot.sha, _cacheable(snapshot))
        cache.remember_ref(model, revision, snapshot.sha)
    return snapshot


def _cacheable(snapshot: RepoSnapshot) -> dict[str, Any]:
    return {
        "config": dict(snapshot.config),
        "weight_files": snapshot.weight_files,
        "weights_format": snapshot.weights_format,
        "stored_weight_bytes": snapshot.stored_weight_bytes,
        "components": snapshot.components,
    }


def _looks_local(model: str) -> bool:
    """An existing directory or an explicit path; anything else is a repo id ('a/b/c' is not one)."""
    return os.path.isdir(model) or model.startswith((".", "/", "~")) or (os.sep != "/" and os.sep in model)


def validate_repo_id(model_id: str) -> None:
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hf_validate

    try:
        hf_validate(model_id)
    except HFValidationError:
        raise UsageError(
            f"'{_clip(model_id)}' is not a Hub repo id: use 'org/name' (letters, digits, '-', '_', '.'), "
            "or the path of a local directory"
        ) from None


# ---------------------------------------------------------------------------------------------
# Which weight files a layout needs (shared by the Hub and local readers)


@dataclass(frozen=True)
class WeightPlan:
    """The files to read for a repo listing: safetensors headers, or a .bin fallback."""

    safetensors: tuple[str, ...] = ()
    index: str | None = None  # read the index to learn the shard names (and total_size)
    bin_files: tuple[str, ...] = ()
    bin_index: str | None = None
    components: tuple[str, ...] = ()


def plan_weights(files: Mapping[str, int | None]) -> WeightPlan:
    """Choose what to read from a repo's file list (path -> size)."""
    root = _weights_in(files, "")
    if root.safetensors or root.index:
        extra = _sentence_transformer_modules(files)
        return WeightPlan(root.safetensors + extra.safetensors, root.index, components=extra.components)
    components = _component_folders(files)
    if components:
        found = [(_weights_in(files, folder), folder) for folder in components]
        names = tuple(name for plan, _ in found for name in plan.safetensors)
        if names:
            return WeightPlan(names, components=tuple(folder for plan, folder in found if plan.safetensors))
    return root


def _weights_in(files: Mapping[str, int | None], folder: str) -> WeightPlan:
    prefix = f"{folder}/" if folder else ""
    for stem in ("model", "diffusion_pytorch_model"):
        if f"{prefix}{stem}.safetensors.index.json" in files:
            return WeightPlan(index=f"{prefix}{stem}.safetensors.index.json")
        if f"{prefix}{stem}.safetensors" in files:
            return WeightPlan(safetensors=(f"{prefix}{stem}.safetensors",))
    for stem in ("pytorch_model", "diffusion_pytorch_model"):
        if f"{prefix}{stem}.bin.index.json" in files:
            bins = tuple(p for p in files if p.startswith(f"{prefix}{stem}-") and p.endswith(".bin"))
            return WeightPlan(bin_files=bins, bin_index=f"{prefix}{stem}.bin.index.json")
        if f"{prefix}{stem}.bin" in files:
            return WeightPlan(bin_files=(f"{prefix}{stem}.bin",))
    return WeightPlan()


def _component_folders(files: Mapping[str, int | None]) -> tuple[str, ...]:
    """Subfolders that hold a model of their own (diffusers components, sentence-transformers modules)."""
    folders = {p.split("/")[0] for p in files if "/" in p and p.split("/")[-1] == CONFIG_FILE}
    return tuple(sorted(f for f in folders if _weights_in(files, f).safetensors))


def _sentence_transformer_modules(files: Mapping[str, int | None]) -> WeightPlan:
    if "modules.json" not in files:
        return WeightPlan()
    folders = sorted({p.split("/")[0] for p in files if "/" in p and p.split("/")[0][:1].isdigit()})
    names = tuple(name for folder in folders for name in _weights_in(files, folder).safetensors)
    return WeightPlan(names, components=tuple(n.split("/")[0] for n in names))


def shard_names(index: Mapping[str, Any], index_path: str) -> tuple[str, ...]:
    """Shard files an index names, relative to the repo root; refuse names outside the repo."""
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise MalformedConfig(f"{index_path}: weight_map is missing or not a mapping of names to files")
    folder = posixpath.dirname(index_path)
    shards = []
    for shard in sorted(set(weight_map.values())):
        path = posixpath.normpath(posixpath.join(folder, shard))
        if (
            shard.startswith("/")
            or path.startswith("..")
            or "\\" in shard
            or not shard.endswith(".safetensors")
        ):
            raise MalformedConfig(
                f"{index_path}: shard '{_clip(shard)}' points outside the repo or is not safetensors"
            )
        shards.append(path)
    if len(shards) > MAX_SHARDS:
        raise MalformedConfig(
            f"{index_path}: names {len(shards):,} shards, more than the {MAX_SHARDS:,} allowed"
        )
    return tuple(shards)


def bin_stored_bytes(
    plan: WeightPlan, sizes: Mapping[str, int | None], read_json: Callable[[str], Mapping[str, Any]]
) -> int | None:
    """Stored size of .bin weights: the index's total_size, else the file sizes the listing gives."""
    total = index_total_size(read_json(plan.bin_index)) if plan.bin_index else None
    return total or sum(sizes.get(name) or 0 for name in plan.bin_files) or None


def index_total_size(index: Mapping[str, Any]) -> int | None:
    metadata = index.get("metadata")
    size = metadata.get("total_size") if isinstance(metadata, dict) else None
    return int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) and size > 0 else None


def parse_json(raw: bytes, path: str) -> dict[str, Any]:
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedConfig(f"{path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise MalformedConfig(f"{path} is JSON but not an object")
    return document


def sharded_files(raw: bytes) -> tuple[SafetensorsFile, ...] | None:
    """The checked headers in a safetensors-metadata answer; None when it is not one (read shards then).

    Each file's header_bytes is its share of the answer, so the bytes a scan reports add up.
    """
    with gc_paused(len(raw)):
        try:
            answer = parse_json(raw, "safetensors-metadata")
        except MalformedConfig:
            return None
        headers = answer.get("headers")
        if not isinstance(headers, dict):
            return None
        files = []
        tensors = sum(len(h) for h in headers.values() if isinstance(h, dict)) or 1
        for shard, header in sorted(headers.items()):
            share = len(raw) * len(header) // tensors if isinstance(header, dict) else 0
            # already JSON-decoded: checked as it is, not parsed a second time
            files.append(parse_header_document(header, _clip(str(shard)), header_bytes=share))
        return tuple(files)


# ---------------------------------------------------------------------------------------------
# The Hub


class HubReader:
    """Reads one repo revision over HTTP through huggingface_hub's session."""

    def __init__(
        self,
        model_id: str,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        timeout: float | None = None,
        pool: ThreadPoolExecutor | None = None,
        decoders: DecoderPool | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        validate_repo_id(model_id)
        self.model_id = model_id
        self.revision = revision
        self.token = token
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout  # read at call time: patchable
        self.pool = pool
        self.decoders = decoders  # worker processes for answers of OFFLOAD_BYTES and more (scans)
        # Either set: every read of this repo stops at its next request, body chunk or retry wait.
        # `cancel` is the caller's (a scan sets it on Ctrl-C); `_failed`, this reader's, is set when
        # one of its reads fails, so the others (shards read in parallel) need not run out.
        self.cancel = cancel
        self._failed = threading.Event()
        self.transfer = ReadCounter()
        self.sha: str | None = None
        self._file_sizes: dict[str, int] = {}  # from Content-Range totals: bounds the header checks
        self._header_lengths: dict[str, int] = {}  # probes already made (the root model.safetensors)
        self.commit_moved = False  # the branch moved while it was read (answers named two commits)

    # -- the cache

    def from_cache(self, *, trust_stale: bool = False) -> RepoSnapshot | None:
        """The cached snapshot of this revision's commit; a stale branch costs one small request
        (none when trust_stale: offline, the last known commit of the branch is used)."""
        from . import cache

        sha = cache.cached_sha(self.model_id, self.revision, fresh_only=not trust_stale)
        if (
            sha is None
            and not trust_stale
            and cache.cached_sha(self.model_id, self.revision, fresh_only=False)
        ):
            sha = self.current_sha()
            cache.remember_ref(self.model_id, self.revision, sha)
        fields = cache.load(self.model_id, sha) if sha else None
        if fields is None:
            return None
        self.sha = sha
        return replace(
            self._snapshot(fields.pop("config"), fields.pop("weight_files")), **fields, cached=True
        )

    def current_sha(self) -> str:
        """The commit a branch or tag names now (model-info route, sha field only)."""
        path = f"/api/models/{self.model_id}"
        if self.revision:
            path += f"/revision/{quote(self.revision, safe='')}"
        info = parse_json(self._get(self._endpoint() + path, params={"expand": "sha"}), "model info")
        if not isinstance(info.get("sha"), str):
            raise MalformedConfig(f"{self.model_id}: the Hub's model info names no commit")
        return info["sha"]

    # -- the reading strategy

    def read(self) -> RepoSnapshot:
        """The snapshot; when a read fails (or Ctrl-C), the reads still running give up at once."""
        try:
            return self._read()
        except BaseException:
            self._failed.set()
            raise

    def _read(self) -> RepoSnapshot:
        config_job = self._submit(self._get_json_or_none, CONFIG_FILE)
        probe_job = self._submit(self._probe_header_length, SINGLE_FILE)
        config = config_job.result()
        header_size = probe_job.result()
        if header_size is not None and not _may_have_modules(config):
            files = (self.read_header(SINGLE_FILE, header_size),)
            return self._snapshot(config, files)
        # No root model.safetensors: most such repos are sharded with a root index. On `main`, every
        # shard header is asked for while the listing is read, a round trip less; if the listing says
        # otherwise (.bin only, subfolders), the answer is dropped: one small 404 spent.
        answer_job, unneeded = None, threading.Event()
        if header_size is None and self._offers_sharded_answer(INDEX_FILE):
            answer_job = self._submit(self._sharded_answer, INDEX_FILE, unneeded)
        listing = self.list_files()
        if config is None and CONFIG_FILE not in listing and "model_index.json" in listing:
            config = self._get_json("model_index.json")
        plan = plan_weights(listing)
        if answer_job is not None and plan.index != INDEX_FILE:
            unneeded.set()  # no retry or wait of it delays this read; it ends at its next step
            answer_job = None
        return self._read_plan(plan, config, listing, answer_job)

    def _read_plan(
        self,
        plan: WeightPlan,
        config: dict | None,
        listing: Mapping[str, int | None],
        answer_job: Future[bytes | None] | None = None,
    ) -> RepoSnapshot:
        if plan.index:
            files = self._read_sharded(plan.index, answer_job)
            extra = self.read_headers(plan.safetensors)
            return self._snapshot(config, files + extra, components=plan.components)
        if plan.safetensors:
            return self._snapshot(config, self.read_headers(plan.safetensors), components=plan.components)
        if plan.bin_files or plan.bin_index:
            total = bin_stored_bytes(plan, listing, self._get_json)
            return self._snapshot(config, (), weights_format="pytorch", stored=total)
        return self._snapshot(config, (), weights_format="none")

    def _read_sharded(
        self, index_path: str, answer_job: Future[bytes | None] | None = None
    ) -> tuple[SafetensorsFile, ...]:
        if self._offers_sharded_answer(index_path):
            raw = answer_job.result() if answer_job is not None else self._sharded_answer(index_path)
            files = None if raw is None else self._sharded_files(raw)
            if files is not None:
                return files
        index = self._get_json(index_path)
        try:
            names = shard_names(index, index_path)
        except MalformedConfig as exc:
            raise MalformedConfig(f"{self.model_id}: {exc}") from None
        return self.read_headers(names)

    def _snapshot(
        self,
        config: dict | None,
        files: tuple[SafetensorsFile, ...],
        *,
        weights_format: str = "safetensors",
        stored: int | None = None,
        components: tuple[str, ...] = (),
    ) -> RepoSnapshot:
        return RepoSnapshot(
            model_id=self.model_id,
            revision=self.revision,
            sha=self.sha,
            config=config or {},
            weight_files=files,
            weights_format=weights_format,
            stored_weight_bytes=stored,
            components=components,
            source="hub",
            requests=self.transfer.requests,
            bytes_received=self.transfer.bytes,
        )

    # -- individual reads

    def list_files(self) -> dict[str, int | None]:
        """Repo files and sizes from the model-info route (one request; it also names the commit)."""
        path = f"/api/models/{self.model_id}"
        if self.revision:
            path += f"/revision/{quote(self.revision, safe='')}"
        info = parse_json(self._get(self._endpoint() + path, params={"blobs": "true"}), "model info")
        if isinstance(info.get("sha"), str):
            self._set_sha(info["sha"])
        siblings = info.get("siblings")
        if not isinstance(siblings, list):
            raise MalformedConfig(f"{self.model_id}: the Hub's model info lists no files")
        files: dict[str, int | None] = {}
        for sibling in siblings:
            name = sibling.get("rfilename") if isinstance(sibling, dict) else None
            if isinstance(name, str):
                size = sibling.get("size")
                files[name] = size if isinstance(size, int) else None
        return files

    def read_headers(self, names: Iterable[str]) -> tuple[SafetensorsFile, ...]:
        names = tuple(names)
        lengths = list(self._map(self._probe_required, names))
        budget = sum(lengths)
        if budget > MAX_MODEL_HEADER_BYTES:
            raise MalformedHeader(
                f"{self.model_id}: headers add up to {budget:,} bytes, "
                f"over the {MAX_MODEL_HEADER_BYTES:,}-byte budget"
            )
        return tuple(self._map(lambda pair: self.read_header(*pair), zip(names, lengths, strict=True)))

    def read_header(self, filename: str, length: int) -> SafetensorsFile:
        body = self._get_range(filename, PREFIX_BYTES, length)
        if body is None:
            raise MalformedHeader(f"{self.model_id}: {filename} vanished while its header was read")
        raw = length.to_bytes(PREFIX_BYTES, "little") + body
        try:
            return parse_header(raw, filename, self._file_sizes.get(filename))
        except MalformedHeader as exc:
            raise MalformedHeader(f"{self.model_id}: {exc}") from None

    def _probe_required(self, filename: str) -> int:
        length = self._header_lengths.get(filename) or self._probe_header_length(filename)
        if length is None:
            raise MalformedConfig(
                f"{self.model_id}: the index names {filename}, which the repo does not have"
            )
        return length

    def _probe_header_length(self, filename: str) -> int | None:
        prefix = self._get_range(filename, 0, PREFIX_BYTES)
        if prefix is None:
            return None
        try:
            length = header_length(prefix, filename, self._file_sizes.get(filename))
        except MalformedHeader as exc:
            raise MalformedHeader(f"{self.model_id}: {exc}") from None
        self._header_lengths[filename] = length
        return length

    def _offers_sharded_answer(self, index_path: str) -> bool:
        """The Hub's one-request answer covers a root index on `main` only."""
        return self.revision in (None, "main") and posixpath.dirname(index_path) == ""

    def _sharded_answer(self, index_path: str, stop: threading.Event | None = None) -> bytes | None:
        """Every shard header in one request (the route behind get_sharded_safetensors_metadata)."""
        route = f"/api/models/{self.model_id}/safetensors-metadata/{quote(index_path, safe='/')}"
        try:
            return self._get(self._endpoint() + route, stop=stop)
        except (NetworkError, MalformedConfig):
            return None  # not offered (older Hub, mirror) or failing: read the index and each shard instead

    def _sharded_files(self, raw: bytes) -> tuple[SafetensorsFile, ...] | None:
        try:
            if self.decoders is not None and len(raw) >= OFFLOAD_BYTES:
                return self.decoders.sharded_files(raw)
            return sharded_files(raw)
        except MalformedHeader as exc:
            raise MalformedHeader(f"{self.model_id}: {exc}") from None

    def _get_json(self, path: str) -> dict[str, Any]:
        document = self._get_json_or_none(path)
        if document is None:
            raise MalformedConfig(f"{self.model_id}: {path} is listed but could not be read")
        return document

    def _get_json_or_none(self, path: str) -> dict[str, Any] | None:
        raw = self._get(self._resolve_url(path), missing_ok=True)
        return None if raw is None else parse_json(raw, f"{self.model_id}: {path}")

    # -- HTTP, through huggingface_hub

    def _endpoint(self) -> str:
        from huggingface_hub import constants

        # huggingface_hub reads HF_ENDPOINT once at import; honour a later change of the variable too.
        return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")

    def _resolve_url(self, path: str) -> str:
        revision = self.sha or self.revision or "main"
        return (
            f"{self._endpoint()}/{self.model_id}/resolve/{quote(revision, safe='')}/{quote(path, safe='/')}"
        )

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        from huggingface_hub.utils import build_hf_headers

        from . import __version__

        headers = build_hf_headers(token=self.token, library_name="hubvram", library_version=__version__)
        headers.update(extra or {})
        return headers

    def _get_range(self, filename: str, start: int, length: int) -> bytes | None:
        """Bytes [start, start+length) of a repo file; None if the file does not exist.

        Reads at most start + length bytes even when a server ignores Range and sends the whole file.
        """
        if length > MAX_HEADER_BYTES + PREFIX_BYTES:
            raise MalformedHeader(f"{filename}: refusing to read {length:,} bytes of header")
        # identity: a Range counts bytes of the file itself, never of a compressed answer
        byte_range = {"Range": f"bytes={start}-{start + length - 1}", "Accept-Encoding": "identity"}
        sizes: dict[str, int] = {}
        data = self._get(
            self._resolve_url(filename),
            headers=byte_range,
            limit=length,
            start=start,
            missing_ok=True,
            sizes=sizes,
        )
        if "total" in sizes:
            self._file_sizes[filename] = sizes["total"]
        if data is not None and len(data) < length:
            raise MalformedHeader(
                f"{filename}: file ends after {start + len(data):,} bytes, inside its header"
            )
        return data

    def _get(
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

        limit = MAX_JSON_BYTES if limit is None else limit
        for attempt in range(MAX_RETRIES + 1):
            self._stop_if_cancelled(stop)
            self.transfer.add(1, 0)
            deadline = time.monotonic() + REQUEST_DEADLINE
            try:
                with get_session().stream(
                    "GET", url, params=params, headers=self._headers(headers), timeout=self.timeout
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
                if attempt == MAX_RETRIES:
                    raise _translate(exc, self) from None
                wait = RETRY_BASE_WAIT * 2**attempt
            except hf.HfHubHTTPError as exc:
                raise _translate(exc, self) from None
            except httpx2.HTTPError as exc:
                raise _translate(exc, self) from None
            self._pause(min(wait, MAX_RETRY_WAIT), stop)
        raise NetworkError(
            f"{self.model_id}: the Hub kept failing after {MAX_RETRIES} retries; try again later"
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
            if size >= limit:
                break
            # all there (the stream ends at the next step: keep-alive needs it read to its end),
            # so a last chunk that lands late is not a failure
            if response.num_bytes_downloaded != expected and time.monotonic() > deadline:
                raise NetworkError(
                    f"{self.model_id}: {_clip(url.rsplit('/', 1)[-1])} was still arriving after "
                    f"{REQUEST_DEADLINE:g} s: the connection or the server is too slow"
                )
        self.transfer.add(0, response.num_bytes_downloaded)  # what crossed the network
        return b"".join(chunks)

    def _cancelled(self, stop: threading.Event | None = None) -> bool:
        return (
            self._failed.is_set()
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
            self._failed.wait(min(left, 0.1))
        self._stop_if_cancelled(stop)

    def _capture_sha(self, response) -> None:
        commit = response.headers.get("X-Repo-Commit")
        if commit:
            self._set_sha(commit)

    def _set_sha(self, sha: str) -> None:
        if self.sha is None:
            self.sha = sha
        elif sha != self.sha:
            self.commit_moved = True  # config and headers came from two commits: do not cache the mix

    # -- concurrency

    def _submit(self, fn, *args):
        return (self.pool or _shared_pool()).submit(fn, *args)

    def _map(self, fn, items):
        items = list(items)
        if len(items) <= 1:
            return [fn(item) for item in items]
        return list((self.pool or _shared_pool()).map(fn, items))


RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_BASE_WAIT = 0.5
MAX_RETRY_WAIT = 30.0
REQUEST_DEADLINE = 300.0  # seconds for one whole answer (DeepSeek-V3's 11.6 MB at 40 kB/s)
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
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
    if response.status_code not in RETRY_STATUSES or attempt == MAX_RETRIES:
        return None
    retry_after = response.headers.get("Retry-After", "")
    if retry_after.strip().isdigit():
        return float(retry_after.strip())
    return RETRY_BASE_WAIT * 2**attempt


def _translate(exc: BaseException, reader: HubReader) -> BaseException:
    """Turn huggingface_hub and transport exceptions into one-line hubvram errors."""
    import httpx2
    from huggingface_hub import errors as hf

    model, revision = reader.model_id, reader.revision or "main"
    if isinstance(exc, HubVramError):
        return exc
    if isinstance(exc, hf.GatedRepoError):
        if not _has_token(reader.token):
            return GatedModel(
                f"{model} is gated: accept its terms on the Hub, then log in with `hf auth login` "
                "or pass --token / set HF_TOKEN"
            )
        return GatedModel(
            f"{model} is gated and your token has no access yet: request access on its Hub page"
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return RevisionNotFound(
            f"{model} has no revision '{_clip(revision)}': check the branch, tag or commit"
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        hint = (
            ""
            if _has_token(reader.token)
            else " (if it is private, log in with `hf auth login` or pass --token)"
        )
        return ModelNotFound(f"{model} was not found on the Hub{hint}")
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "?")
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


def _offline() -> bool:
    from huggingface_hub import constants

    # Read at call time, like huggingface_hub's own is_offline_mode(): the variable may be set late.
    value = os.environ.get("HF_HUB_OFFLINE")
    return constants.HF_HUB_OFFLINE if value is None else value.upper() in ("1", "ON", "YES", "TRUE")


def _has_token(token: str | bool | None) -> bool:
    if isinstance(token, str):
        return bool(token)
    if token is False:
        return False
    from huggingface_hub import get_token

    return get_token() is not None


def _may_have_modules(config: Mapping[str, Any] | None) -> bool:
    """A bare encoder (BertModel, MPNetModel, ...) is how sentence-transformers repos look: list them."""
    if config is None:
        return True
    architectures = config.get("architectures")
    if not isinstance(architectures, list):
        return False
    return any(
        isinstance(a, str) and a.endswith("Model") and "For" not in a and not a.endswith("LMHeadModel")
        for a in architectures
    )


# ---------------------------------------------------------------------------------------------
# A local directory with the same files


def read_local(directory: Path) -> RepoSnapshot:
    """Read config.json and safetensors headers from a local model directory (no network)."""
    directory = directory.expanduser()
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    if not any((directory / name).is_file() for name in (CONFIG_FILE, "model_index.json")):
        raise MalformedConfig(
            f"{directory} has no config.json: without it the architecture (layers, heads, "
            "context) is unknown and no memory estimate can be made"
        )
    try:  # the top level and one level of component folders (diffusers, sentence-transformers): no deeper
        found = [*directory.glob("*"), *directory.glob("*/*")]
        files = {p.relative_to(directory).as_posix(): p.stat().st_size for p in found if p.is_file()}
    except OSError as exc:
        raise UsageError(f"{directory} cannot be read ({exc.strerror or type(exc).__name__})") from None
    config_path = (
        CONFIG_FILE if CONFIG_FILE in files else "model_index.json" if "model_index.json" in files else None
    )
    config = _read_local_json(directory, config_path) if config_path else None
    plan = plan_weights(files)
    names = plan.safetensors
    if plan.index:
        try:
            names = shard_names(_read_local_json(directory, plan.index), plan.index) + names
        except MalformedConfig as exc:
            raise MalformedConfig(f"{directory}: {exc}") from None
    headers = tuple(_read_local_header(directory, name) for name in names)
    weights_format, stored = "safetensors", None
    if not headers:
        weights_format = "pytorch" if plan.bin_files or plan.bin_index else "none"
        stored = bin_stored_bytes(plan, files, lambda name: _read_local_json(directory, name))
    return RepoSnapshot(
        model_id=str(directory),
        revision=None,
        sha=None,
        config=config or {},
        weight_files=headers,
        weights_format=weights_format,
        stored_weight_bytes=stored,
        components=plan.components,
        source="local",
    )


def _read_local_json(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    if not path.is_file():
        raise MalformedConfig(f"{path} is missing")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise MalformedConfig(f"{path} is larger than {MAX_JSON_BYTES:,} bytes")
    return parse_json(path.read_bytes(), str(path))


def _read_local_header(directory: Path, name: str) -> SafetensorsFile:
    path = directory / name
    if not path.is_file():
        raise MalformedConfig(f"{directory}: the index names {name}, which is not in the directory")
    size = path.stat().st_size
    with path.open("rb") as handle:
        length = header_length(handle.read(PREFIX_BYTES), name, size)
        raw = length.to_bytes(PREFIX_BYTES, "little") + handle.read(length)
    return parse_header(raw, name, size)
