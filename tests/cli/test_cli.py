"""`hubvram MODEL` end to end through click, against the test Hub."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubvram.cli import cli
from hubvram.testing import FIXTURE_TOKEN

LOCAL_TINY = str(Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama")


def run(*args: str, **env: str):
    result = CliRunner().invoke(cli, list(args), env=env or None, prog_name="hubvram")
    return result


def test_llama2_table_reports_count_and_fit(hub):
    result = run("meta-llama/Llama-2-7b-hf", "--token", FIXTURE_TOKEN)
    assert result.exit_code == 0, result.output
    assert "6,738,415,616 (F16 6,738,415,616), read from 2 safetensors headers" in result.output
    assert "12.55 GiB as stored (13,476,831,232 bytes)" in result.output
    assert "RTX 4090" in result.output and "H100 80GB" in result.output
    assert FIXTURE_TOKEN not in result.output


def test_json_schema_is_stable(hub):
    result = run(
        "meta-llama/Llama-2-7b-hf", "--token", FIXTURE_TOKEN, "--format", "json",
        "--mode", "training", "--dtype", "bf16", "--batch-size", "2", "--seq-len", "512", "--gpu", "H100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"model", "sha", "parameters", "weights_bytes", "architecture", "estimates", "gpus"} <= set(data)
    assert data["parameters"]["total"] == 6_738_415_616
    assert data["parameters"]["by_dtype"] == {"F16": 6_738_415_616}
    first = data["estimates"][0]
    assert (first["mode"], first["dtype"], first["batch_size"], first["seq_len"]) == (
        "training",
        "bf16",
        2,
        512,
    )
    components = first["components"]
    for key in ("weights", "kv_cache", "activations", "gradients", "optimizer_states", "overhead"):
        assert isinstance(components[key], int)
    assert first["total"] >= max(components.values())
    (gpu,) = data["gpus"]
    assert gpu["name"] == "H100 80GB" and gpu["memory_bytes"] > 80e9
    assert set(gpu["estimates"][0]) >= {"fits", "gpus_needed"}


def test_first_estimate_is_the_asked_scenario(hub):
    result = run(
        "Qwen/Qwen3-0.6B", "--format", "json", "--mode", "inference", "--dtype", "int4", "--gpu", "4090"
    )
    first = json.loads(result.output)["estimates"][0]
    assert (first["mode"], first["dtype"]) == ("inference", "int4")


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "csv"])
def test_every_format_on_a_local_directory(fmt):
    result = run(LOCAL_TINY, "--format", fmt, "--gpu", "RTX 4090")
    assert result.exit_code == 0, result.output
    if fmt == "json":
        assert json.loads(result.output)["parameters"]["total"] > 0
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.output)))
        assert {row["mode"] for row in rows} == {"inference", "training"}
        assert all(int(row["total"]) > 0 for row in rows)
        assert "gpus_needed:RTX 4090" in rows[0]
    elif fmt == "markdown":
        assert "| scenario" in result.output
    else:
        assert "scenario" in result.output and "RTX 4090" in result.output


def test_overhead_zero_leaves_it_out():
    result = run(LOCAL_TINY, "--format", "json", "--overhead", "0", "--mode", "inference")
    assert all(e["components"]["overhead"] == 0 for e in json.loads(result.output)["estimates"])


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["nobody/nothing"], 1, "hubvram: error: nobody/nothing was not found on the Hub"),
        (
            ["hubvram-quirks/gated"],
            1,
            "is gated: accept its terms on the Hub, then log in with `hf auth login`",
        ),
        (["hubvram-quirks/sharded-small", "--revision", "nope"], 1, "has no revision 'nope'"),
        (["hubvram-hostile/truncated-json"], 1, "model.safetensors: safetensors header is not valid JSON"),
        (["hubvram-quirks/no-config"], 1, "has no config.json"),
        (["bad repo id!"], 2, "is not a Hub repo id"),
        (["gpt2", "--batch-size", "0"], 2, "must be a positive integer"),
        (["gpt2", "--dtype", "fp12"], 2, "'fp12' is not one of"),
        (["gpt2", "--optimizer", "lion"], 2, "'lion' is not one of"),
        (["Qwen/Qwen3-0.6B", "--gpu", "RTX 4900"], 2, "did you mean RTX 4090"),
        (["Qwen/Qwen3-0.6B", "--gpu-memory", "-3GB"], 2, ""),
    ],
)
def test_user_errors_are_one_line_with_exit_status(hub, args, code, text):
    result = run(*args)
    assert result.exit_code == code, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hubvram: error: ")  # usage errors too (exit 2)
    if code == 2:
        assert not hub.requests  # a usage error is found before anything is asked of the Hub


def test_bin_only_repo_says_the_count_is_derived(hub):
    result = run("tiiuae/falcon-7b", "--mode", "inference", "--gpu", "A100 80GB")
    assert result.exit_code == 0, result.output
    assert "7,217,189,760 (BF16 7,217,189,760), derived from the stored size, not read" in result.output
    assert "derived from the config" not in result.output  # one story: the count comes from the .bin bytes


def test_debug_shows_the_traceback_and_never_the_token(hub):
    result = run("hubvram-quirks/gated", "--token", "hf_wrongTokenSecret", "--debug")
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "hf_wrongTokenSecret" not in result.output
    assert "hf_wrongTokenSecret" not in str(result.exception)


def test_help_lists_the_options():
    result = run("--help")
    assert result.exit_code == 0
    estimate_help = run("estimate", "--help").output
    for option in ("--revision", "--token", "--mode", "--dtype", "--batch-size", "--seq-len", "--optimizer"):
        assert option in estimate_help
    for option in ("--gpu", "--gpu-memory", "--overhead", "--format"):
        assert option in estimate_help


def test_bare_hubvram_shows_the_help_not_an_error():
    result = run()
    assert result.output.startswith("Usage: hubvram") and "Commands:" in result.output
    assert "error" not in result.output


def test_debug_before_a_command_keeps_the_command():
    result = run("--debug", "gpus", "--format", "json")
    assert result.exit_code == 0 and "RTX 4090" in result.output
    missing = run("--debug", "scan")
    assert missing.exit_code == 2
    assert missing.output.strip() == "hubvram: error: Missing argument 'FILE|-' (see 'hubvram scan --help')"


def test_gpus_command_lists_the_catalog():
    result = run("gpus", "--format", "json")
    names = [row["name"] for row in json.loads(result.output)]
    assert "RTX 4090" in names and "H100 80GB" in names


def test_diffusers_pipeline_names_its_weights_then_refuses(hub):
    result = run("hubvram-quirks/diffusers")
    assert result.exit_code == 1
    assert "is a StableDiffusionPipeline pipeline: its weights take" in result.output
    assert "sizes activations of transformer models only" in result.output


def _local_model(tmp_path: Path, **config_changes) -> str:
    """A copy of the tiny local model with its config changed."""
    import shutil

    target = tmp_path / "model"
    shutil.copytree(LOCAL_TINY, target)
    config = json.loads((target / "config.json").read_text())
    config.update(config_changes)
    (target / "config.json").write_text(json.dumps(config))
    return str(target)


def test_new_tokens_with_the_fit_table():
    result = run(LOCAL_TINY, "--mode", "inference", "--new-tokens", "100", "--gpu", "4090")
    assert result.exit_code == 0, result.output


def test_quantized_dtype_under_both_sizes_inference_only():
    result = run(LOCAL_TINY, "--dtype", "int4", "--format", "json", "--gpu", "4090")
    assert result.exit_code == 0, result.output
    assert [(e["mode"], e["dtype"]) for e in json.loads(result.output)["estimates"]] == [
        ("inference", "int4")
    ]
    with_lora = run(LOCAL_TINY, "--dtype", "nf4", "--lora-rank", "8", "--format", "json", "--gpu", "4090")
    modes = [e["mode"] for e in json.loads(with_lora.output)["estimates"]]
    assert modes == ["inference", "training"]  # QLoRA trains on the 4-bit base


def test_zero_experts_means_dense(tmp_path):
    result = run(_local_model(tmp_path, num_local_experts=0, sliding_window=0), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["architecture"]["num_experts"] is None


@pytest.mark.parametrize("changes", [{"num_hidden_layers": 2**33}, {"num_hidden_layers": "2"}])
def test_absurd_config_numbers_are_one_line(tmp_path, changes):
    result = run(_local_model(tmp_path, **changes))
    assert result.exit_code == 1
    assert "'num_hidden_layers' is" in result.output and "Traceback" not in result.output


def test_damaged_cache_entry_is_refetched(hub):
    from hubvram.fetch import cache

    first = run("Qwen/Qwen3-0.6B", "--format", "json", "--gpu", "4090")
    sha = json.loads(first.output)["sha"]
    entry = cache.model_path("Qwen/Qwen3-0.6B")
    record = json.loads(entry.read_text())
    record["snapshots"][sha]["config"] = ["not", "a", "dict"]
    entry.write_text(json.dumps(record))
    hub.reset()
    again = run("Qwen/Qwen3-0.6B", "--format", "json", "--gpu", "4090")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["parameters"]["total"] == 596_049_920
    assert any(r.path.endswith("config.json") for r in hub.requests)  # refetched, not trusted


def test_unwritable_scan_output_is_one_line(hub, tmp_path):
    listing = tmp_path / "models.txt"
    listing.write_text("Qwen/Qwen3-0.6B\n")
    result = run("scan", str(listing), "--format", "csv", "-o", str(tmp_path / "missing" / "out.csv"))
    assert result.exit_code == 1
    assert "hubvram: error:" in result.output and "Traceback" not in result.output


def test_offline_mode_answers_from_the_cache_or_says_so(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = run("Qwen/Qwen3-0.6B", "--mode", "inference", "--gpu", "4090")
    assert missing.exit_code == 1
    assert "is not in hubvram's cache and HF_HUB_OFFLINE is set" in missing.output
    assert hub.requests == []
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert run("Qwen/Qwen3-0.6B", "--mode", "inference", "--gpu", "4090").exit_code == 0
    hub.reset()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HUBVRAM_CACHE_TTL", "0")  # a stale branch is trusted offline
    cached = run("Qwen/Qwen3-0.6B", "--mode", "inference", "--gpu", "4090")
    assert cached.exit_code == 0, cached.output
    assert "596,049,920" in cached.output
    assert hub.requests == []


def test_public_python_api_as_the_readme_shows_it(hub):
    from hubvram import EstimateOptions, estimate, find_gpu, fit, read_facts

    facts, transfer = read_facts("Qwen/Qwen3-0.6B")
    assert facts.parameters.total == 596_049_920 and transfer.requests == 3
    e = estimate(facts, EstimateOptions(mode="training", dtype="bf16", batch_size=2, seq_len=512))
    assert e.total == sum(e.components.values())
    assert fit(e.total, find_gpu("RTX 4090"), replicated_bytes=e.replicated_bytes).fits
