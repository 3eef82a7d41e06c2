"""Hardening (issue 5): hostile files, broken networks, wrong input and secrets, against the test Hub.

Every case ends in a result or in one `hubvram: error: ...` line with an exit status, never a
traceback; the server's records prove what was (not) transferred. The real huggingface_hub client
talks to the test server; only constants (retry waits, timeouts, caps) and the retry wait are patched.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import threading
import time
import traceback
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES_HUB

from hubvram import errors
from hubvram.cli import cli
from hubvram.cli.options import MAX_BATCH_SIZE, MAX_SEQ_LEN
from hubvram.dtypes import DTYPES
from hubvram.estimator.options import OPTIMIZERS
from hubvram.fetch import http as httpmod
from hubvram.fetch import limits, load_snapshot
from hubvram.fetch.limits import MAX_HEADER_BYTES
from hubvram.model import facts_from_snapshot
from hubvram.testing import FIXTURE_TOKEN

HOSTILE = sorted(p.name for p in (FIXTURES_HUB / "hubvram-hostile").iterdir() if p.is_dir())
SECRET = "hf_secretHardeningTokenXyz123"  # a token the test Hub refuses (403 on gated repos)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(limits, "RETRY_BASE_WAIT", 0.01)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, prog_name="hubvram")


def one_error_line(result, code: int = 1) -> str:
    """The single `hubvram: error:` line of a failed run (and nothing else on stdout/stderr)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("hubvram: error: ")
    return lines[0]


def usage_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def requested_bytes(record) -> int | None:
    """Bytes a Range header asked for (None: no Range, the whole file)."""
    match = re.fullmatch(r"bytes=(\d+)-(\d+)", record.headers.get("range", ""))
    return int(match.group(2)) - int(match.group(1)) + 1 if match else None


def resolve_requests(server, suffix: str):
    return [r for r in server.requests if "/resolve/" in r.path and r.path.endswith(suffix)]


BASE_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 100,
    "max_position_embeddings": 256,
    "hidden_act": "silu",
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}
TINY_TENSORS = {
    "model.embed_tokens.weight": ("BF16", [100, 64]),
    "model.layers.0.self_attn.q_proj.weight": ("BF16", [64, 64]),
    "lm_head.weight": ("BF16", [100, 64]),
}
TINY_PARAMS = 100 * 64 * 2 + 64 * 64


# ---------------------------------------------------------------------------------------------
# 1. Hostile safetensors headers, end to end


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


# ---------------------------------------------------------------------------------------------
# 2. Config and index input


def config_repo(make_repo, hub_on, config, repo="t/cfg", **kwargs):
    kwargs.setdefault("safetensors", {"model.safetensors": TINY_TENSORS})
    make_repo(repo, files={"config.json": config, **kwargs.pop("files", {})}, **kwargs)
    config_repo.server = hub_on(make_repo.root)  # the server of the latest repo, for record checks
    return repo


def without(config: dict, *keys: str) -> dict:
    return {k: v for k, v in config.items() if k not in keys}


@pytest.mark.parametrize(
    ("config", "text"),
    [
        (
            {**BASE_CONFIG, "hidden_size": "64"},
            "config.json: 'hidden_size' is \"64\", not a positive integer",
        ),
        (
            {**BASE_CONFIG, "num_hidden_layers": 0},
            "config.json: 'num_hidden_layers' is 0, not a positive integer",
        ),
        (
            {**BASE_CONFIG, "n_layer": -1, "num_hidden_layers": None},
            "'n_layer' is -1, not a positive integer",
        ),
        ({**BASE_CONFIG, "num_hidden_layers": True}, "'num_hidden_layers' is true, not a positive integer"),
        ({**BASE_CONFIG, "hidden_size": 64.5}, "'hidden_size' is 64.5, not a positive integer"),
        ({**BASE_CONFIG, "hidden_size": 10**30}, "'hidden_size' is 1000000000000000000000000000000"),
        ({**BASE_CONFIG, "num_key_value_heads": -2}, "'num_key_value_heads' is -2, not a positive integer"),
        ({**BASE_CONFIG, "max_position_embeddings": 0}, "'max_position_embeddings' is 0"),
        # null means "not stated": the error names the field the estimate needs
        (
            {**BASE_CONFIG, "model_type": "brand-new", "hidden_size": None},
            "config.json has no usable 'hidden_size'",
        ),
        ({k: None for k in BASE_CONFIG}, "config.json has no usable 'hidden_size'"),
        (without({**BASE_CONFIG, "model_type": "brand-new"}, "num_hidden_layers"), "no usable 'num_layers'"),
        (
            {**BASE_CONFIG, "model_type": "brand-new", "num_attention_heads": [4]},
            "no usable 'num_attention_heads'",
        ),
        # heads not dividing hidden_size, no head_dim: refused, not floored (facts._check_head_geometry)
        (
            {**BASE_CONFIG, "num_attention_heads": 3, "num_key_value_heads": 3},
            "hidden_size 64 is not divisible by num_attention_heads 3 and no head_dim is given",
        ),
    ],
)
def test_bad_config_fields_are_one_line_naming_repo_and_field(hub_on, make_repo, config, text):
    repo = config_repo(make_repo, hub_on, config)
    line = one_error_line(run(repo, "--mode", "inference"))
    assert line.startswith(f"hubvram: error: {repo}: "), line
    assert text in line


