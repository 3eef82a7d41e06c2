"""The GGUF header: a reader that trusts nothing in it, the model it describes, a repo's variants.

Format (ggml docs/gguf.md; reference reader ggml/src/gguf.cpp gguf_init_from_reader): magic "GGUF",
u32 version, u64 tensor count, u64 key count, the key/value pairs, the tensor infos, then the tensor
data at the next multiple of general.alignment. hubvram reads up to the end of the tensor infos,
through `read_range(start, length) -> bytes` (HTTP Range requests, or file reads), never the data.
Every check gguf.cpp makes is made here, as one MalformedHeader line naming the file.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from ..errors import MalformedHeader
from ..errors import printable as _short
from . import gguf_types as gt

# A cap on the header, like huggingface.js packages/gguf's 50 MB: real headers run 0.05 MB (mmproj)
# to 16 MB (Gemma 4: 262,144 tokens + 514,906 merges); 64 MiB leaves 4x room and bounds a hostile file.
MAX_HEADER_BYTES = 64 * 2**20
FIRST_READ = 256 * 2**10  # the first request: a whole small header, or the start of the tokens
READ_SLACK = 64 * 2**10  # added to each later request's estimate: chat templates, estimate error
ARRAY_MARGIN = 1.3  # the rest of a string array, at its running average, times this
KV_GUESS, TENSOR_GUESS = 96, 72  # bytes of an unread small key/value pair, of a tensor info
MAX_KEPT_ITEMS = 1024  # longer arrays (tokens, merges, scores) keep only their type and length
GGML_MAX_DIMS, GGML_MAX_NAME = 4, 64  # ggml/include/ggml.h
MAX_ARRAY_ITEMS = 2**30  # gguf.cpp GGUF_MAX_ARRAY_ELEMENTS
DEFAULT_ALIGNMENT = 32  # gguf.h GGUF_DEFAULT_ALIGNMENT
_I64 = 2**63  # gguf.cpp reads counts and dims as int64_t and refuses negatives

ReadRange = Callable[[int, int], bytes]


class GgufArray(NamedTuple):
    """A metadata array too long to keep (tokenizer tokens, merges, scores): its item type and length."""

    item_type: str
    count: int


class GgufTensor(NamedTuple):
    """One tensor info. dims are in ggml order (ne0, the contiguous row, first): PyTorch's reversed."""

    name: str
    ggml_type: int
    dims: tuple[int, ...]
    offset: int  # from the start of the data section
    numel: int
    nbytes: int  # ne0 / block_size * type_size * ne1 * ne2 * ne3 (ggml.c ggml_nbytes), unpadded

    @property
    def type_name(self) -> str:
        return gt.GGML_TYPES[self.ggml_type].name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.dims[::-1]


