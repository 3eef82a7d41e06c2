"""Config input a user (or an attacker) can write: bad numbers, odd strings, unknown families, custom code."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import (
    BASE_CONFIG,
    TINY_PARAMS,
    config_repo,
    one_error_line,
    run,
    without,
)


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


def test_a_missing_core_field_takes_transformers_class_default(hub_on, make_repo):
    pytest.importorskip("transformers")  # the optional extra: pip install 'hubvram[configs]'
    config = without(BASE_CONFIG, "num_hidden_layers")  # LlamaConfig's default: 32 layers
    result = run(config_repo(make_repo, hub_on, config), "--format", "json", "--mode", "inference")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["architecture"]["num_layers"] == 32


def test_without_transformers_a_missing_core_field_is_named_with_the_extra(hub_on, make_repo, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if the core install alone were there
    repo = config_repo(make_repo, hub_on, without(BASE_CONFIG, "num_hidden_layers"))
    line = one_error_line(run(repo, "--mode", "inference"))
    assert "config.json has no usable 'num_layers'" in line
    assert "pip install 'hubvram[configs]'" in line
    complete = run(config_repo(make_repo, hub_on, BASE_CONFIG, repo="t/complete"), "--mode", "inference")
    assert complete.exit_code == 0, complete.output  # a complete config never needs transformers
