"""A local model directory with the files of a Hub repo: config.json and safetensors headers, no network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import MalformedConfig, UsageError
from . import limits
from .decode import parse_json
from .formats import read_layout
from .gguf import GgufHeader, read_gguf_header
from .layout import CONFIG_FILE, NATIVE_KINDS, bin_stored_bytes, plan_weights, shard_names
from .safetensors import PREFIX_BYTES, SafetensorsFile, header_length, parse_header
from .snapshot import RepoSnapshot


def read_local(directory: Path, variant: str | None = None) -> RepoSnapshot:
    """Read config.json and weight headers from a local model directory (no network)."""
    directory = directory.expanduser()
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    try:  # the top level and one level of component folders (diffusers, sentence-transformers): no deeper
        found = [*directory.glob("*"), *directory.glob("*/*")]
        files = {p.relative_to(directory).as_posix(): p.stat().st_size for p in found if p.is_file()}
    except OSError as exc:
        raise UsageError(f"{directory} cannot be read ({exc.strerror or type(exc).__name__})") from None
    config_path = (
        CONFIG_FILE if CONFIG_FILE in files else "model_index.json" if "model_index.json" in files else None
    )
    plan = plan_weights(files)
    if config_path is None and plan.kind not in NATIVE_KINDS:
        raise MalformedConfig(
            f"{directory} has no config.json: without it the architecture (layers, heads, "
            "context) is unknown and no memory estimate can be made"
        )
    config = _read_local_json(directory, config_path) if config_path else None
    snapshot = RepoSnapshot(
        model_id=str(directory),
        revision=None,
        sha=None,
        config=config or {},
        weights_format=plan.kind,
        components=plan.components,
        source="local",
    )
    if plan.kind in NATIVE_KINDS:
        return replace(snapshot, **read_layout(plan, LocalFiles(directory), files, variant, str(directory)))
    names = plan.safetensors
    if plan.index:
        try:
            names = shard_names(_read_local_json(directory, plan.index), plan.index) + names
        except MalformedConfig as exc:
            raise MalformedConfig(f"{directory}: {exc}") from None
    headers = tuple(_read_local_header(directory, name) for name in names)
    if headers:
        return replace(snapshot, weight_files=headers, weights_format="safetensors")
    stored = bin_stored_bytes(plan, files, lambda name: _read_local_json(directory, name))
    return replace(snapshot, stored_weight_bytes=stored)


class LocalFiles:
    """The FileSource of fetch.formats over a local directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def json_file(self, path: str) -> dict[str, Any]:
        return _read_local_json(self.directory, path)

    def safetensors_headers(self, names: tuple[str, ...]) -> tuple[SafetensorsFile, ...]:
        return tuple(_read_local_header(self.directory, name) for name in names)

    def gguf_headers(self, paths: tuple[str, ...], sizes: Mapping[str, int]) -> tuple[GgufHeader, ...]:
        return tuple(_read_local_gguf(self.directory, path) for path in paths)


def _read_local_json(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    if not path.is_file():
        raise MalformedConfig(f"{path} is missing")
    if path.stat().st_size > limits.MAX_JSON_BYTES:
        raise MalformedConfig(f"{path} is larger than {limits.MAX_JSON_BYTES:,} bytes")
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


def _read_local_gguf(directory: Path, name: str) -> GgufHeader:
    path = directory / name
    with path.open("rb") as handle:

        def read_range(start: int, length: int) -> bytes:
            handle.seek(start)
            return handle.read(length)

        return read_gguf_header(read_range, name, file_size=path.stat().st_size)
