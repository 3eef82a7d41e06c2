"""The fast path for safetensors headers: msgspec typed decoding, checks by column, summaries built at once.

safetensors.py's parser checks one tensor at a time in Python, ~2 us each: 0.2 s for DeepSeek-V3's 92,000
tensors. Here msgspec (https://jcristharif.com/msgspec/) decodes each header straight into small records,
checking types, signs and ranks on the way in C, and the rules left (dtype known, bytes = elements x
bits, no overlap, inside the file) run over whole columns at once (map, sorted, all: no Python frame per
tensor). The result is the reference parser's result, or None: any input this path is not certain to
judge exactly as the reference does (a backslash anywhere, a name twice, a field of an unexpected type, a
broken rule) goes to the reference parser, which then says what is wrong in its one-line message. So
every hostile-input guarantee is the reference parser's own. tests/fetch/test_fast_headers.py fuzzes
both against each other.

Single headers (parse_header) refuse a name given twice; json and msgspec would keep the last. Without a
backslash, every `{` outside strings opens an object, so a header with one `{` per member plus its own
has no repeated member (each repeat's value is an object too), and one "dtype", "shape" and
"data_offsets" per tensor means no field given twice. The one-request answer is decoded by json.loads in
the reference, which keeps the last of two equal names: msgspec's dicts do the same.
"""

from __future__ import annotations

import json
import math
from itertools import compress, islice, repeat
from operator import add, floordiv, le, mul, ne, not_, or_, sub
from typing import Annotated

import msgspec

from ..errors import printable as _short
from .safetensors_types import (
    DTYPE_BITS,
    MAX_COUNT,
    MAX_ELEMENTS,
    MAX_RANK,
    PACKED_DTYPES,
    QUANT_STATE,
    RULE_SUFFIXES,
    SafetensorsFile,
    TensorInfo,
    TensorSummary,
    groups_of,
    kind_of,
)

_new_tuple = tuple.__new__

_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class _Entry(msgspec.Struct, gc=False):
    """One member of a header. Defaults, so that __metadata__ ({"format": "pt"}) decodes too."""

    dtype: str | None = None
    shape: Annotated[tuple[_Count, ...], msgspec.Meta(max_length=MAX_RANK)] | None = None
    data_offsets: tuple[_Count, _Count] | None = None


class _Answer(msgspec.Struct, gc=False):
    headers: dict[str, dict[str, _Entry]]


