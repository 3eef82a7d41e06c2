"""Repos beyond transformers safetensors, against the fixture Hub: Meta's and Mistral's native checkpoints,
GGUF variants, MLX packed weights and PEFT adapters. Exact counts, bytes as stored, headers only."""

from __future__ import annotations

import json

import pytest
from helpers import run as plain_run
from helpers import run_signed_in as run

from hubvram.errors import GatedModel, UsageError
from hubvram.fetch.load import load_snapshot
from hubvram.model import facts_from_snapshot
from hubvram.model.native import meta_ffn_width
from hubvram.testing import FIXTURE_TOKEN

# TheBloke/Llama-2-7B-GGUF as published (file sizes of the Hub's listing): the fixture's headers are
# llama.cpp's tensor mixes with a tokenizer ~66 kB longer than the real one.
PUBLISHED_GGUF_BYTES = {
    "Q4_0": 3_825_807_040,
    "Q4_K_M": 4_081_004_224,
    "Q5_K_M": 4_783_156_928,
    "Q6_K": 5_529_194_176,
    "Q8_0": 7_161_089_728,
}
LLAMA2_7B = 6_738_415_616  # published (meta-llama/Llama-2-7b-hf safetensors, F16)


def read(model: str, **kwargs):
    snapshot = load_snapshot(model, token=FIXTURE_TOKEN, **kwargs)
    return snapshot, facts_from_snapshot(snapshot)


def test_meta_ffn_width_follows_llama_model_py():
    assert meta_ffn_width(4096, 256, None) == 11008  # Llama-2-7B
    assert meta_ffn_width(5120, 256, None) == 13824  # Llama-2-13B
    assert meta_ffn_width(8192, 4096, 1.3) == 28672  # Llama-2-70B
    assert meta_ffn_width(4096, 1024, 1.3) == 14336  # Llama-3-8B


def test_meta_original_count_is_derived_and_checked_against_the_pth_bytes(hub):
    snapshot, facts = read("meta-llama/Llama-2-7b")
    assert facts.format == "meta-original" and facts.parameters.derived
    assert facts.parameters.total == LLAMA2_7B  # the formula, to the parameter
    stored = snapshot.stored_weight_bytes
    assert abs(stored / 2 - facts.parameters.total) / facts.parameters.total < 0.005
    assert not any(r.path.endswith(".pth") for r in hub.requests)  # listed, never read
    _, thirteen = read("meta-llama/Llama-2-13b")
    assert thirteen.parameters.total == 13_015_864_320  # published Llama-2-13b-hf count
    assert len(thirteen.notes[0].split(".pth")) == 2 and "2 .pth file(s)" in thirteen.notes[0]


def test_mistral_native_counts_from_consolidated_safetensors(hub):
    _, facts = read("mistralai/Devstral-Small-2505")
    assert facts.format == "mistral-native" and not facts.parameters.derived
    # tok_embeddings + output 2 x 131,072 x 5,120, norm 5,120, and 40 layers of q (4,096 x 5,120),
    # k and v (1,024 x 5,120), o (5,120 x 4,096), w1 w3 (32,768 x 5,120), w2, two norms
    layer = 2 * 4096 * 5120 + 2 * 1024 * 5120 + 3 * 32768 * 5120 + 2 * 5120
    assert facts.parameters.total == 2 * 131072 * 5120 + 5120 + 40 * layer == 23_572_403_200
    arch = facts.architecture
    assert (arch.kv_heads, arch.attention_head_dim, arch.intermediate_size) == (8, 128, 32768)


