"""A local model directory with the files of a Hub repo: config.json and safetensors headers, no network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import MalformedConfig, UsageError
from . import limits
from .decode import parse_json
from .layout import CONFIG_FILE, bin_stored_bytes, plan_weights, shard_names
from .safetensors import PREFIX_BYTES, SafetensorsFile, header_length, parse_header
from .snapshot import RepoSnapshot


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
