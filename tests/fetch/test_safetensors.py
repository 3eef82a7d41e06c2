"""The safetensors header parser: real headers parse, hostile ones end in one MalformedHeader."""

from __future__ import annotations

import gc
import json
import struct
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubvram.errors import MalformedHeader
from hubvram.fetch.decode import gc_paused
from hubvram.fetch.limits import GC_PAUSE_BYTES, MAX_HEADER_BYTES
from hubvram.fetch.safetensors import parse_header


def raw_header(document: object, *, length: int | None = None, pad: bool = True) -> bytes:
    body = document if isinstance(document, bytes) else json.dumps(document, separators=(",", ":")).encode()
    if pad:
        body += b" " * (-len(body) % 8)
    return struct.pack("<Q", len(body) if length is None else length) + body


def test_real_header_as_safetensors_writes_it():
    import numpy as np
    from safetensors.numpy import save

    # The safetensors library's own writer: what a repo holds, byte for byte.
    blob = save({"w": np.zeros((2, 3), np.float16), "b": np.zeros(3, np.float32)}, metadata={"format": "pt"})
    (length,) = struct.unpack("<Q", blob[:8])
    parsed = parse_header(blob[: 8 + length], "model.safetensors", file_size=len(blob))
    assert {t.name: (t.dtype, t.shape, t.nbytes) for t in parsed.tensors} == {
        "w": ("F16", (2, 3), 12),
        "b": ("F32", (3,), 12),
    }
    assert dict(parsed.metadata) == {"format": "pt"}
    assert parsed.header_bytes == 8 + length
    assert parsed.data_bytes == 24


def test_sub_byte_and_fp8_dtypes():
    doc = {
        "a": {"dtype": "F8_E4M3", "shape": [4, 4], "data_offsets": [0, 16]},
        "b": {"dtype": "F4", "shape": [3], "data_offsets": [16, 18]},
    }
    parsed = parse_header(raw_header(doc), "x.safetensors")
    assert [t.numel for t in parsed.tensors] == [16, 3]


HOSTILE = {
    "length past the file": (raw_header({}, length=1000), 50, "declares 1,000 bytes but the file has 50"),
    "length over the cap": (
        raw_header({}, length=MAX_HEADER_BYTES + 1),
        None,
        "over the 25,000,000-byte cap",
    ),
    "length zero": (raw_header({}, length=0), None, "header length is 0"),
    "declared 3 GB": (raw_header({}, length=3 * 10**9), None, "over the 25,000,000-byte cap"),
    "truncated json": (raw_header(b'{"a": {"dtype": "F16"', pad=False), None, "not valid JSON"),
    "json array": (raw_header([1, 2, 3]), None, "not an object"),
    "duplicate names": (
        raw_header(
            b'{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},'
            b'"a":{"dtype":"F16","shape":[1],"data_offsets":[2,4]}}'
        ),
        None,
        "names 'a' twice",
    ),
    "unknown dtype": (
        raw_header({"a": {"dtype": "F12", "shape": [1], "data_offsets": [0, 2]}}),
        None,
        "unknown dtype",
    ),
    "negative shape": (
        raw_header({"a": {"dtype": "F16", "shape": [-1], "data_offsets": [0, 2]}}),
        None,
        "shape",
    ),
    "float shape": (
        raw_header({"a": {"dtype": "F16", "shape": [1.5], "data_offsets": [0, 2]}}),
        None,
        "shape",
    ),
    "overflowing shape": (
        raw_header({"a": {"dtype": "F16", "shape": [2**40, 2**40], "data_offsets": [0, 2]}}),
        None,
        "impossible",
    ),
    "overlapping offsets": (
        raw_header(
            {
                "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
                "b": {"dtype": "F16", "shape": [2], "data_offsets": [2, 6]},
            }
        ),
        None,
        "overlaps",
    ),
    "backwards offsets": (
        raw_header({"a": {"dtype": "F16", "shape": [0], "data_offsets": [4, 2]}}),
        None,
        "backwards",
    ),
    "offsets past the file": (
        raw_header({"a": {"dtype": "F16", "shape": [8], "data_offsets": [0, 16]}}),
        8 + 8 + 40 + 8,
        "past the end",
    ),
    "size does not match shape": (
        raw_header({"a": {"dtype": "F16", "shape": [8], "data_offsets": [0, 10]}}),
        None,
        "needs 16",
    ),
    "metadata not an object": (raw_header({"__metadata__": [1]}), None, "__metadata__"),
    "metadata values not strings": (raw_header({"__metadata__": {"a": 1}}), None, "__metadata__"),
    "nan in json": (raw_header(b'{"a":NaN}'), None, "not valid JSON"),
    "deep nesting": (raw_header(b"[" * 100_000 + b"]" * 100_000), None, "not valid JSON"),
    "not utf-8": (raw_header(b'{"\xff":1}'), None, "not valid JSON"),
    "too short": (b"\x01\x02", None, "too short"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers_end_in_one_clear_error(case):
    raw, file_size, expected = HOSTILE[case]
    with pytest.raises(MalformedHeader) as info:
        parse_header(raw, "model-00001.safetensors", file_size=file_size)
    message = str(info.value)
    assert message.startswith("model-00001.safetensors: ")
    assert expected in message
    assert "\n" not in message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
tensor_entries = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from(["F16", "BF16", "F32", "I32", "U8", "F8_E4M3", "F4", "XX", ""])
        | json_values,
        "shape": st.lists(st.integers(min_value=-2, max_value=2**34), max_size=4) | json_values,
        "data_offsets": st.lists(st.integers(min_value=-2, max_value=2**36), max_size=3) | json_values,
    },
)
documents = st.dictionaries(st.text(max_size=12), tensor_entries | json_values, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, file_size=st.none() | st.integers(min_value=0, max_value=2**40))
def test_fuzzed_documents_parse_or_raise_malformed_header(document, file_size):
    try:
        parsed = parse_header(raw_header(document), "f.safetensors", file_size=file_size)
    except MalformedHeader as exc:
        assert str(exc).startswith("f.safetensors: ")
        return
    for tensor in parsed.tensors:
        assert tensor.nbytes >= 0 and tensor.numel >= 0


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300), file_size=st.none() | st.integers(min_value=0, max_value=2**40))
def test_fuzzed_bytes_parse_or_raise_malformed_header(raw, file_size):
    try:
        parse_header(raw, "f.safetensors", file_size=file_size)
    except MalformedHeader as exc:
        assert str(exc).startswith("f.safetensors: ")


BIG = GC_PAUSE_BYTES


def test_gc_paused_restores_the_collector_as_it_found_it():
    assert gc.isenabled()
    with gc_paused(BIG - 1):
        assert gc.isenabled()  # a small header is not worth a pause
    with gc_paused(BIG):
        assert not gc.isenabled()
        with gc_paused(BIG):
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused(BIG):
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_gc_paused_across_threads_stays_paused_until_the_last_thread_leaves():
    """The first thread out must not turn the collector back on under the second."""
    first_in, second_in = threading.Event(), threading.Event()
    first_may_leave, first_left, second_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first():
        with gc_paused(BIG):
            first_in.set()
            first_may_leave.wait(5)
        first_left.set()

    def second():
        first_in.wait(5)
        with gc_paused(BIG):
            second_in.set()
            first_left.wait(5)
            seen["after the first left"] = gc.isenabled()
            second_may_leave.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    second_in.wait(5)
    first_may_leave.set()
    first_left.wait(5)
    second_may_leave.set()
    for thread in threads:
        thread.join(5)
    assert seen == {"after the first left": False}
    assert gc.isenabled()
