"""Build GGUF header bytes for tests: valid v3 headers, and deliberately broken ones.

A fake Hub serves `header + zeros` up to gguf_file_size(header) for a `.gguf`, so hubvram's reader
sees a file of the real size without any tensor data existing anywhere. Layout as gguf-py's
GGUFWriter writes it (gguf-py/gguf/gguf_writer.py): header, key/value pairs, tensor infos, padding to
general.alignment, then each tensor's data padded to the alignment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..fetch.gguf import DEFAULT_ALIGNMENT, read_gguf_header
from ..fetch.gguf_types import ARRAY, GGML_TYPE_BY_NAME, GGML_TYPES, VALUE_TYPES

_CODE = {name: code for code, (name, _) in VALUE_TYPES.items()}  # "u32" -> 4


@dataclass(frozen=True)
class Value:
    """A metadata value with its GGUF type: Value("u64", 7), Value("arr", ["a", "b"], item="str")."""

    type: str
    value: object
    item: str | None = None  # the item type of an array


@dataclass(frozen=True)
class Raw:
    """Bytes written verbatim after the key (type code included): for hostile headers."""

    data: bytes


@dataclass(frozen=True)
class Tensor:
    """A tensor info: ggml type by name ("Q4_K") or raw code, dims in ggml order (ne0 first)."""

    name: str
    ggml_type: str | int
    dims: Sequence[int]
    offset: int | None = None  # None: where the previous tensor's padded data ends
    n_dims: int | None = None  # None: len(dims); set to lie about it


def _infer(value: object) -> Value:
    if isinstance(value, Value):
        return value
    if isinstance(value, bool):
        return Value("bool", value)
    if isinstance(value, int):
        return Value("u32" if 0 <= value < 2**32 else "i64", value)
    if isinstance(value, float):
        return Value("f32", value)
    if isinstance(value, str):
        return Value("str", value)
    if isinstance(value, (list, tuple)):
        item = _infer(value[0]).type if value else "u32"
        return Value("arr", list(value), item=item)
    raise TypeError(f"no GGUF type for {value!r}")


class _Packer:
    def __init__(self, big_endian: bool) -> None:
        self.e = ">" if big_endian else "<"

    def pack(self, fmt: str, *values: object) -> bytes:
        return struct.pack(self.e + fmt, *values)

    def string(self, text: str | bytes) -> bytes:
        raw = text.encode() if isinstance(text, str) else text
        return self.pack("Q", len(raw)) + raw

    def scalar(self, type_name: str, value: object) -> bytes:
        if type_name == "str":
            return self.string(value)  # type: ignore[arg-type]
        return self.pack(VALUE_TYPES[_CODE[type_name]][1], value)

    def value(self, value: object) -> bytes:
        if isinstance(value, Raw):
            return value.data
        typed = _infer(value)
        if typed.type != "arr":
            return self.pack("I", _CODE[typed.type]) + self.scalar(typed.type, typed.value)
        items = list(typed.value)  # type: ignore[call-overload]
        item = typed.item or "u32"
        body = b"".join(self.scalar(item, x) for x in items)
        return self.pack("IIQ", ARRAY, _CODE[item], len(items)) + body


def tensor_nbytes(ggml_type: str | int, dims: Sequence[int]) -> int:
    """ggml_nbytes for a contiguous tensor (0 for a type ggml does not know)."""
    code = GGML_TYPE_BY_NAME[ggml_type] if isinstance(ggml_type, str) else ggml_type
    gtype = GGML_TYPES.get(code)
    numel = 1
    for d in dims:
        numel *= d
    if gtype is None or numel == 0:
        return 0
    ne0 = dims[0] if dims else 1
    return ne0 // gtype.block_size * gtype.type_size * (numel // ne0)


def gguf_header(
    metadata: Mapping[str, object] | Iterable[tuple[str, object]] = (),
    tensors: Sequence[Tensor] = (),
    *,
    version: int = 3,
    magic: bytes = b"GGUF",
    big_endian: bool = False,
    tensor_count: int | None = None,
    kv_count: int | None = None,
    pad: bool = True,
) -> bytes:
    """The header bytes of a GGUF file, up to the start of its data section (padded unless pad=False).

    metadata: a mapping, or (key, value) pairs (which may repeat a key); values are Python values
    (int -> u32 or i64, float -> f32, list -> array) or Value/Raw. general.alignment, if present,
    sets the padding. tensor_count/kv_count override the counts written.
    """
    p = _Packer(big_endian)
    pairs = list(metadata.items() if isinstance(metadata, Mapping) else metadata)
    alignment = DEFAULT_ALIGNMENT
    for key, value in pairs:
        if key == "general.alignment" and isinstance(value, (int, Value)) and not isinstance(value, bool):
            alignment = value.value if isinstance(value, Value) else value  # type: ignore[assignment]
    out = [magic, p.pack("I", version)]
    out.append(
        p.pack(
            "QQ",
            len(tensors) if tensor_count is None else tensor_count,
            len(pairs) if kv_count is None else kv_count,
        )
    )
    for key, value in pairs:
        out.append(p.string(key) + p.value(value))
    offset = 0
    for t in tensors:
        code = GGML_TYPE_BY_NAME[t.ggml_type] if isinstance(t.ggml_type, str) else t.ggml_type
        n_dims = len(t.dims) if t.n_dims is None else t.n_dims
        at = offset if t.offset is None else t.offset
        out.append(p.string(t.name) + p.pack("I", n_dims) + p.pack(f"{len(t.dims)}Q", *t.dims))
        out.append(p.pack("iQ", code, at))
        size = tensor_nbytes(code, t.dims)
        offset = at + -(-size // max(alignment, 1)) * max(alignment, 1)
    header = b"".join(out)
    if pad and tensors and alignment > 0:
        header += b"\0" * (-len(header) % alignment)
    return header


def gguf_file_size(header: bytes) -> int:
    """The size of the whole file a header implies: data offset + every tensor's padded data."""
    parsed = read_gguf_header(bytes_reader(header), "header.gguf")
    return parsed.file_size


def bytes_reader(data: bytes, file_size: int | None = None) -> RecordingReader:
    """read_range over `data`, then zeros up to file_size (a file whose tensor data is all zero)."""
    return RecordingReader(data, len(data) if file_size is None else file_size)


class RecordingReader:
    """A read_range callable over bytes that records every (start, length) it is asked for."""

    def __init__(self, data: bytes, file_size: int) -> None:
        self.data, self.file_size, self.calls = data, file_size, []  # type: list[tuple[int, int]]

    def __call__(self, start: int, length: int) -> bytes:
        self.calls.append((start, length))
        end = min(start + length, self.file_size)
        if start >= end:
            return b""
        chunk = self.data[start:end]
        return chunk + b"\0" * (end - start - len(chunk))

    @property
    def bytes_requested(self) -> int:
        return sum(length for _, length in self.calls)

    @property
    def furthest(self) -> int:
        return max((s + n for s, n in self.calls), default=0)


__all__ = [
    "Raw",
    "RecordingReader",
    "Tensor",
    "Value",
    "bytes_reader",
    "gguf_file_size",
    "gguf_header",
    "tensor_nbytes",
]
