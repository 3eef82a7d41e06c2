"""The answer a user reads: card counts a hand calculation supports, defaults most runs use, limits
labelled, what-ifs only where they change something, caveats of the hardware, 100 columns."""

from __future__ import annotations

import json

from helpers import json_report as report
from helpers import run_signed_in as run

from hubvram.gpus import find_gpu, fit

CONTEXT_AND_WORKSPACE = 500 * 2**20 + 32 * 2**20  # estimator/result.py: CUDA context + cuBLAS workspace


def test_deepseek_v3_on_4090s_needs_the_cards_a_hand_calculation_says(hub):
    data = report("deepseek-ai/DeepSeek-V3", "--mode", "inference", "--dtype", "int4", "--gpu", "RTX 4090")
    c = data["estimates"][0]["components"]
    peak = c["weights"] + c["kv_cache"] + c["activations"]  # the tensors; the runtime is per card
    usable = find_gpu("RTX 4090").memory_bytes  # 25,250,627,584
    # each card: its share of the tensors with 5% allocator slack, plus its own context and workspace
    room = int((usable - CONTEXT_AND_WORKSPACE) / 1.05)  # 23,516,938,240 bytes of tensors a card
    assert -(-peak // room) == data["gpus"][0]["estimates"][0]["gpus_needed"] == 16
    # the weights alone over what a card has left after its runtime: 14.5 cards, 16 with slack and KV
    assert c["weights"] / (usable - CONTEXT_AND_WORKSPACE) < 15


def test_llama2_lora_fits_on_the_3060s_a_hand_calculation_says(hub):
    data = report(
        "meta-llama/Llama-2-7b-hf", "--mode", "training", "--lora-rank", "16", "--gpu", "RTX 3060 12GB"
    )
    e, f = data["estimates"][0], data["gpus"][0]["estimates"][0]
    peak = sum(v for k, v in e["components"].items() if k != "overhead")
    room = int((find_gpu("RTX 3060 12GB").memory_bytes - CONTEXT_AND_WORKSPACE) / 1.05)
    assert f["gpus_needed"] == -(-peak // room) == 3  # 26.6 GiB of tensors over ~10.9 GiB a card


def test_the_runtime_is_paid_per_card_not_charged_whole_to_each():
    card = find_gpu("H100 80GB")
    one_gib = 2**30
    split = fit(100 * one_gib, card, fixed_bytes=one_gib, slack=0.05)
    # peak (100 - 1) / 1.05 = 94.3 GiB of tensors over (79.18 - 1) / 1.05 = 74.5 GiB a card: 2 cards
    assert split.gpus_needed == 2 and split.per_gpu_bytes < card.memory_bytes


def test_a_bare_gpu_memory_is_gb_and_said_so(hub):
    data = report("Qwen/Qwen3-0.6B", "--mode", "inference", "--gpu-memory", "24")
    assert data["gpus"][0]["name"] == "custom (24 GB)" and data["gpus"][0]["memory_bytes"] == 24 * 10**9
    assert "bare number of GB" in " ".join(run("estimate", "--help").output.split())
    bad = run("Qwen/Qwen3-0.6B", "--overhead", "500")
    assert bad.exit_code == 2 and "has no unit" in bad.output


def test_pre_quantized_repos_get_no_what_if_that_changes_nothing(hub):
    for repo in ("hubvram-quirks/gptq-int4", "hubvram-quirks/bnb-4bit", "hubvram-quirks/awq-int4"):
        dtypes = [e["dtype"] for e in report(repo, "--mode", "inference", "--gpu", "RTX 4090")["estimates"]]
        assert len(dtypes) == 1, (repo, dtypes)  # the stored precision only


def test_default_training_is_mixed_bf16_adamw_and_labelled(hub):
    result = run("meta-llama/Llama-2-7b-hf", "--mode", "training", "--gpu", "H100 80GB")
    assert "training (mixed-bf16)" in result.output
    e = report("meta-llama/Llama-2-7b-hf", "--mode", "training", "--gpu", "H100 80GB")["estimates"][0]
    assert e["options"]["mixed_precision"] == "bf16" and e["options"]["optimizer"] == "adamw"
    params = 6_738_415_616
    # fp32 master weights, fp32 gradients, two fp32 AdamW states: 16 bytes a parameter (+ foreach scratch)
    c = e["components"]
    assert (c["weights"], c["gradients"], c["optimizer_states"]) == (4 * params, 4 * params, 8 * params)
    pure = run("meta-llama/Llama-2-7b-hf", "--mode", "training", "--dtype", "bf16", "--gpu", "H100 80GB")
    assert "training (pure-bf16)" in pure.output and "no fp32 master copy" in pure.output
    qlora = run("meta-llama/Llama-2-7b-hf", "--mode", "training", "--dtype", "nf4", "--lora-rank", "16")
    assert "QLoRA recipes turn on gradient checkpointing" in qlora.output


def test_limits_are_for_the_first_scenario_that_fits_and_caps_are_said(hub):
    data = report("Qwen/Qwen3-30B-A3B", "--gpu", "RTX 4090")
    row = data["gpus"][0]
    limits_of = data["estimates"][row["limits_of"]]
    assert (limits_of["mode"], limits_of["dtype"]) == ("inference", "int4")  # bf16 needs 3 cards
    assert row["max_seq_len"] and row["max_batch_size"]
    text = run("Qwen/Qwen3-30B-A3B", "--gpu", "RTX 4090").output
    assert f"{row['max_batch_size']} (int4)" in text
    # 32 tokens of Qwen3-0.6B hold 28 x 2 x 8 x 128 x 2 x 32 = 3.7 MB of KV: 4,096 sequences take 15 GB
    tiny = run("Qwen/Qwen3-0.6B", "--mode", "inference", "--gpu", "H100 80GB", "--seq-len", "32").output
    assert ">= 4,096" in tiny  # the batch search stops at 4,096: the card holds at least that


def test_the_cache_says_it_answered(hub):
    assert "4 requests" in run("meta-llama/Llama-2-7b-hf", "--mode", "inference").output
    again = run("meta-llama/Llama-2-7b-hf", "--mode", "inference").output
    assert "read          from hubvram's cache, no header bytes" in again


def test_hardware_caveats(hub):
    text = run("hubvram-quirks/fp8-scales", "--gpu", "T4", "--gpu", "H100 80GB").output
    t4 = text.split("  T4 ")[1].split("  H100 80GB")[0]
    assert "no fp8 tensor cores" in t4 and "no bf16 tensor cores" in t4
    h100 = text.split("  H100 80GB ")[1].split("\n\n")[0]
    assert "tensor cores" not in h100
    mac = run("meta-llama/Llama-2-7b-hf", "--gpu", "Apple M4 16GB", "--format", "json")
    fits = json.loads(mac.stdout)["gpus"][0]["estimates"]
    assert [f["gpus_needed"] for f in fits if not f["fits"]] == [None, None]  # one unified memory: no "Nx"


def test_default_output_fits_100_columns(hub):
    for repo in ("meta-llama/Llama-2-7b-hf", "TheBloke/Llama-2-7B-GGUF", "Qwen/Qwen3-30B-A3B"):
        result = run(repo)
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.stdout.splitlines()) <= 100, repo
    gpus = run("gpus").stdout
    assert max(len(line) for line in gpus.splitlines()) <= 100 and "how usable" not in gpus
    assert "how usable was derived" in run("gpus", "--verbose").stdout


def test_one_verdict_line_per_gpu_on_top(hub):
    text = run("meta-llama/Llama-2-7b-hf", "--gpu", "RTX 4090", "--gpu", "RTX 4060").stdout
    head = text.split("on one card (batch 1, 2,048 tokens):\n")[1].split("\n\n")[0]
    head = " ".join(head.split())  # one line per GPU, wrapped at 100 columns
    assert head.startswith("RTX 4090 inference in fp16 fits, 8.6 GiB free, up to 4,096 tokens")
    assert "RTX 4060 inference in int4 fits" in head and "; inference in fp16 needs 3 cards;" in head


def test_an_mla_model_shows_its_attention_as_it_is_laid_out(hub):
    """DeepSeek-V3: hidden / heads = 56 is no head size it has; q/k heads are 128 + 64, v heads 128, and
    the KV cache holds the 512-wide latent plus the 64 rope dimensions (config.json)."""
    text = " ".join(run("deepseek-ai/DeepSeek-V3", "--mode", "inference", "--gpu", "H100").output.split())
    assert "128 heads (MLA: q/k head 192, v head 128, KV latent 512 + rope 64)" in text
    assert "head_dim 56" not in text
    llama = " ".join(run("meta-llama/Llama-2-7b-hf", "--mode", "inference", "--gpu", "H100").output.split())
    assert "32 heads (32 KV, head_dim 128)" in llama