@dataclass(frozen=True)
class GgufHeader:
    """The parsed header of one .gguf file: metadata, tensor infos, and what reading it cost."""

    filename: str
    version: int
    big_endian: bool
    alignment: int
    metadata: Mapping[str, object]  # str/int/float/bool, tuple (short arrays) or GgufArray
    tensors: tuple[GgufTensor, ...]
    header_bytes: int  # end of the tensor infos
    data_offset: int  # header_bytes rounded up to the alignment (gguf.cpp ctx->offset)
    data_bytes: int  # the data section: every tensor padded to the alignment (gguf.cpp ctx->size)
    bytes_requested: int = 0
    requests: int = 0

    @property
    def file_size(self) -> int:
        return self.data_offset + self.data_bytes

    @property
    def parameters(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def by_type(self) -> dict[str, tuple[int, int]]:
        """ggml type name -> (parameters, bytes), largest first."""
        totals: dict[str, list[int]] = {}
        for t in self.tensors:
            row = totals.setdefault(t.type_name, [0, 0])
            row[0] += t.numel
            row[1] += t.nbytes
        return {k: (v[0], v[1]) for k, v in sorted(totals.items(), key=lambda kv: -kv[1][1])}

    def to_dict(self) -> dict:
        meta = {
            k: {"type": v.item_type, "count": v.count}
            if isinstance(v, GgufArray)
            else list(v)
            if isinstance(v, tuple)
            else v
            for k, v in self.metadata.items()
        }
        return {
            "filename": self.filename,
            "version": self.version,
            "alignment": self.alignment,
            "metadata": meta,
            "data_offset": self.data_offset,
            "data_bytes": self.data_bytes,
            "tensors": [[t.name, t.type_name, list(t.dims), t.offset] for t in self.tensors],
        }


class _Source:
    """Sequential reads over read_range with estimated read-ahead, never past `limit`.

    One buffer holds [base, base + len(buf)); the parser only moves forward. When it needs bytes the
    buffer lacks, the next request starts where the buffer ends (no byte is asked for twice) and asks
    for the estimate of what is left of the header, plus READ_SLACK. A long numeric array that lies
    beyond the buffer is stepped over, never requested. The estimate knows what llama.cpp's converter
    (gguf-py/gguf/vocab.py) writes after tokenizer.ggml.tokens: token_type (n x i32), scores (n x f32)
    unless the tokenizer is "gpt2" or "bert", merges (about n strings) for "gpt2" and "gemma4".
    """

    def __init__(self, read_range: ReadRange, filename: str, limit: int, capped: bool) -> None:
        self.read_range, self.filename, self.limit, self.capped = read_range, filename, limit, capped
        self.buf, self.base, self.pos = b"", 0, 0
        self.requested = self.requests = 0
        self.metadata: dict[str, object] = {}
        self.kv_left = self.tensors_left = self.array_left = self.vocab = 0
        self.tensor_avg, self.array_avg, self.token_avg = TENSOR_GUESS, 0.0, 0.0

    def estimate(self) -> float:
        """Bytes of header left past the current position, as far as the parser can tell."""
        rest = self.array_left * self.array_avg * ARRAY_MARGIN
        rest += self.kv_left * KV_GUESS + self.tensors_left * self.tensor_avg
        if self.vocab:
            model = self.metadata.get("tokenizer.ggml.model")
            for key, size in (
                ("token_type", 4),
                ("scores", 0 if model in ("gpt2", "bert") else 4),
                ("merges", self.token_avg * ARRAY_MARGIN if model in ("gpt2", "gemma4") else 0),
            ):
                if "tokenizer.ggml." + key not in self.metadata:
                    rest += self.vocab * size
        return rest

    def need(self, n: int, what: str) -> tuple[bytes, int]:
        off = self.pos - self.base
        if off + n > len(self.buf):
            self._fill(n, what)
            off = self.pos - self.base
        return self.buf, off

    def _fill(self, n: int, what: str) -> None:
        if self.pos + n > self.limit:
            raise self.past_end(what)
        buf_end = self.base + len(self.buf)
        start = max(buf_end, self.pos)
        keep = self.buf[self.pos - self.base :] if self.pos < buf_end else b""
        ahead = int(self.estimate()) + READ_SLACK if self.requests else FIRST_READ
        length = min(max(self.pos + n - start, ahead), self.limit - start)
        data = bytes(self.read_range(start, length)[:length])
        self.requests += 1
        self.requested += length
        if len(data) < length:  # the file ends here
            self.limit, self.capped = start + len(data), False
        self.buf, self.base = keep + data, self.pos
        if self.pos + n > self.limit:
            raise self.past_end(what)

    def bound(self) -> str:
        return (
            f"the {self.limit / 2**20:g} MiB header cap"
            if self.capped
            else f"the file's {self.limit:,} bytes"
        )

    def past_end(self, what: str) -> MalformedHeader:
        return MalformedHeader(f"{self.filename}: GGUF header runs past {self.bound()} in {what}")

    def take(self, fmt: struct.Struct, what: str) -> tuple:
        buf, off = self.need(fmt.size, what)
        self.pos += fmt.size
        return fmt.unpack_from(buf, off)

    def string(self, what: str, u64: struct.Struct) -> bytes:
        (length,) = self.take(u64, what)
        if self.pos + length > self.limit:
            raise self.past_end(what)
        buf, off = self.need(length, what)
        self.pos += length
        return buf[off : off + length]

    def skip(self, n: int, what: str) -> None:
        if self.pos + n > self.limit:
            raise self.past_end(what)
        self.pos += n

    def skip_strings(self, count: int, what: str, u64: struct.Struct, tokens: bool) -> None:
        """Step over `count` strings reading only their lengths: the hot loop of a big header."""
        unpack, start, done = u64.unpack_from, self.pos, 0
        while True:
            buf, off, i, chunk_start, chunk_done = self.buf, self.pos - self.base, done, self.pos, done
            try:
                for i in range(done, count):  # noqa: B007 (i is read after the loop)
                    off += 8 + unpack(buf, off)[0]
                i = count
            except (struct.error, OverflowError):  # the next length lies past the buffer's end
                pass
            self.pos, done = self.base + off, i
            if self.pos > self.limit:
                raise self.past_end(f"{what} item {max(done - 1, 0):,}")
            # late items run longer than early ones (BPE vocabularies grow by merging): take the larger
            avg = max((self.pos - start) / max(done, 1), (self.pos - chunk_start) / max(done - chunk_done, 1))
            if tokens:
                self.token_avg = avg
            if done == count:
                self.array_left = 0
                return
            self.array_left, self.array_avg = count - done, avg
            self.need(8, f"{what} item {done:,}")


def read_gguf_header(
    read_range: ReadRange, filename: str, *, file_size: int | None = None, max_bytes: int = MAX_HEADER_BYTES
) -> GgufHeader:
    """Parse a GGUF header through read_range(start, length) -> bytes, or raise MalformedHeader."""
    capped = file_size is None or file_size > max_bytes
    src = _Source(read_range, filename, max_bytes if capped else file_size, capped)
    magic = src.need(8, "the magic and version")[0][:8]
    if magic[:4] != b"GGUF":
        raise MalformedHeader(f"{filename}: not a GGUF file (starts with {_short(repr(magic[:4]))})")
    version, big = _version(magic[4:8], filename)
    e = ">" if big else "<"
    u32, u64 = struct.Struct(e + "I"), struct.Struct(e + "Q")
    src.pos = 8
    n_tensors, n_kv = src.take(struct.Struct(e + "QQ"), "the counts")
    if n_tensors >= _I64 or n_kv >= _I64 or 24 + 24 * n_tensors + 14 * n_kv > src.limit:
        raise MalformedHeader(
            f"{filename}: GGUF header declares {n_tensors:,} tensors and {n_kv:,} keys, "
            f"which cannot fit in {src.bound()}"
        )
    src.kv_left, src.tensors_left = n_kv, n_tensors
    metadata = src.metadata
    for _ in range(n_kv):
        raw_key = src.string("a key", u64)
        key = raw_key.decode("utf-8", "replace")
        if not key:
            raise MalformedHeader(f"{filename}: GGUF header has an empty key")
        if key in metadata:
            raise MalformedHeader(f"{filename}: GGUF header has key '{_short(key)}' twice")
        (vtype,) = src.take(u32, f"key '{_short(key)}'")
        if key == "general.alignment" and vtype != gt.UINT32:
            raise MalformedHeader(f"{filename}: general.alignment must be a u32, not type {vtype}")
        metadata[key] = None  # seen: the read-ahead no longer expects it
        metadata[key] = _value(src, vtype, key, e, u32, u64)
        src.kv_left -= 1
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise MalformedHeader(f"{filename}: general.alignment {alignment} is not a power of two")
    tensors = _tensor_infos(src, n_tensors, alignment, u32, u64, e)
    header_end = src.pos
    data_offset = -(-header_end // alignment) * alignment if n_tensors else header_end
    data_bytes = sum(-(-t.nbytes // alignment) * alignment for t in tensors)
    if file_size is not None and data_offset + data_bytes > file_size:
        raise MalformedHeader(
            f"{filename}: GGUF tensor data needs {data_offset + data_bytes:,} bytes "
            f"but the file has {file_size:,}"
        )
    return GgufHeader(
        filename,
        version,
        big,
        alignment,
        MappingProxyType(metadata),
        tuple(tensors),
        header_end,
        data_offset,
        data_bytes,
        src.requested,
        src.requests,
    )


def _version(raw: bytes, filename: str) -> tuple[int, bool]:
    (version,) = struct.unpack("<I", raw)
    big = version & 0xFFFF == 0 and version != 0
    if big:  # gguf.cpp: "is there a mismatch between the host and model endianness?"
        (version,) = struct.unpack(">I", raw)
    if version == 1:
        raise MalformedHeader(
            f"{filename}: GGUF version 1 is no longer supported by llama.cpp; use a newer conversion"
        )
    if version not in (2, 3) or (big and version != 3):
        raise MalformedHeader(f"{filename}: GGUF version {version} is not supported (want 2 or 3)")
    return version, big


def _value(src: _Source, vtype: int, key: str, e: str, u32: struct.Struct, u64: struct.Struct) -> object:
    what = f"key '{_short(key)}'"
    if vtype == gt.STRING:
        return src.string(what, u64).decode("utf-8", "replace")
    if vtype != gt.ARRAY:
        if vtype not in gt.VALUE_TYPES:
            raise MalformedHeader(f"{src.filename}: key '{_short(key)}' has unknown value type {vtype}")
        return src.take(struct.Struct(e + gt.VALUE_TYPES[vtype][1]), what)[0]
    itype, count = src.take(struct.Struct(e + "IQ"), what)
    if itype == gt.ARRAY:
        raise MalformedHeader(
            f"{src.filename}: key '{_short(key)}' is an array of arrays (llama.cpp refuses them)"
        )
    if itype not in gt.VALUE_TYPES:
        raise MalformedHeader(f"{src.filename}: key '{_short(key)}' is an array of unknown type {itype}")
    if count > MAX_ARRAY_ITEMS:
        raise MalformedHeader(
            f"{src.filename}: key '{_short(key)}' declares {count:,} items, over llama.cpp's 2**30"
        )
    name, fmt = gt.VALUE_TYPES[itype]
    if itype == gt.STRING:
        if src.pos + 8 * count > src.limit:
            raise src.past_end(what)
        if count <= MAX_KEPT_ITEMS:
            return tuple(src.string(what, u64).decode("utf-8", "replace") for _ in range(count))
        tokens = key == "tokenizer.ggml.tokens"
        if tokens:
            src.vocab = count
        src.skip_strings(count, what, u64, tokens)
        return GgufArray(name, count)
    items = struct.Struct(f"{e}{count}{fmt}")
    if count <= MAX_KEPT_ITEMS:
        return src.take(items, what)
    src.skip(items.size, what)
    return GgufArray(name, count)


def _tensor_infos(
    src: _Source, count: int, alignment: int, u32: struct.Struct, u64: struct.Struct, e: str
) -> list[GgufTensor]:
    fname, tensors, seen, expected, start = src.filename, [], set(), 0, src.pos
    tail = [struct.Struct(f"{e}{n}QiQ") for n in range(GGML_MAX_DIMS + 1)]
    for index in range(count):
        src.tensors_left = count - index
        if index >= 16:
            src.tensor_avg = (src.pos - start) / index
        raw = src.string(f"tensor info {index:,}", u64)
        name = raw.decode("utf-8", "replace")
        what = f"tensor '{_short(name)}'"
        if len(raw) >= GGML_MAX_NAME:
            raise MalformedHeader(
                f"{fname}: {what} has a name of {len(raw)} bytes (llama.cpp allows {GGML_MAX_NAME - 1})"
            )
        if name in seen:
            raise MalformedHeader(f"{fname}: GGUF header has {what} twice")
        seen.add(name)
        (n_dims,) = src.take(u32, what)
        if n_dims > GGML_MAX_DIMS:
            raise MalformedHeader(f"{fname}: {what} has {n_dims} dimensions (ggml allows {GGML_MAX_DIMS})")
        *dims, code, offset = src.take(tail[n_dims], what)
        if any(d >= _I64 for d in dims) or math.prod(dims) >= _I64:
            raise MalformedHeader(f"{fname}: {what} declares an impossible shape {dims}")
        gtype = gt.GGML_TYPES.get(code)
        if gtype is None:
            gone = (
                f" ({gt.REMOVED_GGML_TYPES[code]}, removed from ggml)"
                if code in gt.REMOVED_GGML_TYPES
                else ""
            )
            raise MalformedHeader(f"{fname}: {what} has unknown ggml type {code}{gone}")
        ne0 = dims[0] if dims else 1
        if ne0 % gtype.block_size:
            raise MalformedHeader(
                f"{fname}: {what} rows of {ne0} do not fill {gtype.name} blocks of {gtype.block_size}"
            )
        numel = math.prod(dims)
        nbytes = ne0 // gtype.block_size * gtype.type_size * (numel // ne0) if numel else 0
        if offset != expected:  # gguf.cpp: every tensor starts where the previous one's padding ends
            problem = (
                "is not a multiple of the alignment"
                if offset % alignment
                else "overlaps the previous tensor"
                if offset < expected
                else "leaves a gap"
            )
            raise MalformedHeader(
                f"{fname}: {what} has data offset {offset:,}, which {problem} (expected {expected:,})"
            )
        expected += -(-nbytes // alignment) * alignment
        tensors.append(GgufTensor(name, code, tuple(dims), offset, numel, nbytes))
    return tensors