def test_heads_not_dividing_hidden_are_fine_with_an_explicit_head_dim(hub_on, make_repo):
    config = {**BASE_CONFIG, "num_attention_heads": 3, "num_key_value_heads": 3, "head_dim": 16}
    result = run(config_repo(make_repo, hub_on, config), "--format", "json", "--mode", "inference")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["architecture"]["attention_head_dim"] == 16


def test_unknown_model_type_works_from_raw_fields(hub_on, make_repo):
    config = {**BASE_CONFIG, "model_type": "brand-new-arch", "architectures": ["BrandNewForCausalLM"]}
    result = run(config_repo(make_repo, hub_on, config), "--format", "json", "--mode", "inference")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["parameters"]["total"] == TINY_PARAMS
    assert (data["architecture"]["model_type"], data["architecture"]["num_layers"]) == ("brand-new-arch", 2)


def test_odd_types_in_config_strings_are_ignored_or_sanitised(hub_on, make_repo):
    config = {
        **BASE_CONFIG,
        "architectures": "LlamaForCausalLM",  # a string, not a list: not split into letters
        "model_type": "llama\x1b[2J",
        "hidden_act": 5,
        "quantization_config": "gptq",
        "layer_types": 5,
        "text_config": "oops",
    }
    result = run(config_repo(make_repo, hub_on, config), "--format", "json", "--mode", "inference")
    assert result.exit_code == 0, result.output
    arch = json.loads(result.output)["architecture"]
    assert arch["architectures"] == [] and arch["hidden_act"] is None and arch["quantization"] is None
    assert "\x1b" not in arch["model_type"]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"{not json", "config.json is not valid JSON"),
        (b"", "config.json is not valid JSON"),
        (b"\xff\xfe{}", "config.json is not valid JSON"),
        (b'{"a": NaN, ', "config.json is not valid JSON"),
        (b"[1, 2]", "config.json is JSON but not an object"),
        (b'{"a":' * 200_000, "config.json is not valid JSON"),  # nesting deep enough for RecursionError
    ],
)
def test_malformed_config_json(hub_on, make_repo, raw, text):
    repo = config_repo(make_repo, hub_on, raw)
    line = one_error_line(run(repo))
    assert line == f"hubvram: error: {repo}: {text}"


def test_auto_map_custom_code_is_read_never_requested_never_run(hub, tmp_path):
    result = run("hubvram-quirks/auto-map", "--format", "json", "--mode", "inference")
    assert result.exit_code == 0, result.output
    assert any("auto_map" in note and "ran none" in note for note in json.loads(result.output)["notes"])
    paths = [r.path for r in hub.requests]
    assert not any(p.endswith(".py") for p in paths), paths
    assert {p.rsplit("/", 1)[-1] for p in paths if "/resolve/" in p} == {"config.json", "model.safetensors"}
    hf_home = tmp_path / "hf_home"
    assert not (hf_home / "modules").exists()  # transformers' dynamic-module cache: no code was fetched
    assert not any(p.suffix == ".py" for p in hf_home.rglob("*"))


def sharded_repo(
    make_repo, hub_on, weight_map, shards=("model-00001-of-00001.safetensors",), repo="t/sharded"
):
    return config_repo(
        make_repo,
        hub_on,
        BASE_CONFIG,
        repo=repo,
        files={"model.safetensors.index.json": {"metadata": {"total_size": 1}, "weight_map": weight_map}},
        safetensors={name: TINY_TENSORS for name in shards},
    )


