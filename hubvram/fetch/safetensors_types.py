"""The types of a parsed safetensors header, and what the estimate keeps of it: a summary.

Format (https://huggingface.co/docs/safetensors/index#format): 8 bytes little-endian header length N,
then N bytes of JSON mapping tensor names to {dtype, shape, data_offsets}, with an optional
"__metadata__" object of strings; the tensor data follows. safetensors.py parses and checks it.

A 512-expert MoE declares 76,000 tensors; the counting rules (model/counting.py) look at a tensor's name
only to find buffers, tied or quantized storage, embeddings and heads. So a header is kept as
  groups  per (dtype, kind): how many tensors, their elements and bytes, where kind is "" (plain weights),
          "aux" (quantization scales and zero points) or "biases" (an MLX model's scale partners);
  named   every tensor a rule names (buffers, embeddings, heads) or unpacks (packed integer storage),
          in full, in the header's order.
Counting a summary gives what counting every tensor gives, by construction (tests/model compare both on
every fixture repo). It is what the cache keeps and what a worker process sends back: ~200 bytes per
file, not the header.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

PREFIX_BYTES = 8
MAX_RANK = 16
MAX_ELEMENTS = 2**53  # far beyond any real tensor; keeps products and sums exact and bounded
MAX_COUNT = MAX_ELEMENTS * 8  # the largest dimension or offset accepted
# Bits per element of every dtype the safetensors format defines (safetensors/src/tensor.rs Dtype).
DTYPE_BITS: Mapping[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

# Stored tensors that are buffers, not parameters: rotary frequencies (Llama-2's inv_freq), GPT-2's
# causal-mask buffers (attn.bias / attn.masked_bias, 4-D), BERT's position_ids.
BUFFER_SUFFIXES = ("rotary_emb.inv_freq", ".inv_freq", "position_ids", "token_type_ids", "rope.freqs")
MASK_BUFFER_SUFFIXES = (".attn.bias", ".attn.masked_bias")
# Quantization side tensors: GPTQ/AWQ scales and zero points, FP8 scales, bitsandbytes state, MXFP4 scales.
QUANT_AUX_SUFFIXES = (
    ".scales",
    ".qzeros",
    ".g_idx",
    "weight_scale",
    "weight_scale_inv",
    "input_scale",
    "output_scale",
    "k_scale",
    "v_scale",
    ".absmax",
    ".quant_map",
    ".nested_absmax",
    ".nested_quant_map",
    ".SCB",
    ".weight_format",
    "_scales",
)
QUANT_STATE = ".quant_state."  # bitsandbytes: weight.quant_state.bitsandbytes__nf4 and friends
EMBEDDING_SUFFIXES = (
    "embed_tokens.weight",
    "wte.weight",
    "word_embeddings.weight",
    "shared.weight",
    "embed_in.weight",
    "tok_embeddings.weight",  # Meta's and Mistral's native names
)
LM_HEAD_SUFFIXES = ("lm_head.weight", "embed_out.weight")
LM_HEAD_NAMES = frozenset({"output.weight"})  # native checkpoints: the whole name, not a suffix
MLX_BIASES = ".biases"  # MLX: the offsets beside `.scales` (quantization data, not parameters)
PACKED_DTYPES = frozenset({"I32", "U32", "U8"})  # storage counting may unpack (GPTQ/AWQ, MLX, MXFP4, bnb)

# A name ending in one of these is kept in full (named): what the buffer and tied-head rules look at.
# "output.weight" as a suffix keeps a few more than LM_HEAD_NAMES needs, which costs nothing but room.
NAMED_SUFFIXES = BUFFER_SUFFIXES + MASK_BUFFER_SUFFIXES + EMBEDDING_SUFFIXES + LM_HEAD_SUFFIXES
NAMED_SUFFIXES += tuple(LM_HEAD_NAMES)
# Every suffix any rule tests: a name ending in none of them is a plain weight (unless its dtype is packed).
RULE_SUFFIXES = NAMED_SUFFIXES + QUANT_AUX_SUFFIXES + (MLX_BIASES,)
KINDS = ("", "aux", "biases")


class TensorInfo(NamedTuple):
    """One tensor as a safetensors header declares it.

    A NamedTuple, not a frozen dataclass: it is just as immutable and builds 4x faster, which counts
    at DeepSeek-V3's 92,000 tensors per model.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.start


class TensorGroup(NamedTuple):
    """Tensors of one dtype and kind that no rule names: how many, their elements and their bytes."""

    dtype: str
    kind: str  # "" plain weights, "aux" quantization side tensors, "biases" MLX offsets
    count: int
    numel: int
    nbytes: int


