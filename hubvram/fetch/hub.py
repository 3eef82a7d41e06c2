"""The read strategy for a Hub repo: which requests, in what order, in parallel where they can be.

A single-file repo costs three requests in two round trips: config.json and the first 8 bytes of
model.safetensors in parallel, then the header. A sharded repo on `main` costs four in two round
trips: the same first two, then the file listing beside one request for every shard header (asked
for before the listing confirms the root index; repos without one, .bin only or subfolders, spend
one small 404 on that guess). Other revisions read the index and two exact ranges per shard.
Every request goes through http.HubTransport; never a byte of tensor data.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import MalformedConfig, MalformedHeader, ModelNotFound, NetworkError, UsageError
from ..errors import printable as _clip
from . import cache, gguf, limits
from .decode import parse_json
from .formats import read_layout
from .gguf import GgufHeader
from .http import HubTransport, shared_pool
from .layout import (
    CONFIG_FILE,
    INDEX_FILE,
    NATIVE_KINDS,
    SINGLE_FILE,
    WeightPlan,
    bin_stored_bytes,
    plan_weights,
    shard_names,
)
from .safetensors import PREFIX_BYTES, SafetensorsFile, header_length, parse_header, sharded_files
from .snapshot import RepoSnapshot

if TYPE_CHECKING:
    from .workers import DecoderPool


def validate_repo_id(model_id: str) -> None:
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hf_validate

    try:
        hf_validate(model_id)
    except HFValidationError:
        where = "no such local directory, and it " if "/" in model_id or os.sep in model_id else "it "
        raise UsageError(
            f"'{_clip(model_id)}': {where}is not a Hub repo id: use 'org/name' (letters, digits, '-', '_', "
            "'.'), or the path of a local directory"
        ) from None


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
        variant: str | None = None,
    ) -> None:
        validate_repo_id(model_id)
        self.model_id = model_id
        self.revision = revision
        self.variant = variant  # the GGUF variant to read (None: fetch.gguf_variants.default_variant)
        self.http = HubTransport(model_id, revision=revision, token=token, timeout=timeout, cancel=cancel)
        self.pool = pool
        self.decoders = decoders  # worker processes for answers of limits.OFFLOAD_BYTES and more (scans)
        self._header_lengths: dict[str, int] = {}  # probes already made (the root model.safetensors)

    @property
    def sha(self) -> str | None:
        return self.http.sha

    @property
    def commit_moved(self) -> bool:
        return self.http.commit_moved

    # -- the cache

    def from_cache(self, *, trust_stale: bool = False) -> RepoSnapshot | None:
        """The cached snapshot of this revision's commit; a stale branch costs one small request
        (none when trust_stale: offline, the last known commit of the branch is used)."""
        sha = cache.cached_sha(self.model_id, self.revision, fresh_only=not trust_stale)
        if (
            sha is None
            and not trust_stale
            and cache.cached_sha(self.model_id, self.revision, fresh_only=False)
        ):
            sha = self.current_sha()
            cache.remember_ref(self.model_id, self.revision, sha)
        fields = cache.load(self.model_id, sha, self.variant) if sha else None
        if fields is None:
            return None
        self.http.sha = sha
        return replace(
            self._snapshot(fields.pop("config"), fields.pop("weight_files")), **fields, cached=True
        )

    def current_sha(self) -> str:
        """The commit a branch or tag names now (model-info route, sha field only)."""
        path = f"/api/models/{self.model_id}"
        if self.revision:
            path += f"/revision/{quote(self.revision, safe='')}"
        info = parse_json(self.http.get(self.http.endpoint() + path, params={"expand": "sha"}), "model info")
        if not isinstance(info.get("sha"), str):
            raise MalformedConfig(f"{self.model_id}: the Hub's model info names no commit")
        return info["sha"]

    # -- the reading strategy

    def read(self) -> RepoSnapshot:
        """The snapshot; when a read fails (or Ctrl-C), the reads still running give up at once."""
        try:
            return self._read()
        except BaseException:
            self.http.failed.set()
            raise

    def _read(self) -> RepoSnapshot:
        # config.json on the pool, the probe here: one pool thread per model, not two (a scan's pool has
        # one thread per model in flight, so two each would leave half of them waiting a round trip)
        config_job = self._submit(self._get_json_or_none, CONFIG_FILE)
        header_size = self._probe_header_length(SINGLE_FILE)
        config = config_job.result()
        if header_size is not None and not may_have_modules(config):
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
        if plan.kind in NATIVE_KINDS:
            fields = read_layout(plan, self, listing, self.variant, self.model_id)
            return replace(self._snapshot(config, (), weights_format=plan.kind), **fields)
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
            requests=self.http.transfer.requests,
            bytes_received=self.http.transfer.bytes,
        )

    # -- individual reads

    def list_files(self) -> dict[str, int | None]:
        """Repo files and sizes from the model-info route (one request; it also names the commit)."""
        path = f"/api/models/{self.model_id}"
        if self.revision:
            path += f"/revision/{quote(self.revision, safe='')}"
        info = parse_json(self.http.get(self.http.endpoint() + path, params={"blobs": "true"}), "model info")
        if isinstance(info.get("sha"), str):
            self.http.note_commit(info["sha"])
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
        if budget > limits.MAX_MODEL_HEADER_BYTES:
            raise MalformedHeader(
                f"{self.model_id}: headers add up to {budget:,} bytes, "
                f"over the {limits.MAX_MODEL_HEADER_BYTES:,}-byte budget"
            )
        return tuple(self._map(lambda pair: self.read_header(*pair), zip(names, lengths, strict=True)))

    def read_header(self, filename: str, length: int) -> SafetensorsFile:
        body = self.http.get_range(filename, PREFIX_BYTES, length)
        if body is None:
            raise MalformedHeader(f"{self.model_id}: {filename} vanished while its header was read")
        raw = length.to_bytes(PREFIX_BYTES, "little") + body
        try:
            return parse_header(raw, filename, self.http.file_sizes.get(filename))
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
        prefix = self.http.get_range(filename, 0, PREFIX_BYTES)
        if prefix is None:
            return None
        try:
            length = header_length(prefix, filename, self.http.file_sizes.get(filename))
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
            return self.http.get(self.http.endpoint() + route, stop=stop)
        except (NetworkError, MalformedConfig, ModelNotFound):
            return None  # not offered (older Hub, mirror) or failing: read the index and each shard instead

    def _sharded_files(self, raw: bytes) -> tuple[SafetensorsFile, ...] | None:
        try:
            if self.decoders is not None and len(raw) >= limits.OFFLOAD_BYTES:
                return self.decoders.sharded_files(raw)
            return sharded_files(raw)
        except MalformedHeader as exc:
            raise MalformedHeader(f"{self.model_id}: {exc}") from None

    # -- the FileSource of fetch.formats

    def json_file(self, path: str) -> dict[str, Any]:
        return self._get_json(path)

    def safetensors_headers(self, names: tuple[str, ...]) -> tuple[SafetensorsFile, ...]:
        return self.read_headers(names)

    def gguf_headers(self, paths: tuple[str, ...], sizes: Mapping[str, int]) -> tuple[GgufHeader, ...]:
        """Each part's header through exact ranges, in parallel (read-ahead in fetch.gguf)."""

        def one(path: str) -> GgufHeader:
            def read_range(start: int, length: int) -> bytes:
                data = self.http.get_range(path, start, length, cap=gguf.MAX_HEADER_BYTES)
                if data is None:
                    raise MalformedConfig(f"{self.model_id}: {path} is listed but could not be read")
                return data

            try:
                return gguf.read_gguf_header(read_range, path, file_size=sizes.get(path) or None)
            except MalformedHeader as exc:
                raise MalformedHeader(f"{self.model_id}: {exc}", model=self.model_id, file=path) from None

        return tuple(self._map(one, paths))

    def _get_json(self, path: str) -> dict[str, Any]:
        document = self._get_json_or_none(path)
        if document is None:
            raise MalformedConfig(f"{self.model_id}: {path} is listed but could not be read")
        return document

    def _get_json_or_none(self, path: str) -> dict[str, Any] | None:
        raw = self.http.get(self.http.resolve_url(path), missing_ok=True)
        return None if raw is None else parse_json(raw, f"{self.model_id}: {path}")

    # -- concurrency

    def _submit(self, fn, *args):
        return (self.pool or shared_pool()).submit(fn, *args)

    def _map(self, fn, items):
        items = list(items)
        if len(items) <= 1:
            return [fn(item) for item in items]
        return list((self.pool or shared_pool()).map(fn, items))


def may_have_modules(config: Mapping[str, Any] | None) -> bool:
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
