"""A GGUF header in hubvram's cache: compact rows written, and every row checked again when read back."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

from . import gguf_types as gt
from .gguf import GgufArray, GgufHeader, GgufTensor

_ARRAY = "__gguf_array__"  # a long array kept by type and length (GgufArray)


def gguf_record(header: GgufHeader) -> list[Any]:
    """JSON-ready: metadata (long arrays as their length), tensor rows [name, type, dims, offset]."""
    metadata = {
        key: {_ARRAY: [v.item_type, v.count]}
        if isinstance(v, GgufArray)
        else list(v)
        if isinstance(v, tuple)
        else v
        for key, v in header.metadata.items()
    }
    rows = [[t.name, t.ggml_type, list(t.dims), t.offset] for t in header.tensors]
    return [
        header.filename,
        header.version,
        header.big_endian,
        header.alignment,
        metadata,
        rows,
        header.header_bytes,
    ]


def gguf_from_record(row: list[Any]) -> GgufHeader:
    """The header a record describes; ValueError/KeyError/TypeError when it is damaged (then refetched)."""
    filename, version, big_endian, alignment, metadata, rows, header_bytes = row
    if not (isinstance(filename, str) and isinstance(metadata, dict) and type(header_bytes) is int):
        raise ValueError("malformed GGUF record")
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError("bad alignment")
    meta = {
        key: GgufArray(*v[_ARRAY]) if isinstance(v, dict) else tuple(v) if isinstance(v, list) else v
        for key, v in metadata.items()
    }
    tensors, expected = [], 0
    for name, code, dims, offset in rows:
        kind = gt.GGML_TYPES[code]
        if (
            not isinstance(name, str)
            or not all(type(d) is int and d >= 0 for d in dims)
            or offset != expected
        ):
            raise ValueError("malformed GGUF tensor row")
        numel = math.prod(dims)
        ne0 = dims[0] if dims else 1
        if ne0 % kind.block_size:
            raise ValueError("rows do not fill blocks")
        nbytes = ne0 // kind.block_size * kind.type_size * (numel // ne0) if numel else 0
        tensors.append(GgufTensor(name, code, tuple(dims), offset, numel, nbytes))
        expected += -(-nbytes // alignment) * alignment
    data_offset = -(-header_bytes // alignment) * alignment if tensors else header_bytes
    return GgufHeader(
        filename,
        version,
        bool(big_endian),
        alignment,
        MappingProxyType(meta),
        tuple(tensors),
        header_bytes,
        data_offset,
        expected,
    )
