"""`hubvram scan`: many models, error rows, the cache, --refresh, --resume, retries, every format.

Against the test Hub (tests/hubserver.py) with the real huggingface_hub client, through click's CliRunner.
Counts are the published ones (fixtures/PARAM_COUNTS.tsv) where hubvram counts the same; Qwen3-0.6B's
is the stored 751,632,384 less its tied lm_head copy (155,582,464), which hubvram counts once.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from hubvram import scan as scanner
from hubvram.cli import cli
from hubvram.fetch import limits
from hubvram.gpus import find_gpu
from hubvram.report import RunOptions
from hubvram.scan import runner as scan_runner
from hubvram.testing import FIXTURE_TOKEN

COUNTS = {
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1_100_048_384,  # single file
    "Qwen/Qwen3-0.6B": 596_049_920,  # single file, tied embeddings counted once
    "Qwen/Qwen2.5-7B": 7_615_616_512,  # 4 shards
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,  # 3 shards
    "hubvram-quirks/sharded-small": 1_705_216,  # 3 shards
}
SAFETENSORS = r"\.safetensors$|/safetensors-metadata/"


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    monkeypatch.setattr(limits, "RETRY_BASE_WAIT", 0.01)


def scan(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["scan", *args], input=input, prog_name="hubvram")


def models_file(tmp_path, *models: str, name: str = "models.txt"):
    path = tmp_path / name
    path.write_text("\n".join(models) + "\n")
    return str(path)


def rows_of(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# The list


def test_read_model_list_skips_blanks_comments_and_duplicates():
    text = """
        # candidates for a 24 GB card
        Qwen/Qwen3-0.6B
        meta-llama/Llama-2-7b-hf@main   # pinned
        Qwen/Qwen3-0.6B
        hubvram-quirks/sharded-small@v1.0

        not a repo id!
    """
    assert scanner.read_model_list(text) == [
        ("Qwen/Qwen3-0.6B", None),
        ("meta-llama/Llama-2-7b-hf", "main"),
        ("hubvram-quirks/sharded-small", "v1.0"),
        ("not a repo id!", None),  # kept: it becomes an error row, not a crash
    ]


def test_scenario_columns_follow_the_options():
    assert scanner.scenario_keys(RunOptions()) == (
        "inference",
        "inference:int8",
        "inference:int4",
        "training",
    )
    assert scanner.scenario_keys(RunOptions(mode="training", dtype="bf16")) == ("training:bf16",)


# ---------------------------------------------------------------------------------------------
# Scanning


def test_scan_reports_exact_counts_in_input_order(hub, tmp_path):
    listing = models_file(tmp_path, *COUNTS)
    result = scan(listing, "--format", "json", "--gpu", "RTX 4090", "--gpu", "H100 80GB")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["model"], r["parameters"]) for r in rows] == list(COUNTS.items())
    for row in rows:
        assert row["error"] is None and row["cached"] is False and len(row["sha"]) == 40
        assert set(row) >= {"total:inference", "total:training", "fits:RTX 4090", "gpus_needed:H100 80GB"}
        assert row["total:inference"] > row["weights_bytes"] > 0
        assert row["requests"] >= 3 and row["bytes"] > 0
    tiny = rows[0]
    assert tiny["requests"] == 3  # config.json + header length + header, nothing else
    assert tiny["fits:RTX 4090"] is True and tiny["gpus_needed:RTX 4090"] == 1
    qwen7 = rows[2]
    assert qwen7["weights_bytes"] == 15_231_233_024  # BF16: 2 bytes a parameter
    assert "scanned 5, failed 0, cached 0 in " in result.stderr
    # Headers only: no request of a .safetensors file asks for more than its header.
    for record in hub.requests_to(r"\.safetensors$"):
        assert record.bytes_sent < 200_000


def test_failures_are_rows_and_the_scan_goes_on(hub, tmp_path):
    listing = models_file(
        tmp_path,
        "nope/missing",
        "Qwen/Qwen3-0.6B",
        "hubvram-quirks/gated",
        "hubvram-hostile/truncated-json",
        "not a repo id!",
        "hubvram-quirks/sharded-small",
    )
    result = scan(listing, "--format", "jsonl", "--gpu", "RTX 4090")
    assert result.exit_code == 1
    rows = {r["model"]: r for r in rows_of(result.stdout)}
    assert len(rows) == 6
    assert rows["Qwen/Qwen3-0.6B"]["parameters"] == COUNTS["Qwen/Qwen3-0.6B"]
    assert rows["hubvram-quirks/sharded-small"]["parameters"] == COUNTS["hubvram-quirks/sharded-small"]
    assert "was not found on the Hub" in rows["nope/missing"]["error"]
    assert (
        "is gated" in rows["hubvram-quirks/gated"]["error"]
        and "hf auth login" in rows["hubvram-quirks/gated"]["error"]
    )
    assert "not valid JSON" in rows["hubvram-hostile/truncated-json"]["error"]
    assert "is not a Hub repo id" in rows["not a repo id!"]["error"]
    for row in rows.values():
        assert row["error"] is None or "\n" not in row["error"]
        if row["error"]:
            assert row["parameters"] is None and row["total:inference"] is None
    assert "scanned 6, failed 4, cached 0" in result.stderr
    assert "Traceback" not in result.output


def test_a_gated_model_scans_with_a_token(hub, tmp_path):
    from hubvram.testing import FIXTURE_TOKEN

    result = scan(
        models_file(tmp_path, "meta-llama/Llama-2-7b-hf"), "--format", "jsonl", "--token", FIXTURE_TOKEN
    )
    assert result.exit_code == 0, result.output
    (row,) = rows_of(result.stdout)
    assert row["parameters"] == 6_738_415_616
    assert FIXTURE_TOKEN not in result.output


def test_second_scan_is_answered_from_the_cache(hub, tmp_path):
    listing = models_file(tmp_path, *COUNTS)
    first = scan(listing, "--format", "jsonl")
    assert first.exit_code == 0, first.output
    assert hub.requests_to(SAFETENSORS)
    hub.reset()

    second = scan(listing, "--format", "jsonl")
    assert second.exit_code == 0, second.output
    assert hub.requests_to(SAFETENSORS) == []
    assert hub.requests == [] and hub.bytes_sent == 0  # the refs are fresh: not even a sha check
    rows = rows_of(second.stdout)
    assert {r["model"]: r["parameters"] for r in rows} == COUNTS
    assert all(r["cached"] and r["requests"] == 0 and r["bytes"] == 0 for r in rows)
    strip = {"cached", "requests", "bytes", "seconds"}
    before = {r["model"]: {k: v for k, v in r.items() if k not in strip} for r in rows_of(first.stdout)}
    assert {r["model"]: {k: v for k, v in r.items() if k not in strip} for r in rows} == before
    assert f"scanned {len(COUNTS)}, failed 0, cached {len(COUNTS)}" in second.stderr


def test_other_options_are_not_answered_by_cached_rows(hub, tmp_path):
    listing = models_file(tmp_path, "Qwen/Qwen3-0.6B")
    (small,) = rows_of(scan(listing, "--format", "jsonl", "--seq-len", "128").stdout)
    (large,) = rows_of(scan(listing, "--format", "jsonl", "--seq-len", "32768").stdout)
    assert large["cached"] is True  # the snapshot came from the cache ...
    assert large["total:inference"] > small["total:inference"]  # ... the estimate did not


def test_refresh_reads_the_hub_again(hub, tmp_path):
    listing = models_file(tmp_path, "Qwen/Qwen3-0.6B", "Qwen/Qwen2.5-7B")
    assert scan(listing, "--format", "jsonl").exit_code == 0
    hub.reset()
    result = scan(listing, "--format", "jsonl", "--refresh")
    assert result.exit_code == 0, result.output
    assert hub.requests_to(r"Qwen3-0\.6B/resolve/.*/model\.safetensors$")
    assert hub.requests_to(r"Qwen2\.5-7B/safetensors-metadata/")
    rows = rows_of(result.stdout)
    assert not any(r["cached"] for r in rows) and all(r["requests"] >= 3 for r in rows)


def test_resume_skips_models_already_in_the_jsonl_output(hub, tmp_path):
    out = tmp_path / "scan.jsonl"
    first = scan(
        models_file(tmp_path, "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "nope/missing"), "--output", str(out)
    )
    assert first.exit_code == 1  # the format comes from the .jsonl name
    assert sorted(r["model"] for r in rows_of(out.read_text())) == [
        "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "nope/missing",
    ]
    hub.reset()

    listing = models_file(tmp_path, "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "nope/missing", "Qwen/Qwen3-0.6B")
    result = scan(listing, "--output", str(out), "--resume")
    assert result.exit_code == 1  # nope/missing failed again
    assert hub.requests_to(r"TinyLlama") == []  # skipped: not even looked up
    assert hub.requests_to(r"nope/missing")  # an error row is tried again ...
    rows = {r["model"]: r for r in rows_of(out.read_text())}
    assert len(rows_of(out.read_text())) == 3  # ... and replaces the old one: each model once
    assert (
        rows_of(out.read_text())[0]["model"] == "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
    )  # kept rows stay first
    assert rows["Qwen/Qwen3-0.6B"]["parameters"] == COUNTS["Qwen/Qwen3-0.6B"]
    assert "not found" in rows["nope/missing"]["error"]
    assert "scanned 2, failed 1" in result.stderr and "skipped 1" in result.stderr


def test_resume_needs_a_jsonl_output(hub, tmp_path):
    result = scan(models_file(tmp_path, "Qwen/Qwen3-0.6B"), "--resume", "--output", str(tmp_path / "x.csv"))
    assert result.exit_code == 2 and "--resume needs" in result.output


def test_rate_limit_is_retried_after_retry_after(hub, tmp_path):
    hub.add_fault(
        r"^/Qwen/Qwen3-0\.6B/resolve/[^/]+/config\.json$", "status", status=429, headers={"Retry-After": "0"}
    )
    hub.add_fault(r"^/api/models/Qwen/Qwen2\.5-7B/safetensors-metadata/", "status", status=503, times=2)
    result = scan(models_file(tmp_path, "Qwen/Qwen3-0.6B", "Qwen/Qwen2.5-7B"), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in rows_of(result.stdout)}
    assert rows["Qwen/Qwen3-0.6B"]["parameters"] == COUNTS["Qwen/Qwen3-0.6B"]
    assert rows["Qwen/Qwen2.5-7B"]["parameters"] == COUNTS["Qwen/Qwen2.5-7B"]
    assert [r.status for r in hub.requests_to(r"Qwen3-0\.6B/resolve/.*/config\.json$")] == [429, 200]
    assert [r.status for r in hub.requests_to(r"Qwen2\.5-7B/safetensors-metadata/")] == [503, 503, 200]
    assert rows["Qwen/Qwen3-0.6B"]["requests"] == 4  # the retry is counted


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "jsonl"])
def test_every_format_parses(hub, tmp_path, fmt):
    listing = models_file(tmp_path, "Qwen/Qwen3-0.6B", "nope/missing", "hubvram-quirks/sharded-small")
    result = scan(listing, "--format", fmt, "--gpu", "RTX 4090")
    assert result.exit_code == 1
    out = result.stdout
    if fmt == "json":
        rows = json.loads(out)
    elif fmt == "jsonl":
        rows = rows_of(out)
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows[0]["parameters"] == str(COUNTS["Qwen/Qwen3-0.6B"]) and rows[0]["fits:RTX 4090"] == "True"
        assert rows[1]["parameters"] == "" and "not found" in rows[1]["error"]
    else:
        assert "596,049,920" in out and "1,705,216" in out and "was not found on the Hub" in out
        assert ("| Qwen/Qwen3-0.6B" in out) == (fmt == "markdown")
        assert "4090 (infer)" in out
        return
    models = [r["model"] for r in rows]
    expected = ["Qwen/Qwen3-0.6B", "nope/missing", "hubvram-quirks/sharded-small"]
    assert (
        models == expected if fmt != "jsonl" else sorted(models) == sorted(expected)
    )  # JSONL: as they finish
    assert len({tuple(r) for r in rows}) == 1  # every row has the same columns


def test_stdin_and_output_file(hub, tmp_path):
    out = tmp_path / "scan.csv"
    result = scan("-", "--output", str(out), input="hubvram-quirks/sharded-small\n# done\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    (row,) = csv.DictReader(io.StringIO(out.read_text()))
    assert row["parameters"] == str(COUNTS["hubvram-quirks/sharded-small"])


def test_pinned_revisions_read_shards_without_deadlock(hub, tmp_path):
    # Off main the shards are read one by one on the inner pool; one worker per pool must still finish.
    listing = models_file(tmp_path, "hubvram-quirks/sharded-small@v1.0", "Qwen/Qwen2.5-7B", "Qwen/Qwen3-0.6B")
    result = scan(listing, "--format", "jsonl", "--concurrency", "1", "--refresh")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in rows_of(result.stdout)}
    assert rows["hubvram-quirks/sharded-small"]["revision"] == "v1.0"
    assert rows["hubvram-quirks/sharded-small"]["parameters"] == COUNTS["hubvram-quirks/sharded-small"]


@pytest.mark.parametrize("value", ["0", "65"])
def test_concurrency_is_bounded(hub, tmp_path, value):
    result = scan(models_file(tmp_path, "Qwen/Qwen3-0.6B"), "--concurrency", value)
    assert result.exit_code == 2


def test_unknown_gpu_fails_before_any_request(hub, tmp_path):
    result = scan(models_file(tmp_path, "Qwen/Qwen3-0.6B"), "--gpu", "no such card")
    assert result.exit_code == 2 and "hubvram: error:" in result.output
    assert hub.requests == []


def test_ctrl_c_keeps_the_jsonl_written_so_far(hub, tmp_path, monkeypatch):
    real = scan_runner.scan_one

    def interrupted(model, *args, **kwargs):
        if model == "Qwen/Qwen2.5-7B":
            raise KeyboardInterrupt
        return real(model, *args, **kwargs)

    monkeypatch.setattr(scan_runner, "scan_one", interrupted)
    out = tmp_path / "scan.jsonl"
    listing = models_file(
        tmp_path, "Qwen/Qwen3-0.6B", "hubvram-quirks/sharded-small", "Qwen/Qwen2.5-7B", "nope/x"
    )
    result = scan(listing, "--output", str(out), "--concurrency", "1")
    assert result.exit_code == 130
    rows = rows_of(out.read_text())  # every line is whole JSON
    assert [r["model"] for r in rows] == ["Qwen/Qwen3-0.6B", "hubvram-quirks/sharded-small"]
    assert "interrupted" in result.stderr

    hub.reset()
    resumed = scan(listing, "--output", str(out), "--resume", "--concurrency", "1")
    assert resumed.exit_code == 130  # the fake Ctrl-C is still armed for Qwen2.5-7B
    monkeypatch.setattr(scan_runner, "scan_one", real)
    resumed = scan(listing, "--output", str(out), "--resume")
    assert resumed.exit_code == 1  # nope/x does not exist
    assert [r["model"] for r in rows_of(out.read_text())][:2] == [
        "Qwen/Qwen3-0.6B",
        "hubvram-quirks/sharded-small",
    ]
    assert len(rows_of(out.read_text())) == 4


def test_library_scan_yields_rows_and_calls_back(hub):
    seen = []
    rows = list(
        scanner.scan(
            [("Qwen/Qwen3-0.6B", None), ("nope/missing", None)],
            RunOptions(gpus=(find_gpu("RTX 4090"),)),
            concurrency=2,
            on_result=seen.append,
        )
    )
    assert sorted(r.model for r in rows) == ["Qwen/Qwen3-0.6B", "nope/missing"]
    assert seen == rows
    ok = next(r for r in rows if r.ok)
    assert ok.to_dict()["parameters"] == COUNTS["Qwen/Qwen3-0.6B"]
    assert dict(ok.totals)["inference"] > 0 and ok.gpus[0].name == "RTX 4090"


def test_engine_adds_the_serving_columns_as_hubvram_model_answers_them(hub, tmp_path):
    listing = models_file(tmp_path, "Qwen/Qwen3-0.6B", "TheBloke/Llama-2-7B-GGUF")
    plain = rows_of(scan(listing, "--format", "jsonl", "--gpu", "H200").stdout)
    assert not any(key.startswith("decode_tokens_per_s") for key in plain[0])  # only when asked for
    result = scan(listing, "--format", "jsonl", "--gpu", "H200", "--engine", "vllm", "--token", FIXTURE_TOKEN)
    qwen, gguf = sorted(rows_of(result.stdout), key=lambda r: r["model"] != "Qwen/Qwen3-0.6B")
    # the numbers `hubvram Qwen/Qwen3-0.6B --engine vllm --gpu H200` works out (tests/report)
    assert (qwen["kv_cache_tokens:H200"], qwen["max_concurrency:H200"]) == (1_167_152, 28.49)
    assert qwen["decode_tokens_per_s:H200"] == 2354.6 and qwen["max_model_len:H200"] == 40_960
    assert "which llama.cpp runs" in gguf["error"] and gguf["kv_cache_tokens:H200"] is None
    again = rows_of(scan(listing, "--format", "jsonl", "--gpu", "H200", "--engine", "vllm").stdout)
    cached = next(r for r in again if r["model"] == "Qwen/Qwen3-0.6B")
    assert cached["cached"] and cached["kv_cache_tokens:H200"] == 1_167_152  # the row cache keeps them
    table = scan(listing, "--gpu", "H200", "--engine", "auto").stdout
    assert "H200 tok/s" in table and "2,355" in table  # GGUF under llama.cpp, safetensors transformers