@pytest.mark.parametrize(
    "shard",
    [
        "../x.safetensors",
        "../../../../etc/passwd.safetensors",
        "/etc/x.safetensors",
        "sub/../../x.safetensors",
        "..\\x.safetensors",
        "model-00001-of-00001.bin",
    ],
)
@pytest.mark.parametrize("revision", ["main", "v1"])
def test_index_naming_a_shard_outside_the_repo_is_refused_unread(hub_on, make_repo, shard, revision):
    repo = sharded_repo(make_repo, hub_on, {"model.embed_tokens.weight": shard})
    (make_repo.root / repo / "repo.json").write_text(
        json.dumps(
            {**json.loads((make_repo.root / repo / "repo.json").read_text()), "refs": {"v1": "1" * 40}}
        )
    )
    line = one_error_line(run(repo, "--revision", revision))
    assert line.startswith(f"hubvram: error: {repo}: model.safetensors.index.json: shard '")
    assert line.endswith("points outside the repo or is not safetensors")
    fetched = [r.path for r in config_repo.server.requests if "/resolve/" in r.path]
    assert all(p.endswith(("config.json", "/model.safetensors", "index.json")) for p in fetched), fetched


def test_index_naming_a_missing_shard(hub_on, make_repo):
    repo = sharded_repo(
        make_repo,
        hub_on,
        {
            "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
            "lm_head.weight": "gone.safetensors",
        },
        shards=("model-00001-of-00002.safetensors",),
    )
    line = one_error_line(run(repo))
    assert line == f"hubvram: error: {repo}: the index names gone.safetensors, which the repo does not have"


def test_malformed_index_json(hub_on, make_repo):
    repo = config_repo(
        make_repo,
        hub_on,
        BASE_CONFIG,
        files={"model.safetensors.index.json": b'{"weight_map": {'},
        safetensors={"model-00001-of-00001.safetensors": TINY_TENSORS},
    )
    line = one_error_line(run(repo))
    assert line == f"hubvram: error: {repo}: model.safetensors.index.json is not valid JSON"


def test_index_with_a_weight_map_of_the_wrong_type(hub_on, make_repo):
    repo = sharded_repo(make_repo, hub_on, ["model-00001-of-00001.safetensors"])
    line = one_error_line(run(repo))
    assert "weight_map is missing or not a mapping of names to files" in line


def test_index_naming_more_shards_than_allowed_requests_none_of_them(hub_on, make_repo):
    names = {f"t{i}": f"model-{i:05d}.safetensors" for i in range(limits.MAX_SHARDS + 1)}
    repo = sharded_repo(make_repo, hub_on, names, shards=())
    line = one_error_line(run(repo))
    assert f"names {limits.MAX_SHARDS + 1:,} shards, more than the {limits.MAX_SHARDS:,} allowed" in line
    assert not [r for r in config_repo.server.requests if re.search(r"/model-\d+\.safetensors$", r.path)]


def test_local_directory_index_outside_the_directory(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(BASE_CONFIG))
    (model / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "../secret.safetensors"}})
    )
    (tmp_path / "secret.safetensors").write_bytes(b"must not be opened")
    line = one_error_line(run(str(model)))
    assert "points outside the repo" in line


# -- a 1,000-shard repo: bounded requests, bytes and memory

SHARDS = 1000


