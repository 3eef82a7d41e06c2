"""Bounded work: caps on JSON answers and header bytes, read at call time, and their documented values."""

from __future__ import annotations

import pytest
from helpers import (
    QWEN,
    TINY_TENSORS,
    one_error_line,
    resolve_requests,
    run,
)

from hubvram import errors
from hubvram.fetch import limits
from hubvram.fetch.limits import MAX_HEADER_BYTES
from hubvram.fetch.load import load_snapshot


def test_an_oversized_config_is_refused_without_reading_it_all(hub_on, make_repo):
    size = 400_000_000
    make_repo(
        "t/huge-config",
        virtual_files={"config.json": size},
        safetensors={"model.safetensors": TINY_TENSORS},
    )
    server = hub_on(make_repo.root)
    line = one_error_line(run("t/huge-config"))
    assert (
        line == f"hubvram: error: t/huge-config: config.json is larger than {limits.MAX_JSON_BYTES:,} bytes"
    )
    server.wait_idle(5)
    (record,) = resolve_requests(server, "config.json")
    assert record.bytes_sent < limits.MAX_JSON_BYTES + 16_000_000 < size / 4


def test_the_json_cap_is_read_at_call_time(hub, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 100)
    with pytest.raises(errors.MalformedConfig, match="config.json is larger than 100 bytes"):
        load_snapshot(QWEN, use_cache=False)


def test_the_per_model_header_budget_is_checked_before_any_header_is_read(hub, monkeypatch):
    monkeypatch.setattr(limits, "MAX_MODEL_HEADER_BYTES", 1000)
    with pytest.raises(errors.MalformedHeader, match="headers add up to .* over the 1,000-byte budget"):
        load_snapshot("hubvram-quirks/sharded-small", revision="v1.0", use_cache=False)
    weights = resolve_requests(hub, ".safetensors")
    assert weights and all(r.headers["range"] == "bytes=0-7" for r in weights)  # length probes only


def test_caps_are_the_documented_numbers():
    assert MAX_HEADER_BYTES == 25_000_000
    assert limits.MAX_JSON_BYTES == 50_000_000
    assert limits.MAX_MODEL_HEADER_BYTES == 512_000_000
    assert limits.MAX_SHARDS == 10_000
    assert (limits.MAX_RETRIES, limits.DEFAULT_TIMEOUT, limits.MAX_RETRY_WAIT) == (3, 10.0, 30.0)
