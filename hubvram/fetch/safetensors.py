"""The safetensors header parser that trusts nothing in it (the types: safetensors_types.py).

hubvram reads only the first 8 + N bytes of a file (the format: safetensors_types.py).
huggingface_hub's own parser (hf_api._parse_safetensors_header) accepts any JSON and raises
KeyError/TypeError on odd shapes, so the checks below are ours. parse_header and sharded_files try the
fast path first (fast_headers.py: msgspec, checks by column), which answers exactly as the reference
parser here does or leaves the input to it; every error message comes from the reference.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from operator import itemgetter

from ..errors import MalformedConfig, MalformedHeader
from ..errors import printable as _short
from . import fast_headers, limits
from .decode import gc_paused, parse_json
from .safetensors_types import (
    DTYPE_BITS,
    MAX_COUNT,
    MAX_ELEMENTS,
    MAX_RANK,
    PREFIX_BYTES,
    SafetensorsFile,
    TensorInfo,
)

_BY_OFFSETS = itemgetter(3, 4)  # (start, end) of a TensorInfo
_new_tuple = tuple.__new__
__all__ = [
    "DTYPE_BITS",
    "MAX_ELEMENTS",
    "MAX_RANK",
    "PREFIX_BYTES",
    "SafetensorsFile",
    "TensorInfo",
    "header_length",
    "parse_header",
    "sharded_files",
]


def header_length(prefix: bytes, filename: str, file_size: int | None = None) -> int:
    """Read and check the 8-byte length prefix; refuse lengths that cannot be a real header."""
    if len(prefix) < PREFIX_BYTES:
        raise MalformedHeader(f"{filename}: file is {len(prefix)} bytes, too short to be safetensors")
    (length,) = struct.unpack("<Q", prefix[:PREFIX_BYTES])
    if length < 2:
        raise MalformedHeader(f"{filename}: safetensors header length is {length}, not a JSON object")
    if length > limits.MAX_HEADER_BYTES:
        raise MalformedHeader(
            f"{filename}: safetensors header declares {length:,} bytes, "
            f"over the {limits.MAX_HEADER_BYTES:,}-byte cap"
        )
    if file_size is not None and PREFIX_BYTES + length > file_size:
        raise MalformedHeader(
            f"{filename}: safetensors header declares {length:,} bytes but the file has {file_size:,}"
        )
    return length


def parse_header(
    raw: bytes, filename: str, file_size: int | None = None, *, fast: bool = True
) -> SafetensorsFile:
    """Parse 8 + N header bytes (prefix included) into a SafetensorsFile, or raise MalformedHeader.

    fast=False: the reference parser only (tests compare the two).
    """
    length = header_length(raw, filename, file_size)
    body = raw[PREFIX_BYTES : PREFIX_BYTES + length]
    if len(body) < length:
        raise MalformedHeader(f"{filename}: safetensors header truncated ({len(body):,} of {length:,} bytes)")
    data_size = None if file_size is None else file_size - PREFIX_BYTES - length
    with gc_paused(length):
        quick = (
            _fast(fast_headers.header_file, body, filename, data_size, PREFIX_BYTES + length)
            if fast
            else None
        )
        if quick is not None:
            return quick
        document = _load_json_object(body, filename)
        return parse_header_document(
            document, filename, data_size=data_size, header_bytes=PREFIX_BYTES + length
        )


def parse_header_document(
    document: object, filename: str, *, data_size: int | None = None, header_bytes: int = 0
) -> SafetensorsFile:
    """Check a header that is already JSON-decoded (the Hub's one-request answer, hubvram's cache)."""
    if not isinstance(document, dict):
        raise MalformedHeader(f"{filename}: safetensors header is JSON but not an object")
    metadata = _parse_metadata(document.get("__metadata__"), filename)
    tensors = []
    add = tensors.append  # hot loop (DeepSeek-V3: 92,000 tensors): one call per tensor, no generator
    for name, entry in document.items():
        if type(entry) is dict:
            if name != "__metadata__":
                add(
                    checked_tensor(
                        filename, name, entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
                    )
                )
        elif name == "__metadata__":
            continue  # checked above
        elif not name:
            raise MalformedHeader(f"{filename}: safetensors header has a tensor with an empty name")
        else:
            raise _tensor_error(filename, name, "is not an object")
    _check_layout(tensors, filename, data_size)
    return SafetensorsFile(filename, tuple(tensors), metadata, header_bytes)


def _fast(parse, *args):
    """The fast path's answer, or None: on any error of its own, the reference parser decides (and says
    what is wrong), so no input can make the fast path fail where the reference would not."""
    try:
        return parse(*args)
    except Exception:
        return None


def _load_json_object(body: bytes, filename: str) -> dict:
    def no_duplicates(pairs: list) -> dict:
        result = dict(pairs)
        if len(result) != len(pairs):  # json.loads would silently keep the last of two equal names
            seen: set = set()
            twice = next(key for key, _ in pairs if key in seen or seen.add(key))
            raise MalformedHeader(f"{filename}: safetensors header names '{_short(twice)}' twice")
        return result

    try:
        text = body.decode("utf-8")
        document = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=_reject_constant)
    except MalformedHeader:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedHeader(
            f"{filename}: safetensors header is not valid JSON ({type(exc).__name__})"
        ) from None
    if not isinstance(document, dict):
        raise MalformedHeader(f"{filename}: safetensors header is JSON but not an object")
    return document


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-finite number {name}")


def _parse_metadata(value: object, filename: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise MalformedHeader(f"{filename}: safetensors __metadata__ must map strings to strings")
    return tuple(sorted(value.items()))


def checked_tensor(filename: str, name: str, dtype: object, shape: object, offsets: object) -> TensorInfo:
    """A TensorInfo from untrusted fields, or MalformedHeader naming the file and the tensor.

    Hot path (DeepSeek-V3: 92,000 tensors per model): one test of the usual case, inline (no helper
    call per dimension, tuple.__new__ instead of the NamedTuple's Python-level __new__); only a tensor
    that fails it goes through _tensor_problem to find which rule it breaks. Twice as fast as checking
    rule by rule.
    """
    bits = DTYPE_BITS.get(dtype) if type(dtype) is str else None
    if (
        bits is not None
        and name
        and type(shape) is list
        and len(shape) <= MAX_RANK
        and all([type(d) is int and 0 <= d <= MAX_COUNT for d in shape])
        and type(offsets) is list
        and len(offsets) == 2
    ):
        start, end = offsets
        numel = math.prod(shape)
        if (
            type(start) is int
            and type(end) is int
            and 0 <= start <= end <= MAX_COUNT
            and numel <= MAX_ELEMENTS
            and end - start == (numel * bits + 7) // 8
        ):
            return _new_tuple(TensorInfo, (name, dtype, tuple(shape), start, end))
    raise _tensor_problem(filename, name, dtype, shape, offsets)


def _tensor_problem(
    filename: str, name: str, dtype: object, shape: object, offsets: object
) -> MalformedHeader:
    """Which rule a tensor that failed checked_tensor's test breaks, as the error to raise."""
    if not name:
        return MalformedHeader(f"{filename}: safetensors header has a tensor with an empty name")
    bits = DTYPE_BITS.get(dtype) if type(dtype) is str else None
    if bits is None:
        return _tensor_error(filename, name, f"has unknown dtype {_short(repr(dtype))}")
    if type(shape) is not list or len(shape) > MAX_RANK or not all(map(_is_count, shape)):
        return _tensor_error(
            filename, name, f"has an invalid shape (want up to {MAX_RANK} non-negative integers)"
        )
    numel = math.prod(shape)
    if numel > MAX_ELEMENTS:
        return _tensor_error(filename, name, f"declares an impossible {numel:.3e} elements")
    if (
        type(offsets) is not list
        or len(offsets) != 2
        or not (_is_count(offsets[0]) and _is_count(offsets[1]))
    ):
        return _tensor_error(filename, name, "has invalid data_offsets (want two non-negative integers)")
    start, end = offsets
    if end < start:
        return _tensor_error(filename, name, "has data_offsets that run backwards")
    expected = (numel * bits + 7) // 8
    return _tensor_error(filename, name, f"spans {end - start:,} bytes but {dtype}{shape} needs {expected:,}")


def _tensor_error(filename: str, name: str, problem: str) -> MalformedHeader:
    return MalformedHeader(f"{filename}: tensor '{_short(name)}' {problem}")


def _check_layout(tensors: Sequence[TensorInfo], filename: str, data_size: int | None) -> None:
    """Tensors must not overlap and must lie inside the data section (safetensors' validate())."""
    previous_end = 0
    for tensor in sorted(tensors, key=_BY_OFFSETS):
        if tensor[3] < previous_end:  # tensor.start: indexing is faster than the property at 92,000 tensors
            raise MalformedHeader(f"{filename}: tensor '{_short(tensor.name)}' overlaps another tensor")
        previous_end = tensor[4]
    if data_size is not None and previous_end > data_size:
        raise MalformedHeader(f"{filename}: tensor data runs past the end of the file")


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT  # type(): bools are not counts


def sharded_files(raw: bytes, *, fast: bool = True) -> tuple[SafetensorsFile, ...] | None:
    """The checked headers in a safetensors-metadata answer; None when it is not one (read shards then).

    The Hub's one-request answer (the route behind huggingface_hub's get_sharded_safetensors_metadata):
    {"index": ..., "headers": {shard: header}}. Each file's header_bytes is its share of the answer, so
    the bytes a scan reports add up.
    """
    with gc_paused(len(raw)):
        if fast and (quick := _fast(fast_headers.answer_files, raw)) is not None:
            return quick
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
            files.append(parse_header_document(header, _short(str(shard)), header_bytes=share))
        return tuple(files)