@pytest.fixture
def thousand_shards(make_repo):
    names = [f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors" for i in range(SHARDS)]
    weight_map = {}
    safetensors = {}
    for i, name in enumerate(names):
        tensors = {
            f"model.layers.{i}.mlp.weight": ("BF16", [64, 64]),
            f"model.layers.{i}.norm.weight": ("F32", [64]),
        }
        safetensors[name] = tensors
        weight_map.update(dict.fromkeys(tensors, name))
    make_repo(
        "t/thousand",
        files={
            "config.json": BASE_CONFIG,
            "model.safetensors.index.json": {"metadata": {}, "weight_map": weight_map},
        },
        safetensors=safetensors,
        refs={"v1": "2" * 40},
    )
    return make_repo.root


def test_thousand_shard_repo_on_main_is_one_request_and_bounded_memory(hub_on, thousand_shards):
    server = hub_on(thousand_shards)
    load_snapshot("t/thousand", use_cache=False)  # warm-up (imports, connections), not measured
    server.reset()
    tracemalloc.start()
    try:
        snapshot = load_snapshot("t/thousand", use_cache=False)
        facts = facts_from_snapshot(snapshot)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(snapshot.weight_files) == SHARDS
    assert facts.parameters.by_dtype == {"BF16": SHARDS * 64 * 64, "F32": SHARDS * 64}
    assert [r.path.split("/")[-1] for r in server.requests if "safetensors-metadata" in r.path] == [
        "model.safetensors.index.json"
    ]  # every shard header in one answer
    assert len(server.requests) <= 5
    assert server.bytes_sent < 2 * sum(f.header_bytes for f in snapshot.weight_files) + 200_000
    assert peak < 32_000_000  # the traced process holds the test server too


def test_thousand_shard_repo_on_a_tag_reads_exact_ranges_only(hub_on, thousand_shards):
    server = hub_on(thousand_shards)
    snapshot = load_snapshot("t/thousand", revision="v1", use_cache=False)
    assert len(snapshot.weight_files) == SHARDS
    shards = [r for r in resolve_requests(server, ".safetensors") if r.status == 206]
    assert len(shards) == 2 * SHARDS  # the 8-byte length, then the header: never more
    assert sum(r.bytes_sent for r in shards) == sum(f.header_bytes for f in snapshot.weight_files)
    assert len(server.requests) <= 2 * SHARDS + 5  # + config, root probe, listing, metadata, index


def test_thousand_shard_estimate_through_the_cli(hub_on, thousand_shards):
    hub_on(thousand_shards)
    result = run("t/thousand", "--format", "json", "--mode", "inference")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["parameters"]["total"] == SHARDS * (64 * 64 + 64)


# ---------------------------------------------------------------------------------------------
# 3. Network faults


QWEN = "Qwen/Qwen3-0.6B"
QWEN_PARAMS = 596_049_920


def read_qwen(**kwargs):
    snapshot = load_snapshot(QWEN, use_cache=False, **kwargs)
    return facts_from_snapshot(snapshot)


def test_timeout_then_success(hub):
    hub.add_fault(r"config\.json$", "delay", seconds=0.5, times=1)
    assert read_qwen(timeout=0.1).parameters.total == QWEN_PARAMS
    assert len(resolve_requests(hub, "config.json")) == 2


def test_timeout_forever_is_one_line_after_bounded_retries(hub, monkeypatch):
    monkeypatch.setattr(limits, "DEFAULT_TIMEOUT", 0.1)
    hub.add_fault(r"config\.json$", "delay", seconds=0.5, times=99)
    line = one_error_line(run(QWEN))
    assert line == f"hubvram: error: {QWEN}: the Hub did not answer within 0.1 s (after retries)"
    assert len(resolve_requests(hub, "config.json")) == limits.MAX_RETRIES + 1


@pytest.mark.parametrize("target", [r"config\.json$", r"\.safetensors$"])
def test_connection_resets_are_retried(hub, target):
    hub.add_fault(target, "reset", times=2)
    assert read_qwen().parameters.total == QWEN_PARAMS


def test_connection_reset_forever_is_one_line(hub):
    hub.add_fault(r"config\.json$", "reset", times=99)
    line = one_error_line(run(QWEN))
    assert line.startswith(f"hubvram: error: {QWEN}: ")
    assert len(resolve_requests(hub, "config.json")) == limits.MAX_RETRIES + 1


@pytest.mark.parametrize("target", [r"config\.json$", r"\.safetensors$"])
def test_truncated_bodies_are_retried(hub, target):
    hub.add_fault(target, "truncate", keep=4, times=2)
    assert read_qwen().parameters.total == QWEN_PARAMS


def test_truncated_header_read_is_retried_and_still_exact(hub):
    hub.add_fault(r"\.safetensors$", "truncate", keep=8, times=1)  # the 8-byte probe: whole, then closed
    hub.add_fault(r"\.safetensors$", "truncate", keep=100, times=1)  # the header range: cut after 100 bytes
    assert read_qwen().parameters.total == QWEN_PARAMS
    assert [r.bytes_sent for r in resolve_requests(hub, ".safetensors")] == [8, 100, 35_552]


def test_truncated_forever_is_one_line(hub):
    hub.add_fault(r"config\.json$", "truncate", keep=10, times=99)
    line = one_error_line(run(QWEN))
    expected = "the Hub's answers kept breaking off mid-way (after retries); try again later"
    assert line == f"hubvram: error: {QWEN}: {expected}"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_then_success(hub, status):
    hub.add_fault(r"config\.json$", "status", status=status, times=2)
    hub.add_fault(r"\.safetensors$", "status", status=status, times=2)
    assert read_qwen().parameters.total == QWEN_PARAMS
    assert len(resolve_requests(hub, "config.json")) == 3


def test_503_forever_is_one_clear_line_after_bounded_retries(hub):
    hub.add_fault(r"config\.json$", "status", status=503, times=99)
    line = one_error_line(run(QWEN))
    assert line == f"hubvram: error: {QWEN}: the Hub answered HTTP 503; try again later"
    assert len(resolve_requests(hub, "config.json")) == limits.MAX_RETRIES + 1


@pytest.fixture
def sleeps(monkeypatch):
    """hubvram's waits before a retry: recorded, not waited."""
    waits: list[float] = []
    monkeypatch.setattr(
        httpmod.HubTransport, "_pause", lambda http, seconds, stop=None: waits.append(seconds)
    )
    return waits


def test_429_retry_after_is_honoured(hub, sleeps):
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "7"}, times=1)
    assert read_qwen().parameters.total == QWEN_PARAMS
    assert sleeps == [7.0]
    assert [r.status for r in resolve_requests(hub, "config.json")] == [429, 200]


