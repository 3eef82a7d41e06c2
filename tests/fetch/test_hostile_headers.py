"""Hostile safetensors headers, end to end: one line naming repo and file, nothing read past the header."""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from conftest import FIXTURES_HUB
from helpers import (
    BASE_CONFIG,
    HOSTILE,
    one_error_line,
    requested_bytes,
    resolve_requests,
    run,
)

from hubvram import errors
from hubvram.fetch.limits import MAX_HEADER_BYTES
from hubvram.fetch.load import load_snapshot


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_repo_is_one_malformed_header_line_and_reads_no_tensor_data(hub, name):
    header_file = FIXTURES_HUB / "hubvram-hostile" / name / "files" / "model.safetensors.header"
    stored = header_file.read_bytes()
    declared = struct.unpack("<Q", stored[:8])[0] if len(stored) >= 8 else 0
    allowed = 8 + min(declared, MAX_HEADER_BYTES)

    result = run(f"hubvram-hostile/{name}")
    line = one_error_line(result, 1)
    assert line.startswith(f"hubvram: error: hubvram-hostile/{name}: model.safetensors: "), line

    weights = resolve_requests(hub, ".safetensors")
    assert weights and all(r.headers.get("range") for r in weights)  # never an open-ended download
    for record in weights:
        assert requested_bytes(record) <= allowed, (record.headers["range"], allowed)
        assert record.bytes_sent <= allowed
    # What lies past the stored prefix is tensor data (zeros): not one byte of it was sent.
    assert sum(r.bytes_sent for r in weights) <= len(stored)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_header_raises_malformed_header_without_allocating_the_declared_size(hub, name):
    load_snapshot("Qwen/Qwen3-0.6B", use_cache=False)  # warm up: imports and the connection pool
    tracemalloc.start()
    try:
        with pytest.raises(errors.MalformedHeader) as info:
            load_snapshot(f"hubvram-hostile/{name}", use_cache=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"hubvram-hostile/{name}: model.safetensors: ") and "\n" not in message
    assert peak < 4_000_000  # header-3gb declares 3 GB, length-over-limit 25 MB: neither is allocated


def test_hostile_text_in_a_header_cannot_reach_the_terminal(hub_on, make_repo):
    evil = "w\x1b]0;pwned\x07\x1b[2J\nsecond line"
    make_repo(
        "t/escape",
        files={"config.json": BASE_CONFIG},
        safetensors={"model.safetensors": {evil: {"dtype": "Q4_K", "shape": [1], "data_offsets": [0, 1]}}},
    )
    hub_on(make_repo.root)
    line = one_error_line(run("t/escape"))
    assert "\x1b" not in line and "\x07" not in line
    assert "unknown dtype 'Q4_K'" in line


# -- GGUF files: the same rules (one line naming repo and file, bounded reads)


def gguf_repo(make_repo, hub_on, header: bytes, size: int, repo: str = "t/gguf"):
    make_repo(repo, gguf={"model-Q4_K_M.gguf": (header, size)})
    return hub_on(make_repo.root)


@pytest.mark.parametrize(
    ("header", "size", "text"),
    [
        (b"GGML" + b"\0" * 60, 1000, "model-Q4_K_M.gguf: not a GGUF file"),
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), 1000, "version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 0), 10**9, "which cannot fit"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**60), 10**9, "model-Q4_K_M.gguf"),
    ],
)
def test_hostile_gguf_headers_are_one_line_naming_repo_and_file(make_repo, hub_on, header, size, text):
    server = gguf_repo(make_repo, hub_on, header, size)
    line = one_error_line(run("t/gguf"))
    assert line.startswith("hubvram: error: t/gguf: model-Q4_K_M.gguf") and text in line
    assert sum(r.bytes_sent for r in server.requests if r.path.endswith(".gguf")) <= 256 * 1024
