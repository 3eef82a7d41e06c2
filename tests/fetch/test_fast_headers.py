"""The fast header path (fetch/fast_headers.py) against the reference parser: the same answer, or none.

The fast path may leave any input to the reference parser (None), but whenever it answers, its file must
equal the reference's: names, metadata, bytes, every tensor and the summary. Here on every header and
answer of the fixture Hub, on hand-made hostile cases, and fuzzed.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubvram.errors import MalformedHeader
from hubvram.fetch import fast_headers
from hubvram.fetch.safetensors import header_length, parse_header, sharded_files
from hubvram.fetch.safetensors_types import (
    DTYPE_BITS,
    NAMED_SUFFIXES,
    QUANT_AUX_SUFFIXES,
    RULE_SUFFIXES,
    SafetensorsFile,
    summarize,
)
from hubvram.testing.repos import parse_safetensors_header

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hub"
HEADERS = sorted(FIXTURES.glob("*/*/files/**/*.safetensors.header"))
SHARDED = sorted(p.parent for p in FIXTURES.glob("*/*/files/model.safetensors.index.json"))


def reference(raw: bytes, file_size: int | None = None) -> SafetensorsFile | str:
    try:
        return parse_header(raw, "f.safetensors", file_size, fast=False)
    except MalformedHeader as exc:
        return str(exc)


def fast(raw: bytes, file_size: int | None = None) -> SafetensorsFile | None:
    """The fast path alone, its own errors not hidden (parse_header falls back on any), after the checks
    of the length prefix that parse_header makes first."""
    try:
        length = header_length(raw, "f.safetensors", file_size)
    except MalformedHeader:
        return None
    if len(raw) < 8 + length:
        return None
    data_size = None if file_size is None else file_size - 8 - length
    return fast_headers.header_file(raw[8 : 8 + length], "f.safetensors", data_size, 8 + length)


def assert_same(quick: SafetensorsFile, slow: SafetensorsFile) -> None:
    assert quick == slow  # name, metadata, header bytes, summary
    assert quick.tensors == slow.tensors
    assert quick.summary == summarize(slow.tensors)


def raw_header(document: object, *, pad: bool = True) -> bytes:
    body = document if isinstance(document, bytes) else json.dumps(document, separators=(",", ":")).encode()
    if pad:
        body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body)) + body


def nbytes(dtype: str, shape: list[int]) -> int:
    return (math.prod(shape) * DTYPE_BITS.get(dtype, 8) + 7) // 8


def answer(headers: dict) -> bytes:
    return json.dumps({"index": {"metadata": {}}, "headers": headers}, separators=(",", ":")).encode()


# -------------------------------------------------------------------------------------- the fixtures


@pytest.mark.parametrize("path", HEADERS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_fixture_header_takes_the_fast_path_to_the_same_file(path):
    raw = path.read_bytes()
    slow = reference(raw)
    if isinstance(slow, str):  # the hostile fixtures: the fast path must leave them to the reference
        assert fast(raw) is None
        return
    quick = fast(raw)
    assert quick is not None, "a header as written must not need the reference parser"
    assert_same(quick, slow)


@pytest.mark.parametrize("files", SHARDED, ids=lambda p: str(p.parent.relative_to(FIXTURES)))
def test_every_fixture_answer_takes_the_fast_path_to_the_same_files(files):
    index = json.loads((files / "model.safetensors.index.json").read_text())
    shards = sorted(set(index.get("weight_map", {}).values()))
    if not shards or not all((files / f"{s}.header").is_file() for s in shards):
        pytest.skip("no safetensors shards")
    raw = answer({s: parse_safetensors_header((files / f"{s}.header").read_bytes()) for s in shards})
    quick, slow = fast_headers.answer_files(raw), sharded_files(raw, fast=False)
    assert quick is not None and slow is not None and len(quick) == len(slow)
    for a, b in zip(quick, slow, strict=True):
        assert_same(a, b)


# ------------------------------------------------------------------------------- cases by hand

ENTRY = {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}

LEFT_TO_THE_REFERENCE = {
    "a name twice": b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},'
    b'"a":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}',
    "the same name and offsets twice": b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},'
    b'"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "an empty entry, then the name again": b'{"a":{},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "a field twice": b'{"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "metadata twice": b'{"__metadata__":{"a":"b"},"__metadata__":{"a":"c"},'
    b'"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "a metadata key twice": b'{"__metadata__":{"a":"b","a":"c"},'
    b'"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "metadata not strings": b'{"__metadata__":{"a":1},"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "metadata null": b'{"__metadata__":null,"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "a nested object": b'{"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4],"x":{"y":1,"y":2}}}',
    "an escaped name": b'{"\\u0061":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "an escaped field": b'{"a":{"dtype":"F16","shape":[2],"data_offset\\u0073":[0,4]}}',
    "NaN": b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4],"x":NaN}}',
    "an empty name": b'{"":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "an empty tensor inside another": b'{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},'
    b'"b":{"dtype":"F16","shape":[0],"data_offsets":[2,2]}}',
    "overlap out of order": b'{"b":{"dtype":"F16","shape":[2],"data_offsets":[2,6]},'
    b'"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "a float dimension": b'{"a":{"dtype":"F16","shape":[2.0],"data_offsets":[0,4]}}',
    "a bool offset": b'{"a":{"dtype":"F16","shape":[1],"data_offsets":[false,2]}}',
    "three offsets": b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4,8]}}',
    "a huge dimension": b'{"a":{"dtype":"F16","shape":[1234567890123456789012345],"data_offsets":[0,4]}}',
    "too many elements": b'{"a":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,4]}}',
    "no dtype": b'{"a":{"shape":[2],"data_offsets":[0,4]}}',
    "no shape": b'{"a":{"dtype":"F16","data_offsets":[0,4]}}',
    "bytes that do not fit": b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,5]}}',
    "an array": b"[1,2]",
    "a brace in a name": b'{"a{":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
    "not UTF-8": b'{"\xff":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}',
}


@pytest.mark.parametrize("case", sorted(LEFT_TO_THE_REFERENCE))
def test_what_the_fast_path_cannot_judge_alone_it_leaves_to_the_reference(case):
    raw = raw_header(LEFT_TO_THE_REFERENCE[case])
    assert fast(raw) is None
    slow = reference(raw)
    quick_or_slow = parse_header(raw, "f.safetensors") if not isinstance(slow, str) else None
    assert quick_or_slow is None or quick_or_slow == slow


def test_a_header_out_of_order_and_with_every_kind_of_tensor_is_summed_as_the_reference_sums():
    names = [
        ("model.layers.0.mlp.down_proj.weight", "BF16", [4, 2]),
        ("model.layers.0.mlp.down_proj.weight_scale_inv", "F32", [1, 1]),
        ("model.embed_tokens.weight", "BF16", [8, 2]),
        ("lm_head.weight", "BF16", [8, 2]),
        ("model.rotary_emb.inv_freq", "F32", [4]),
        ("h.0.attn.bias", "F32", [1, 1, 2, 2]),
        ("model.layers.0.q_proj.qweight", "I32", [2, 2]),
        ("model.layers.0.q_proj.scales", "F16", [2]),
        ("model.layers.0.q_proj.biases", "F16", [2]),
        ("model.layers.0.weight.quant_state.bitsandbytes__nf4", "U8", [3]),
        ("model.layers.0.f4", "F4", [3]),
        ("model.layers.0.empty", "BF16", [0]),
        ("model.layers.0.gate.weight", "F32", [2, 2]),
    ]
    header, offset = {}, 0
    for name, dtype, shape in names:
        size = nbytes(dtype, shape)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    backwards = dict(reversed(list(header.items())))  # the data runs forwards, the header backwards
    for document in (header, backwards):
        raw = raw_header({"__metadata__": {"format": "pt"}, **document})
        quick, slow = fast(raw, file_size=len(raw) + offset), reference(raw, file_size=len(raw) + offset)
        assert quick is not None and not isinstance(slow, str)
        assert_same(quick, slow)
        assert {t.name for t in quick.summary.named} == {
            "model.embed_tokens.weight",
            "lm_head.weight",
            "model.rotary_emb.inv_freq",
            "h.0.attn.bias",
            "model.layers.0.q_proj.qweight",
        }


@pytest.mark.parametrize("ending", fast_headers.PLAIN_ENDINGS + fast_headers.AUX_ENDINGS)
def test_a_sure_ending_decides_the_kind_alone(ending):
    """A name ending in it ends in no rule's suffix (neither ends in the other: a string ending in both
    would need one to), except the aux endings, which are aux suffixes that end in no named one."""
    if ending in fast_headers.AUX_ENDINGS:
        assert ending in QUANT_AUX_SUFFIXES
        rules = NAMED_SUFFIXES + (".biases",)
    else:
        rules = RULE_SUFFIXES
    for suffix in rules:
        assert not ending.endswith(suffix) and not suffix.endswith(ending), (ending, suffix)


def test_an_answer_keeps_the_last_of_two_equal_names_as_the_reference_does():
    raw = (
        b'{"headers":{"s.safetensors":{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},'
        b'"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}}}'
    )
    quick, slow = fast_headers.answer_files(raw), sharded_files(raw, fast=False)
    assert quick is not None and slow is not None
    assert quick == slow and quick[0].tensors == slow[0].tensors
    assert [t.shape for t in quick[0].tensors] == [(4,)]


def test_an_answer_with_metadata_elsewhere_is_left_to_the_reference():
    header = {"__metadata__": {"format": "pt"}, "a": dict(ENTRY, x="__metadata__")}
    raw = answer({"s.safetensors": header})
    assert fast_headers.answer_files(raw) is None
    assert sharded_files(raw) == sharded_files(raw, fast=False)


# ------------------------------------------------------------------------------------------ fuzzing

names = st.sampled_from(
    ["a", "b", "lm_head.weight", "model.embed_tokens.weight", "x.inv_freq", "h.0.attn.bias", "q.qweight"]
    + ["w.scales", "w.biases", "up_proj.weight", "k.weight_scale_inv", "x.quant_state.y", "", "__metadata__"]
) | st.text(max_size=6)
dtypes = st.sampled_from(["F16", "BF16", "F32", "I32", "U8", "F8_E4M3", "F4", "F6_E2M3", "XX"])
shapes = st.lists(st.integers(min_value=0, max_value=5), max_size=3)


@st.composite
def headers(draw):
    """Headers as written (each tensor after the last, unique names), in order or not, and at most one
    fault: a name twice, a size off by one, a tensor placed anywhere, an unknown dtype."""
    fault = draw(st.sampled_from([None, None, None, None, "twice", "size", "anywhere", "dtype"]))
    entries, offset = [], 0
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        dtype, shape = draw(dtypes), draw(shapes)
        size = nbytes(dtype, shape)
        start = draw(st.integers(min_value=0, max_value=40)) if fault == "anywhere" else offset
        end = start + size + (draw(st.sampled_from([0, 1, -1])) if fault == "size" else 0)
        name = draw(names)
        name = name if fault == "twice" or name == "" else f"p{i}.{name}"
        if fault != "dtype" and dtype == "XX":
            dtype = "BF16"
        entries.append([name, {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}])
        offset = max(offset, end)
    if draw(st.booleans()):
        entries.reverse()
    if draw(st.booleans()):
        entries.insert(0, ["__metadata__", draw(st.dictionaries(st.text(max_size=3), st.text(max_size=3)))])
    body = "{" + ",".join(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) for k, v in entries)
    return raw_header((body + "}").encode()), offset


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=headers(), slack=st.none() | st.integers(min_value=-2, max_value=2))
def test_fuzzed_headers_fast_equals_reference_or_leaves_it(header, slack):
    raw, data = header
    file_size = None if slack is None else len(raw) + data + slack
    quick, slow = fast(raw, file_size), reference(raw, file_size)
    if quick is not None:
        assert not isinstance(slow, str), slow
        assert_same(quick, slow)
    if not isinstance(slow, str):  # and parse_header, fast first, gives what the reference gives
        assert parse_header(raw, "f.safetensors", file_size) == slow


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shards=st.lists(headers(), max_size=3))
def test_fuzzed_answers_fast_equals_reference_or_leaves_it(shards):
    documents = {}
    for i, (raw, _) in enumerate(shards):
        try:
            documents[f"m-{i}.safetensors"] = json.loads(raw[8:])
        except ValueError:
            continue
    raw = answer(documents)
    try:
        slow = sharded_files(raw, fast=False)
    except MalformedHeader as exc:
        slow = str(exc)
    quick = fast_headers.answer_files(raw)
    if quick is not None:
        assert not isinstance(slow, str) and slow is not None
        assert len(quick) == len(slow)
        for a, b in zip(quick, slow, strict=True):
            assert_same(a, b)
