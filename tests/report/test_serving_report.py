"""Serving answers a user reads: --engine (transformers, vllm, llama.cpp), per-GPU `serving` and `speed` in
JSON, CSV and the table, worked by hand; --chart."""

from __future__ import annotations

import csv
import io
import math

from helpers import json_report as report
from helpers import run_signed_in as run

GiB = 2**30
QWEN = "Qwen/Qwen3-0.6B"  # 28 layers, hidden 1024, MLP 3072, 8 KV heads of 128, vocab 151,936, tied
QWEN_BF16_BYTES = 596_049_920 * 2


def test_vllm_on_an_h200_by_hand(hub):
    """vLLM 0.33's start-up arithmetic (estimator/vllm.py, notes/VLLM.md) for Qwen3-0.6B on an H200."""
    requested = math.ceil(150_020_816_896 * 0.92)  # cudaMemGetInfo total x gpu_memory_utilization
    # vllm serve on a 139.7 GiB card profiles 8,192 tokens over 1,024 sequences; the sampler is the peak:
    # 1,024 rows of bf16 logits and three fp32 copies, plus the hidden states of the 8,192 tokens
    sampler = 1024 * 151_936 * (2 + 3 * 4) + 8192 * 1024 * 2
    assert sampler > 8192 * (2 * 1024 + 3 * 3072) * 2  # the MLP's forward peak is smaller
    non_torch, graphs = int(0.2 * GiB), int(0.52 * GiB)
    budget = requested - QWEN_BF16_BYTES - sampler - non_torch - graphs
    per_block = 2 * 16 * 8 * 128 * 2 * 28  # K and V of 16 tokens, 8 heads of 128, bf16, 28 layers
    blocks = budget // per_block
    assert (blocks, blocks * 16) == (72_947, 1_167_152)

    data = report(QWEN, "--engine", "vllm", "--gpu", "H200", "--mode", "inference")
    serving = data["gpus"][0]["serving"]
    assert data["engine"] == "vllm" and serving["engine"] == "vllm 0.33.0"
    assert serving["kv_budget_bytes"] == budget
    assert serving["kv_cache_tokens"] == 1_167_152
    assert serving["max_concurrency"] == round(blocks / (40_960 // 16), 2) == 28.49  # at its 40,960 context
    assert serving["max_model_len"] == 40_960 and serving["fits"]

    text = run(QWEN, "--engine", "vllm", "--gpu", "H200", "--mode", "inference").stdout
    heading = "served by vllm 0.33.0 on one card (gpu_memory_utilization 0.92, requests of 40,960 tokens)"
    assert heading in text
    assert "1,167,152" in text and "28.49x" in text

    asked = report(QWEN, "--engine", "vllm", "--gpu", "H200", "--seq-len", "8192", "--mode", "inference")
    assert asked["gpus"][0]["serving"]["max_concurrency"] == round(blocks / (8192 // 16), 2)  # 142.47x
    half = report(QWEN, "--engine", "vllm", "--gpu", "H200", "--gpu-memory-utilization", "0.5")
    assert half["gpus"][0]["serving"]["gpu_memory_utilization"] == 0.5
    assert half["gpus"][0]["serving"]["kv_cache_tokens"] < 1_167_152 // 1.8


def test_decode_and_prefill_bounds_by_hand(hub):
    data = report(QWEN, "--gpu", "H200", "--mode", "inference")
    speed = data["gpus"][0]["speed"]
    # decode reads every weight (the tied lm_head is the embedding matrix) and the KV of 2,048 tokens
    kv = 28 * 2 * 8 * 128 * 2 * 2048
    read = QWEN_BF16_BYTES + kv
    bandwidth = 4.8e12  # H200 datasheet
    assert speed["decode_tokens_per_s"] == round(0.70 * bandwidth / read, 1) == 2354.6
    assert speed["decode_tokens_per_s"] < bandwidth / read  # never above the bandwidth bound
    assert speed["efficiency"]["decode"] == 0.70 and "THROUGHPUT.md" in speed["efficiency"]["decode_source"]
    # prefill: 2 FLOPs per weight per token (embeddings are a lookup), causal attention, one lm_head row
    matmul = 596_049_920 - 151_936 * 1024
    n = 2048
    attention = 28 * 4 * 16 * 128 * n * (n + 1) / 2  # QK^T and AV over the causal triangle, 16 heads
    flops = 2 * matmul * n + attention + 2 * 1024 * 151_936
    assert speed["prefill_tokens_per_s"] == round(n / (flops / (989.4e12 * 0.5)), 1)
    # each what-if precision has its own bound, faster as the weights shrink
    estimates = data["gpus"][0]["estimates"]
    rates = [e["speed"]["decode_tokens_per_s"] for e in estimates]
    assert rates == sorted(rates) and len(set(rates)) == 3


def test_transformers_is_the_default_and_serves_the_limits(hub):
    data = report(QWEN, "--gpu", "RTX 4090")
    row = data["gpus"][0]
    assert data["engine"] == "transformers"
    assert row["serving"]["engine"] == "transformers" and row["serving"]["kv_cache_tokens"] is None
    assert row["serving"]["max_concurrency"] == row["max_batch_size"]
    assert row["serving"]["max_model_len"] == row["max_seq_len"]
    training = [e for e in row["estimates"] if e["speed"] is None]
    assert len(training) == 1  # training rows have no decode speed
    text = run(QWEN, "--gpu", "RTX 4090").stdout
    assert "tokens/s on one card (batch 1, 2,048 tokens):" in text


def test_gguf_is_served_by_llamacpp_with_layers_on_small_cards(hub):
    data = report("TheBloke/Llama-2-7B-GGUF", "--gpu", "RTX 4090", "--gpu-memory", "3")
    assert data["engine"] == "llama.cpp"
    big, small = data["gpus"]
    assert big["serving"]["engine"].startswith("llama.cpp ") and big["serving"]["variant"] == "Q4_K_M"
    assert big["serving"]["max_model_len"] == big["max_seq_len"] == 4096
    assert big["speed"]["decode_tokens_per_s"] > 0
    # variants whose header was not read have no speed (their tensor types are unknown)
    assert [e["speed"] is None for e in big["estimates"]][1:] == [True] * (len(big["estimates"]) - 1)
    assert small["serving"]["fits"] is False and 0 < small["serving"]["n_gpu_layers"] < 33
    assert small["serving"]["layers"] == 33 and small["speed"] is None
    text = run("TheBloke/Llama-2-7B-GGUF", "--gpu", "RTX 4090", "--gpu-memory", "3").stdout
    assert f"{small['serving']['n_gpu_layers']}/33" in text


def test_engine_that_cannot_load_the_repo_is_a_usage_error(hub):
    gguf = run("TheBloke/Llama-2-7B-GGUF", "--engine", "vllm")
    assert gguf.exit_code == 2 and "holds GGUF files, which llama.cpp runs" in gguf.output
    safetensors = run(QWEN, "--engine", "llama.cpp")
    assert safetensors.exit_code == 2 and "llama.cpp loads only GGUF" in safetensors.output
    flags = run(QWEN, "--gpu-memory-utilization", "0.8")
    assert flags.exit_code == 2 and "add --engine vllm" in flags.output
    version = run(QWEN, "--engine", "vllm", "--vllm-version", "0.9")
    assert version.exit_code == 2 and "0.14 and later" in version.output
    for result in (gguf, safetensors, flags, version):
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_vllm_says_what_stops_it(hub):
    result = run("Qwen/Qwen3-30B-A3B", "--engine", "vllm", "--gpu", "RTX 4090", "--gpu", "Apple M4 16GB")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "RTX 4090: No available memory for the cache blocks." in text  # vLLM's own words
    assert "Apple M4 16GB: vLLM runs on CUDA and ROCm GPUs" in text
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    data = report("Qwen/Qwen3-30B-A3B", "--engine", "vllm", "--gpu", "RTX 4090", "--tensor-parallel", "4")
    assert data["gpus"][0]["serving"]["fits"]  # 61 GB of bf16 weights: 15.3 GB on each of four 4090s


def test_csv_carries_the_speed_and_serving_columns(hub):
    result = run(QWEN, "--engine", "vllm", "--gpu", "H200", "--mode", "inference", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["kv_cache_tokens:H200"] == "1167152" and rows[0]["decode_tokens_per_s:H200"] == "2354.6"
    assert rows[1]["kv_cache_tokens:H200"] == ""  # the int8 what-if is another checkpoint for vLLM


def test_chart_is_written_with_a_line_per_gpu(hub, tmp_path):
    path = tmp_path / "qwen.svg"
    result = run(QWEN, "--gpu", "RTX 4060", "--gpu", "H100 80GB", "--chart", str(path))
    assert result.exit_code == 0, result.output
    assert f"chart written to {path}" in result.stderr
    svg = path.read_text()
    assert svg.startswith("<?xml") and svg.rstrip().endswith("</svg>")
    assert 'data-gpu="RTX 4060"' in svg and 'data-gpu="H100 80GB"' in svg
    assert 'data-label="inference bf16"' in svg and 'data-label="inference int4"' in svg
    assert "training" not in svg  # the training curve would flatten the inference ones
    html = tmp_path / "qwen.html"
    assert run(QWEN, "--chart", str(html)).exit_code == 0 and "<svg" in html.read_text()
    png = run(QWEN, "--chart", str(tmp_path / "qwen.png"))
    assert png.exit_code == 2 and "rsvg-convert" in png.output and not (tmp_path / "qwen.png").exists()