def test_429_retry_after_is_capped(hub, sleeps):
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "86400"}, times=1)
    read_qwen()
    assert sleeps == [limits.MAX_RETRY_WAIT]


def test_429_forever_is_one_line(hub, sleeps):
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "1"}, times=99)
    line = one_error_line(run(QWEN))
    assert line == f"hubvram: error: {QWEN}: the Hub answered HTTP 429; try again later"
    assert sleeps == [1.0] * limits.MAX_RETRIES


def test_an_answer_that_trickles_in_is_cut_at_the_deadline(hub, monkeypatch):
    """Each read arrives well within the timeout, the answer never ends: one line, no retry."""
    monkeypatch.setattr(limits, "REQUEST_DEADLINE", 0.5)
    hub.add_fault(r"config\.json$", "trickle", bytes=8, every=0.1, times=99)
    started = time.monotonic()
    line = one_error_line(run(QWEN))
    assert time.monotonic() - started < 5
    expected = "config.json was still arriving after 0.5 s: the connection or the server is too slow"
    assert line == f"hubvram: error: {QWEN}: {expected}"
    assert len(resolve_requests(hub, "config.json")) == 1


def test_compressed_answers_are_decoded_and_ranges_never_compressed(hub):
    """A CDN may gzip JSON (config, listing, the one-request answer): read decoded, counted as sent.
    A header range asks for identity, so its offsets are the file's own."""
    hub.add_fault(r"config\.json$|/api/models/|/safetensors-metadata/|\.safetensors$", "gzip", times=99)
    snapshot = load_snapshot("mistralai/Mistral-7B-v0.1", use_cache=False)
    assert facts_from_snapshot(snapshot).parameters.total == 7_241_732_096
    assert snapshot.bytes_received == hub.bytes_sent  # the compressed bytes, as they crossed
    answer = next(r for r in hub.requests if "/safetensors-metadata/" in r.path)
    assert answer.bytes_sent < snapshot.header_bytes / 3  # gzip really applied
    single = load_snapshot(QWEN, use_cache=False)
    assert facts_from_snapshot(single).parameters.total == QWEN_PARAMS
    ranges = [r for r in resolve_requests(hub, ".safetensors") if r.status == 206]
    assert len(ranges) == 2 and all(r.headers["accept-encoding"] == "identity" for r in ranges)


def test_a_cancelled_read_stops_waiting_at_once(hub):
    """A scan's Ctrl-C sets the event: a read waiting out a Retry-After gives up without a request."""
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "20"}, times=1)
    cancel, outcome = threading.Event(), []

    def read() -> None:
        try:
            load_snapshot(QWEN, use_cache=False, cancel=cancel)
        except errors.HubVramError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    for _ in range(500):  # until the 429 is answered (5 s at most)
        if any(r.status == 429 for r in resolve_requests(hub, "config.json")):
            break
        time.sleep(0.01)
    cancel.set()
    thread.join(2)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], errors.Cancelled)
    assert [r.status for r in resolve_requests(hub, "config.json")] == [429]


