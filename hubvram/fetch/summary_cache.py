"""A safetensors header in hubvram's cache: its summary (safetensors_types.TensorSummary), checked again
when read back. What the estimate needs, not the header: ~200 bytes per file plus ~100 per named tensor
(DeepSeek-V3 as the fixtures hold it, 139 files: 24 KB, where its headers are 11.6 MB)."""

from __future__ import annotations

from typing import Any

from .safetensors import checked_tensor
from .safetensors_types import DTYPE_BITS, KINDS, MAX_COUNT, SafetensorsFile, TensorGroup, TensorSummary

_new_tuple = tuple.__new__


def file_record(file: SafetensorsFile) -> list[Any]:
    """JSON-ready: [filename, header_bytes, metadata, data_bytes, groups, named rows]."""
    summary = file.summary
    return [
        file.filename,
        file.header_bytes,
        dict(file.metadata),
        summary.data_bytes,
        [list(g) for g in summary.groups],
        [[t.name, t.dtype, list(t.shape), t.start, t.end] for t in summary.named],
    ]


def file_from_record(row: list[Any]) -> SafetensorsFile:
    """The file a record describes; ValueError/TypeError/KeyError when it is damaged (then refetched).

    Named tensors go through the header parser's own check; groups must be known dtypes and kinds with
    bytes that fit their elements, and nothing may end past the declared data section.
    """
    filename, header_bytes, metadata, data_bytes, groups, named = row
    if not (isinstance(filename, str) and _is_count(header_bytes) and _is_count(data_bytes)):
        raise ValueError("malformed safetensors record")
    if not (isinstance(metadata, dict) and all(type(v) is str for v in metadata.values())):
        raise ValueError("malformed metadata")
    checked_groups = []
    for dtype, kind, count, numel, nbytes in groups:
        bits = DTYPE_BITS[dtype]
        if kind not in KINDS or not all(map(_is_count, (count, numel, nbytes))):
            raise ValueError("malformed group")
        # Each tensor takes ceil(elements x bits / 8) bytes: exact for whole-byte dtypes, and less than one
        # byte more per tensor for the sub-byte ones (F4, F6).
        fits = nbytes * 8 == numel * bits if bits % 8 == 0 else 0 <= nbytes * 8 - numel * bits < 8 * count
        if count == 0 or not fits:
            raise ValueError("group bytes do not fit its elements")
        checked_groups.append(_new_tuple(TensorGroup, (dtype, kind, count, numel, nbytes)))
    tensors = tuple(checked_tensor(filename, n, d, s, [a, b]) for n, d, s, a, b in named)
    if len({t.name for t in tensors}) != len(tensors) or any(t.end > data_bytes for t in tensors):
        raise ValueError("malformed named tensors")
    if sorted(checked_groups) != checked_groups or len({g[:2] for g in checked_groups}) != len(groups):
        raise ValueError("groups out of order")
    summary = TensorSummary(tuple(checked_groups), tensors, data_bytes)
    return SafetensorsFile(filename, None, tuple(sorted(metadata.items())), header_bytes, summary=summary)


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT
