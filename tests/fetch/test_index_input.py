"""Shard indexes: names outside the repo, missing shards, malformed maps; a 1,000-shard repo kept bounded."""

from __future__ import annotations

import json
import re
import tracemalloc

import pytest
from helpers import (
    BASE_CONFIG,
    TINY_TENSORS,
    config_repo,
    one_error_line,
    resolve_requests,
    run,
)

from hubvram.fetch import limits
from hubvram.fetch.load import load_snapshot
from hubvram.model import facts_from_snapshot


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
