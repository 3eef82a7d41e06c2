"""User input on the command line: repo ids, paths, GPU names, sizes and option values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import (
    one_error_line,
    run,
    usage_error,
)

from hubvram.cli.options import MAX_BATCH_SIZE, MAX_SEQ_LEN
from hubvram.dtypes import DTYPES
from hubvram.estimator.options import OPTIMIZERS


@pytest.mark.parametrize(
    "model",
    [
        "org/na me",
        "org//name",
        "a/b/c",
        "org/name\x1b[31m",
        "https://example.com/org/name",
        "x" * 300 + "/y",
        "o/--",
    ],
)
def test_malformed_repo_ids_are_usage_errors_before_any_request(hub, model):
    line = one_error_line(run(model), 2)
    assert "is not a Hub repo id: use 'org/name'" in line
    assert "\x1b" not in line and len(line) < 250
    assert hub.requests == []


@pytest.mark.parametrize(
    "pasted",
    [
        "https://huggingface.co/Qwen/Qwen3-0.6B",
        "huggingface.co/Qwen/Qwen3-0.6B/tree/main",
        "https://hf.co/Qwen/Qwen3-0.6B/blob/main/config.json",
        "Qwen/Qwen3-0.6B@main",
    ],
)
def test_a_pasted_hub_url_or_revision_is_the_repo(hub, pasted):
    result = run(pasted, "--mode", "inference", "--gpu", "RTX 4090", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"]["total"] == 596_049_920


def test_a_legacy_id_follows_the_hubs_redirect_and_a_short_sha_is_main(hub):
    """`gpt2` redirects to openai-community/gpt2 on the Hub; the 7 characters hubvram prints are main's."""
    result = run("gpt2", "--mode", "inference", "--gpu", "RTX 4090", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"]["total"] == 124_439_808
    sha = json.loads(result.stdout)["sha"]
    again = run("openai-community/gpt2", "--revision", sha[:7], "--mode", "inference", "--format", "json")
    assert again.exit_code == 0, again.output and json.loads(again.stdout)["sha"] == sha
    line = one_error_line(run("Llama-2-7b-hf"))
    assert line.endswith("; Hub ids are org/name, e.g. meta-llama/Llama-2-7b-hf")
    assert "try again later" not in line


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
    local = str(Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama")
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
    local = str(Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama")
    result = run(
        local, "--format", "json", "--batch-size", str(MAX_BATCH_SIZE), "--seq-len", str(MAX_SEQ_LEN)
    )
    assert result.exit_code == 0, result.output
    assert all(e["total"] > 0 for e in json.loads(result.stdout)["estimates"])
    # 100,000,000 tokens for a 128-token model: estimated as asked, warned on stderr (out of the JSON)
    assert "hubvram: warning: --seq-len 100,000,000 is beyond the 128 tokens" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "accepted"), [("--dtype", "fp12", DTYPES), ("--optimizer", "lion", OPTIMIZERS)]
)
def test_unknown_dtype_or_optimizer_lists_the_accepted_values(flag, value, accepted):
    output = usage_error(run("org/name", flag, value))
    assert f"'{value}' is not one of" in output
    for choice in accepted:
        assert f"'{choice}'" in output