def test_one_failed_read_stops_the_others_of_the_same_model(hub):
    """Shards are read in parallel; when one fails for good, a sibling still trickling in gives up."""
    gone = {"X-Error-Code": "EntryNotFound"}
    hub.add_fault(r"model-00001-of-00003\.safetensors$", "status", status=404, headers=gone, times=99)
    hub.add_fault(r"model-00003-of-00003\.safetensors$", "trickle", bytes=1, every=0.3, times=99)
    line = one_error_line(run("hubvram-quirks/sharded-small", "--revision", "v1.0"))
    assert "model-00001-of-00003.safetensors, which the repo does not have" in line
    hub.wait_idle(5)  # without the cancel, the sibling reads its 8 bytes (2.1 s), then its header
    trickled = resolve_requests(hub, "model-00003-of-00003.safetensors")
    # cut off a byte or two later, or never asked for when the failure came first
    assert len(trickled) <= 1 and all(r.bytes_sent <= 4 for r in trickled)


def test_range_answered_with_the_whole_file_stops_after_the_header(hub):
    hub.add_fault(r"\.safetensors$", "ignore_range", times=99)
    facts = read_qwen()
    assert facts.parameters.total == QWEN_PARAMS
    hub.wait_idle(5)
    weights = resolve_requests(hub, ".safetensors")
    assert [r.status for r in weights] == [200, 200]  # both ranges ignored
    header = 35_560  # 8 + the declared 35,552 bytes
    file_size = 1_503_300_328
    sent = sum(r.bytes_sent for r in weights)
    assert sent < header + 1_000_000  # what socket buffers held when the client hung up
    assert sent < file_size / 1000


def test_redirect_to_another_host_does_not_forward_the_token(hub, hub_on):
    other = hub_on(FIXTURES_HUB, host="127.0.0.2", point=False)
    hub.add_fault(
        r"/resolve/.*(config\.json|\.safetensors)$", "redirect", location=other.url + "{path}", times=99
    )
    assert read_qwen(token=SECRET).parameters.total == QWEN_PARAMS
    assert len(other.requests) == 3  # config.json and the two header ranges, all followed
    for record in other.requests:
        assert "authorization" not in record.headers
        assert SECRET not in json.dumps(record.headers)
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in hub.requests)
    ranges = [r.headers.get("range") for r in other.requests if r.path.endswith(".safetensors")]
    assert ranges == ["bytes=0-7", "bytes=8-35559"]  # the Range survives the redirect, the token does not


def test_redirect_loop_is_one_line(hub):
    hub.add_fault(r"config\.json$", "redirect", location="{path}", times=999)
    line = one_error_line(run(QWEN))
    assert line.startswith(f"hubvram: error: {QWEN}: ")
    assert len(resolve_requests(hub, "config.json")) <= 25  # httpx's redirect limit, not retried


# ---------------------------------------------------------------------------------------------
# 4. User input


@pytest.mark.parametrize(
    "model",
    [
        "org/na me",
        "org//name",
        "a/b/c",
        "org/name\x1b[31m",
        "https://huggingface.co/org/name",
        "x" * 300 + "/y",
        "o/--",
    ],
)
def test_malformed_repo_ids_are_usage_errors_before_any_request(hub, model):
    line = one_error_line(run(model), 2)
    assert "is not a Hub repo id: use 'org/name'" in line
    assert "\x1b" not in line and len(line) < 250
    assert hub.requests == []


def test_a_missing_local_path_says_so(tmp_path):
    line = one_error_line(run(str(tmp_path / "nope")), 2)
    assert line.endswith("nope is not a directory")