def kind_of(name: str, dtype: str) -> str | None:
    """The group a tensor joins, or None when a rule needs it by name (kept in full)."""
    if name.endswith(NAMED_SUFFIXES):
        return None
    if name.endswith(QUANT_AUX_SUFFIXES) or QUANT_STATE in name:
        return "aux"  # counted as bytes whatever its dtype: before any unpacking
    if dtype in PACKED_DTYPES:
        return None
    return "biases" if name.endswith(MLX_BIASES) else ""


@dataclass(frozen=True)
class TensorSummary:
    """A header's tensors as the estimate needs them (see the module docstring)."""

    groups: tuple[TensorGroup, ...]  # sorted by (dtype, kind)
    named: tuple[TensorInfo, ...]  # in the header's order
    data_bytes: int  # the end of the last tensor: the data section the header declares

    @property
    def tensor_count(self) -> int:
        return sum(g.count for g in self.groups) + len(self.named)

    @property
    def numel(self) -> int:
        return sum(g.numel for g in self.groups) + sum(t.numel for t in self.named)

    @property
    def nbytes(self) -> int:
        return sum(g.nbytes for g in self.groups) + sum(t.nbytes for t in self.named)

    def stored_by_dtype(self) -> dict[str, int]:
        """Elements per dtype over every tensor, as the Hub counts them."""
        stored: dict[str, int] = {}
        for g in self.groups:
            stored[g.dtype] = stored.get(g.dtype, 0) + g.numel
        for t in self.named:
            stored[t.dtype] = stored.get(t.dtype, 0) + t.numel
        return stored


def summarize(tensors: Iterable[TensorInfo]) -> TensorSummary:
    """The summary of checked tensors, one at a time (the reference the fast path must equal)."""
    sums: dict[tuple[str, str], list[int]] = {}
    named = []
    data_bytes = 0
    for tensor in tensors:
        name, dtype, shape, start, end = tensor
        data_bytes = max(data_bytes, end)
        kind = kind_of(name, dtype)
        if kind is None:
            named.append(tensor)
            continue
        acc = sums.setdefault((dtype, kind), [0, 0, 0])
        acc[0] += 1
        acc[1] += math.prod(shape)
        acc[2] += end - start
    return TensorSummary(groups_of(sums), tuple(named), data_bytes)


def groups_of(sums: Mapping[tuple[str, str], list[int]]) -> tuple[TensorGroup, ...]:
    return tuple(TensorGroup(d, k, c, n, b) for (d, k), (c, n, b) in sorted(sums.items()))


class TensorsNotKept(LookupError):
    """A file from hubvram's cache or a worker process keeps its summary, not every tensor."""


class SafetensorsFile:
    """The parsed header of one .safetensors file (no tensor data): its summary, and its tensors while they
    are at hand (a header parsed in this process: built on first use; a cached one keeps none).

    SafetensorsFile(filename, tensors, metadata, header_bytes) builds one from checked tensors; the fast
    parser passes `summary` and a `source` of the tensors instead. Equal files have equal summaries.
    """

    __slots__ = ("filename", "metadata", "header_bytes", "_tensors", "_summary", "_source")

    def __init__(
        self,
        filename: str,
        tensors: tuple[TensorInfo, ...] | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
        header_bytes: int = 0,  # 8 + N: what reading this header cost
        *,
        summary: TensorSummary | None = None,
        source: Callable[[], tuple[TensorInfo, ...]] | None = None,
    ) -> None:
        if tensors is None and summary is None and source is None:
            tensors = ()
        self.filename = filename
        self.metadata = metadata
        self.header_bytes = header_bytes
        self._tensors = tensors
        self._summary = summary
        self._source = source

    @property
    def tensors(self) -> tuple[TensorInfo, ...]:
        if self._tensors is None:
            if self._source is None:
                raise TensorsNotKept(f"{self.filename}: only the summary of its tensors was kept")
            self._tensors, self._source = self._source(), None
        return self._tensors

    @property
    def summary(self) -> TensorSummary:
        if self._summary is None:
            self._summary = summarize(self.tensors)
        return self._summary

    @property
    def data_bytes(self) -> int:
        return self.summary.data_bytes

    @property
    def tensor_count(self) -> int:
        return self.summary.tensor_count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SafetensorsFile):
            return NotImplemented
        mine = (self.filename, self.metadata, self.header_bytes, self.summary)
        return mine == (other.filename, other.metadata, other.header_bytes, other.summary)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SafetensorsFile({self.filename!r}, {self.tensor_count} tensors, "
            f"header_bytes={self.header_bytes})"
        )