_HEADER = msgspec.json.Decoder(dict[str, _Entry])
_ANSWER = msgspec.json.Decoder(_Answer)
_DECLINED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError, TypeError, OverflowError)
_METADATA_KEY = b'"__metadata__"'
_QUANT_STATE = QUANT_STATE.encode()
# Name endings that decide a tensor's kind alone (tests/fetch/test_fast_headers.py proves it against every
# rule suffix): plain weights (unless stored packed) and FP8 scales (quantization side tensors).
PLAIN_ENDINGS = ("_proj.weight",)
AUX_ENDINGS = ("weight_scale_inv",)
_KIND_NAMES = ("", "aux", "biases")
_KIND_CODES = {kind: code for code, kind in enumerate(_KIND_NAMES)}
_NAMED = 3
# Bytes per element of each dtype; 0 for the sub-byte ones (F4, F6), whose tensors round up to whole bytes.
_BYTES = {dtype: bits // 8 if bits % 8 == 0 else 0 for dtype, bits in DTYPE_BITS.items()}
_SUB_BYTE = frozenset(dtype for dtype, width in _BYTES.items() if width == 0)


def header_file(
    body: bytes, filename: str, data_size: int | None, header_bytes: int
) -> SafetensorsFile | None:
    """The checked file of a header's JSON (the N bytes after the prefix), or None: ask the reference."""
    if b"\\" in body:
        return None
    try:
        document = _HEADER.decode(body)
    except _DECLINED:
        return None
    tensors = len(document) - ("__metadata__" in document)
    if (
        body.count(b"{") != 1 + len(document)
        or body.count(b'"dtype"') != tensors
        or body.count(b'"shape"') != tensors
        or body.count(b'"data_offsets"') != tensors
    ):
        return None  # a name or a field twice, a nested object, a brace in a string: let the reference say
    metadata: tuple = ()
    if "__metadata__" in document:
        del document["__metadata__"]
        spans = _metadata_spans(body)
        if spans is None or len(spans) != 1:
            return None
        metadata = _metadata(body, spans[0], strict=True)
        if metadata is None:
            return None
    return _file(document, filename, data_size, header_bytes, metadata, _QUANT_STATE in body)


def answer_files(raw: bytes) -> tuple[SafetensorsFile, ...] | None:
    """The checked files of a safetensors-metadata answer, or None: ask the reference (sharded_files)."""
    if b"\\" in raw:
        return None
    try:
        headers = _ANSWER.decode(raw).headers
    except _DECLINED:
        return None
    with_metadata = [name for name, header in headers.items() if "__metadata__" in header]
    spans = _metadata_spans(raw) if with_metadata else []
    if spans is None or len(spans) != len(with_metadata):
        return None  # "__metadata__" somewhere else too: the reference reads it as it must
    metadata = {}
    for name, span in zip(with_metadata, spans, strict=True):
        value = _metadata(raw, span, strict=False)
        if value is None:
            return None
        metadata[name] = value
    members = sum(len(h) for h in headers.values()) or 1
    quant_state = _QUANT_STATE in raw
    files = []
    for shard, document in sorted(headers.items()):
        share = len(raw) * len(document) // members  # each file's share of the answer, as the reference
        document.pop("__metadata__", None)
        made = _file(document, _short(str(shard)), None, share, metadata.get(shard, ()), quant_state)
        if made is None:
            return None
        files.append(made)
    return tuple(files)


def _metadata_spans(raw: bytes) -> list[tuple[int, int]] | None:
    """(start, end) of the object after every "__metadata__" key (no backslash in raw: each occurrence is a
    whole string), or None when one is not a key followed by an object."""
    spans = []
    at = raw.find(_METADATA_KEY)
    while at >= 0:
        start = at + len(_METADATA_KEY)
        while raw[start : start + 1] in (b" ", b"\t", b"\n", b"\r"):
            start += 1
        if raw[start : start + 1] != b":":
            return None
        start += 1
        while raw[start : start + 1] in (b" ", b"\t", b"\n", b"\r"):
            start += 1
        if raw[start : start + 1] != b"{":
            return None
        end = raw.find(b"}", start)  # a flat object's end; a `}` in a string or a nested object: no JSON
        if end < 0:
            return None
        spans.append((start, end + 1))
        at = raw.find(_METADATA_KEY, end)
    return spans


def _metadata(raw: bytes, span: tuple[int, int], *, strict: bool) -> tuple[tuple[str, str], ...] | None:
    """The metadata object's items as the reference parses them, or None (then the reference decides)."""

    def no_duplicates(pairs: list) -> dict | None:
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError("a name twice")
        return result

    try:
        text = raw[span[0] : span[1]].decode("utf-8")
        value = json.loads(text, object_pairs_hook=no_duplicates) if strict else json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not all(type(v) is str for v in value.values()):
        return None
    return tuple(sorted(value.items()))


def _file(
    document: dict,
    filename: str,
    data_size: int | None,
    header_bytes: int,
    metadata: tuple,
    quant_state: bool,  # whether ".quant_state." occurs anywhere in the input (bitsandbytes)
) -> SafetensorsFile | None:
    """Check every tensor of a decoded header by columns and build its file, or None if any rule fails.

    List comprehensions and map() over whole columns: 3.11 runs them without a Python call per tensor.
    """
    if "" in document:
        return None
    entries = list(document.values())
    dtypes = [e.dtype for e in entries]
    shapes = [e.shape for e in entries]
    offsets = [e.data_offsets for e in entries]
    present = set(dtypes)
    if not present <= _BYTES.keys():
        return None  # an unknown dtype, or none given
    try:
        numels = list(map(math.prod, shapes))
        starts = [o[0] for o in offsets]
        ends = [o[1] for o in offsets]
    except TypeError:
        return None  # a shape or data_offsets missing
    if numels and max(numels) > MAX_ELEMENTS:
        return None
    nbytes = _nbytes(dtypes, present, numels)
    if list(map(sub, ends, starts)) != nbytes:
        return None  # bytes that do not fit the shape (or offsets that run backwards)
    if not _laid_out(starts, ends, 0 in numels, data_size):
        return None
    names = list(document)
    summary = _summary(names, dtypes, present, shapes, numels, nbytes, starts, ends, quant_state)

    def tensors() -> tuple[TensorInfo, ...]:
        columns = zip(names, dtypes, shapes, starts, ends, strict=True)
        return tuple(map(_new_tuple, repeat(TensorInfo), columns))

    return SafetensorsFile(filename, None, metadata, header_bytes, summary=summary, source=tensors)


def _nbytes(dtypes: list[str], present: set[str], numels: list[int]) -> list[int]:
    """Bytes each tensor needs: elements x bytes per element, or ceil(elements x bits / 8) (F4, F6)."""
    if len(present) == 1 and (width := _BYTES[dtypes[0]]):
        return [numel * width for numel in numels]
    if _SUB_BYTE.isdisjoint(present):
        return list(map(mul, numels, map(_BYTES.__getitem__, dtypes)))
    bits = map(DTYPE_BITS.__getitem__, dtypes)
    return list(map(floordiv, map(add, map(mul, numels, bits), repeat(7)), repeat(8)))


def _laid_out(starts: list[int], ends: list[int], any_empty: bool, data_size: int | None) -> bool:
    """No two tensors overlap and all lie inside the data section (the reference's _check_layout).

    Headers as written list tensors in offset order: then each end at or before the next start is the
    whole check (starts <= ends is known). Otherwise, with no empty tensor, intervals are disjoint iff
    the sorted ends and sorted starts interleave; an empty tensor inside another is an overlap to the
    reference: then sort the pairs, as it does.
    """
    if not starts:
        return True
    if ends[:-1] == starts[1:] or all(map(le, ends, islice(starts, 1, None))):  # back to back, or in order
        return data_size is None or ends[-1] <= data_size
    if any_empty:
        pairs = sorted(zip(starts, ends, strict=True))
        flat = [v for pair in pairs for v in pair]
        return all(map(le, flat, islice(flat, 1, None))) and (data_size is None or flat[-1] <= data_size)
    ordered_starts, ordered_ends = sorted(starts), sorted(ends)
    if not all(map(le, ordered_ends, islice(ordered_starts, 1, None))):
        return False
    return data_size is None or ordered_ends[-1] <= data_size


def _summary(names, dtypes, present, shapes, numels, nbytes, starts, ends, quant_state) -> TensorSummary:
    """summarize() by columns: the tensors a rule names one by one, the rest summed per dtype and kind.

    Most headers hold one dtype of plain weights (and maybe an embedding): one group, totals less the
    named tensors. Others, as written, list tensors by dtype, then name, so tensors of one dtype and
    kind come in runs, each summed by slices; a header in another order is summed tensor by tensor.
    """
    n = len(names)
    if n == 0:
        return TensorSummary((), (), 0)
    kinds, named = _kinds(names, dtypes, shapes, starts, ends, quant_state)
    sums: dict[tuple[str, str], list[int]] = {}
    if len(present) == 1 and kinds.count(0) + len(named) == n:
        if n > len(named):
            numel = sum(numels) - sum(t.numel for t in named)
            size = sum(nbytes) - sum(t.nbytes for t in named)
            sums[(dtypes[0], "")] = [n - len(named), numel, size]
        return TensorSummary(groups_of(sums), tuple(named), max(ends, default=0))
    runs = [0, *_changes(dtypes, kinds), n]
    if len(runs) <= 2 + n // 8:
        for start, end in zip(runs, islice(runs, 1, None), strict=False):
            code = kinds[start]
            if code != _NAMED:
                acc = sums.setdefault((dtypes[start], _KIND_NAMES[code]), [0, 0, 0])
                acc[0] += end - start
                acc[1] += sum(numels[start:end])
                acc[2] += sum(nbytes[start:end])
    else:
        for code, dtype, numel, size in zip(kinds, dtypes, numels, nbytes, strict=True):
            if code != _NAMED:
                acc = sums.setdefault((dtype, _KIND_NAMES[code]), [0, 0, 0])
                acc[0] += 1
                acc[1] += numel
                acc[2] += size
    return TensorSummary(groups_of(sums), tuple(named), max(ends, default=0))


def _kinds(names, dtypes, shapes, starts, ends, quant_state) -> tuple[list[int], list[TensorInfo]]:
    """Each tensor's kind code (0 plain, 1 aux, 2 biases, _NAMED) and the named tensors, in order.

    By suffix over whole columns: a name in PLAIN_ENDINGS or AUX_ENDINGS is sure (no rule's suffix ends
    in one of them, nor one in a rule's: tests/fetch/test_fast_headers.py); kind_of decides the few
    others a rule's suffix, a packed dtype or bitsandbytes state makes it look at.
    """
    n = len(names)
    kinds = [0] * n
    exact: list[int] = []
    plain = list(map(str.endswith, names, repeat(PLAIN_ENDINGS)))
    if False in plain:
        rest = list(compress(range(n), map(not_, plain)))
        aux = list(map(str.endswith, map(names.__getitem__, rest), repeat(AUX_ENDINGS)))
        for i in compress(rest, aux):
            kinds[i] = 1
        if False in aux:
            rest = list(compress(rest, map(not_, aux)))
            exact = list(
                compress(rest, map(str.endswith, map(names.__getitem__, rest), repeat(RULE_SUFFIXES)))
            )
    if not PACKED_DTYPES.isdisjoint(dtypes):
        exact += compress(range(n), map(PACKED_DTYPES.__contains__, dtypes))
    if quant_state:
        exact += compress(range(n), map(str.__contains__, names, repeat(QUANT_STATE)))
    named = []
    for i in sorted(set(exact)):
        kind = kind_of(names[i], dtypes[i])
        kinds[i] = _NAMED if kind is None else _KIND_CODES[kind]
        if kind is None:
            named.append(_new_tuple(TensorInfo, (names[i], dtypes[i], shapes[i], starts[i], ends[i])))
    return kinds, named


def _changes(dtypes: list[str], kinds: list[int]) -> list[int]:
    """Positions where the dtype or the kind differs from the tensor before."""
    dtype_changes = map(ne, dtypes, islice(dtypes, 1, None))
    kind_changes = map(ne, kinds, islice(kinds, 1, None))
    return list(compress(range(1, len(dtypes)), map(or_, dtype_changes, kind_changes)))