@pytest.mark.parametrize(
    ("gpu", "text"),
    [
        ("RTX 4900", "did you mean RTX 4090"),
        ("H10O", "did you mean H100"),
        ("zzzz", "unknown GPU 'zzzz'; not in the catalog; give its memory with --gpu-memory"),
    ],
)
def test_unknown_gpu_names_suggest_the_closest(gpu, text):
    local = str(Path(__file__).resolve().parent.parent / "fixtures" / "local" / "tiny-llama")
    line = one_error_line(run(local, "--gpu", gpu), 2)
    assert text in line


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--batch-size", "0"], "must be a positive integer"),
        (["--batch-size", "-5"], "must be a positive integer"),
        (["--batch-size", str(MAX_BATCH_SIZE + 1)], f"must be at most {MAX_BATCH_SIZE:,}"),
        (["--batch-size", "1e6"], "'1e6' is not a valid integer"),
        (["--batch-size", "9" * 400], "must be at most"),
        (["--seq-len", "-1"], "must be a positive integer"),
        (["--seq-len", str(MAX_SEQ_LEN + 1)], f"must be at most {MAX_SEQ_LEN:,}"),
        (["--seq-len", "lots"], "'lots' is not a valid integer"),
    ],
)
def test_absurd_sizes_are_usage_errors(args, text):
    result = run("org/name", *args)
    output = usage_error(result)
    assert text in output
    assert f"--{args[0].lstrip('-')}" in output


def test_the_largest_allowed_sizes_still_estimate():
    local = str(Path(__file__).resolve().parent.parent / "fixtures" / "local" / "tiny-llama")
    result = run(
        local, "--format", "json", "--batch-size", str(MAX_BATCH_SIZE), "--seq-len", str(MAX_SEQ_LEN)
    )
    assert result.exit_code == 0, result.output
    assert all(e["total"] > 0 for e in json.loads(result.output)["estimates"])


@pytest.mark.parametrize(
    ("flag", "value", "accepted"), [("--dtype", "fp12", DTYPES), ("--optimizer", "lion", OPTIMIZERS)]
)
def test_unknown_dtype_or_optimizer_lists_the_accepted_values(flag, value, accepted):
    output = usage_error(run("org/name", flag, value))
    assert f"'{value}' is not one of" in output
    for choice in accepted:
        assert f"'{choice}'" in output


# ---------------------------------------------------------------------------------------------
# 5. Secrets


def assert_secret_absent(secret: str, *texts: str, hf_home: Path) -> None:
    for text in texts:
        assert secret not in text
    for path in hf_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def exception_chain_text(exc: BaseException) -> str:
    """The --debug traceback, and every exception in its chain (suppressed context included)."""
    parts = ["".join(traceback.format_exception(exc))]
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc!s} {exc.args!r}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("via", ["option", "env"])
def test_a_working_token_never_appears_in_output_logs_or_cache(hub, tmp_path, caplog, via):
    caplog.set_level(logging.DEBUG)
    args = ["hubvram-quirks/gated", "--format", "json"]
    env = {"HF_TOKEN": FIXTURE_TOKEN} if via == "env" else None
    if via == "option":
        args += ["--token", FIXTURE_TOKEN]
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output  # the token was sent, and it opened the gated repo
    assert any(r.headers.get("authorization") == f"Bearer {FIXTURE_TOKEN}" for r in hub.requests)
    assert (tmp_path / "hf_home" / "hub" / "hubvram").is_dir()  # the cache was written, and is grepped
    assert_secret_absent(
        FIXTURE_TOKEN, result.output, result.stderr, caplog.text, hf_home=tmp_path / "hf_home"
    )


@pytest.mark.parametrize("via", ["option", "env"])
@pytest.mark.parametrize(
    "repo", ["hubvram-quirks/gated", "hubvram-quirks/private", "hubvram-hostile/json-array"]
)
def test_a_refused_token_never_appears_in_errors_or_debug_tracebacks(hub, tmp_path, caplog, via, repo):
    caplog.set_level(logging.DEBUG)
    env = {"HF_TOKEN": SECRET} if via == "env" else None
    extra = ["--token", SECRET] if via == "option" else []
    plain = run(repo, *extra, env=env)
    assert plain.exit_code == 1 and "hubvram: error:" in plain.output
    debug = run(repo, *extra, "--debug", env=env)
    assert isinstance(debug.exception, errors.HubVramError)
    assert_secret_absent(
        SECRET,
        plain.output,
        debug.output,
        exception_chain_text(debug.exception),
        caplog.text,
        hf_home=tmp_path / "hf_home",
    )


def test_token_absent_from_network_failure_messages(hub, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    hub.add_fault(r"config\.json$", "status", status=503, times=99)
    debug = run(QWEN, "--token", SECRET, "--debug")
    assert isinstance(debug.exception, errors.NetworkError)
    assert_secret_absent(
        SECRET, debug.output, exception_chain_text(debug.exception), caplog.text, hf_home=tmp_path / "hf_home"
    )


# ---------------------------------------------------------------------------------------------
# 6. Bounded work


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