def test_gguf_lists_every_variant_with_its_bytes_and_reads_one_header(hub):
    snapshot, facts = read("TheBloke/Llama-2-7B-GGUF")
    assert facts.format == "gguf" and facts.variant == "Q4_K_M"
    assert facts.parameters.total == LLAMA2_7B  # every tensor of the Q4_K_M header, unpacked
    variants = {v.name: v for v in facts.variants}
    assert set(variants) == set(PUBLISHED_GGUF_BYTES)
    for name, published in PUBLISHED_GGUF_BYTES.items():
        assert abs(variants[name].file_bytes - published) / published < 0.01
        assert abs(variants[name].weights_bytes - published) / published < 0.01
    # Q4_K_M by hand: 16 layers with attn_v and ffn_down in Q6_K, 16 without, norms f32, token_embd Q4_K,
    # output Q6_K (llama-quant.cpp), 144 bytes per 256 weights for Q4_K, 210 for Q6_K.
    q4k, q6k = (lambda n: n * 144 // 256), (lambda n: n * 210 // 256)
    sq, ff = 4096 * 4096, 4096 * 11008
    more = 3 * q4k(sq) + q6k(sq) + 2 * q4k(ff) + q6k(ff) + 2 * 4096 * 4
    plain = 4 * q4k(sq) + 3 * q4k(ff) + 2 * 4096 * 4
    assert facts.weights_bytes == 16 * more + 16 * plain + q4k(32000 * 4096) + q6k(32000 * 4096) + 4096 * 4
    assert variants["Q4_K_M"].exact and not variants["Q8_0"].exact
    header = snapshot.gguf_headers[0].data_offset
    gguf_bytes = sum(r.bytes_sent for r in hub.requests if r.path.endswith(".gguf"))
    assert header <= gguf_bytes <= 1.5 * header  # the header, not the 4 GB behind it
    assert all(r.path.endswith("Q4_K_M.gguf") for r in hub.requests if r.path.endswith(".gguf"))


def test_variant_picks_the_header_read(hub):
    _, facts = read("TheBloke/Llama-2-7B-GGUF", variant="q8_0")
    assert facts.variant == "Q8_0" and facts.parameters.by_dtype == {"Q8_0": 6_738_149_376, "F32": 266_240}
    assert facts.weights_bytes == 6_738_149_376 * 34 // 32 + 266_240 * 4  # 34 B per 32 weights; f32 norms
    with pytest.raises(UsageError, match="no GGUF variant 'Q3_K_S' in this repo; it has: Q4_0, Q4_K_M"):
        read("TheBloke/Llama-2-7B-GGUF", variant="Q3_K_S")


def test_split_variant_is_one_variant_and_projectors_are_not_variants(hub):
    snapshot, facts = read("hubvram-quirks/split-gguf", variant="Q8_0")
    assert [v.name for v in facts.variants] == ["Q4_K_M", "Q8_0"]
    q8 = next(v for v in facts.variants if v.name == "Q8_0")
    assert len(q8.files) == 2 and len(snapshot.gguf_headers) == 2  # both parts' tensor infos read
    assert facts.parameters.total == sum(h.parameters for h in snapshot.gguf_headers)
    assert any("mmproj-Tiny-f16.gguf" in note for note in facts.notes)


def test_mlx_packed_weights_unpacked_and_named(hub):
    _, facts = read("mlx-community/Llama-3.2-3B-Instruct-4bit")
    assert facts.format == "mlx"
    assert facts.parameters.total == 3_212_749_824  # Llama-3.2-3B-Instruct's published count
    assert facts.stored_precision == "int4 g64 (mlx)"
    # 4.5 bits a weight for the packed matrices (0.5 B + bf16 scale and bias per 64), norms bf16
    packed = facts.parameters.by_dtype["INT4"]
    assert facts.weights_bytes == packed // 2 + packed // 64 * 4 + facts.parameters.by_dtype["BF16"] * 2


def test_mlx_shows_no_what_if_that_saves_nothing(hub):
    data = json.loads(
        run("mlx-community/Llama-3.2-3B-Instruct-4bit", "--mode", "inference", "--format", "json").output
    )
    assert data["format"] == "mlx"
    assert [e["dtype"] for e in data["estimates"]] == ["int4 g64 (mlx)"]


def test_adapter_names_and_counts_its_base(hub):
    snapshot, facts = read("hubvram-quirks/qwen3-lora")
    assert facts.format == "peft-adapter" and facts.adapter.base_model == "Qwen/Qwen3-0.6B"
    assert facts.parameters.total == 596_049_920  # the base's, read too
    # r 8 on every linear of 28 layers: q 8 x (1,024 + 2,048), k, v 8 x (1,024 + 1,024),
    # o 8 x (2,048 + 1,024), gate, up, down 8 x (1,024 + 3,072)
    per_layer = 2 * 8 * (1024 + 2048) + 2 * 8 * (1024 + 1024) + 3 * 8 * (1024 + 3072)
    assert facts.adapter.parameters == 28 * per_layer == 5_046_272
    assert facts.adapter.lora_targets == ("all",) and snapshot.base.model_id == "Qwen/Qwen3-0.6B"


def test_adapter_estimates_inference_with_it_and_its_lora_training(hub):
    data = json.loads(run("hubvram-quirks/llama2-lora", "--gpu", "RTX 4090", "--format", "json").output)
    assert data["adapter"]["base_model"] == "meta-llama/Llama-2-7b-hf"
    assert data["adapter"]["parameters"] == 8_388_608 == 32 * 2 * 16 * (4096 + 4096)
    inference, training = data["estimates"][0], data["estimates"][-1]
    assert inference["components"]["lora_adapters"] == 8_388_608 * 4  # stored fp32
    assert training["options"]["lora_rank"] == 16 and training["options"]["lora_targets"] == ["q", "v"]


def test_a_gated_base_is_named_in_the_error(hub):
    with pytest.raises(GatedModel) as info:
        load_snapshot("hubvram-quirks/llama2-lora", token=False)
    assert info.value.model == "meta-llama/Llama-2-7b-hf"
    assert str(info.value).startswith(
        "hubvram-quirks/llama2-lora is an adapter for meta-llama/Llama-2-7b-hf: "
    )
    result = plain_run("hubvram-quirks/llama2-lora")  # signed out
    assert result.exit_code == 1
    assert result.output.strip() == (
        "hubvram: error: hubvram-quirks/llama2-lora is an adapter for meta-llama/Llama-2-7b-hf: "
        "meta-llama/Llama-2-7b-hf is gated: accept its terms on the Hub, then log in with `hf auth login` "
        "or pass --token / set HF_TOKEN"
    )


def test_a_transformers_repo_with_native_copies_is_counted_once(hub, make_repo, hub_on):
    config = {"model_type": "mistral", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}
    config |= {"vocab_size": 16, "intermediate_size": 16, "tie_word_embeddings": False}
    tensors = {"model.embed_tokens.weight": ("BF16", [16, 8]), "lm_head.weight": ("BF16", [16, 8])}
    make_repo(
        "t/both",
        files={
            "config.json": config,
            "params.json": {"dim": 8, "n_layers": 1, "n_heads": 2, "vocab_size": 16},
        },
        safetensors={"model.safetensors": tensors, "consolidated.safetensors": tensors},
        virtual_files={"original/consolidated.00.pth": 1000},
    )
    hub_on(make_repo.root)
    snapshot = load_snapshot("t/both")
    assert snapshot.weights_format == "safetensors" and [f.filename for f in snapshot.weight_files] == [
        "model.safetensors"
    ]
    assert facts_from_snapshot(snapshot).parameters.total == 2 * 16 * 8


def test_gguf_through_the_cli_lists_variants_and_partial_offload(hub):
    result = run("TheBloke/Llama-2-7B-GGUF", "--gpu", "RTX 4090", "--gpu-memory", "4GiB")
    assert result.exit_code == 0, result.output
    assert "variants      5 GGUF files: Q4_0 3.56 GiB, Q4_K_M 3.80 GiB" in result.output
    assert "ngl 23/33" in result.output and "in system memory" in result.output  # 4 GiB: part of the layers
    one = json.loads(run("TheBloke/Llama-2-7B-GGUF", "--variant", "Q8_0", "--format", "json").output)
    assert [e["dtype"] for e in one["estimates"]] == ["Q8_0"] and one["variant"] == "Q8_0"
    assert [v["name"] for v in one["variants"]] == ["Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"]
    training = run("TheBloke/Llama-2-7B-GGUF", "--mode", "training")
    assert training.exit_code == 2 and "GGUF files, which llama.cpp runs for inference" in training.output


@pytest.mark.parametrize(
    ("model", "variant"),
    [
        ("TheBloke/Llama-2-7B-GGUF", None),
        ("TheBloke/Llama-2-7B-GGUF", "Q6_K"),
        ("hubvram-quirks/qwen3-lora", None),
    ],
)
def test_new_layouts_are_cached_like_any_repo(hub, monkeypatch, model, variant):
    first, facts = read(model, variant=variant)
    hub.reset()
    again, cached = read(model, variant=variant)
    assert again.cached and hub.requests == [] and cached == facts
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert read(model, variant=variant)[1] == facts
