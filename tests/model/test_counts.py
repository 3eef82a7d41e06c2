"""Exact parameter counts of the fixture repos: published totals to the parameter, packed and tied tensors."""

from __future__ import annotations

import pytest
from reads import FIXTURES, expected_rows, published_counts, read

from hubvram import errors
from hubvram.fetch.load import load_snapshot
from hubvram.testing import FIXTURE_TOKEN


def test_qwen3_stored_twice_resident_once(hub):
    _, facts = read("Qwen/Qwen3-0.6B")
    assert facts.parameters.stored_total == 751_632_384  # the Hub's count
    assert facts.parameters.total == 596_049_920  # what memory holds: lm_head is tied
    assert facts.parameters.tied_duplicates == 151_936 * 1024


@pytest.mark.parametrize(
    "model", sorted(m for m, row in expected_rows().items() if row["safetensors_files"] != "0")
)
def test_every_fixture_repo_stores_what_the_generator_wrote(hub, model):
    row = expected_rows()[model]
    try:
        snapshot, _ = read(str(FIXTURES / model) if model.startswith("local/") else model)
    except errors.HubVramError as exc:
        assert model.startswith("hubvram-hostile/") or "config.json" in str(exc), str(exc)
        return
    stored = {}
    for tensor in (t for f in snapshot.weight_files for t in f.tensors):
        stored[tensor.dtype] = stored.get(tensor.dtype, 0) + tensor.numel
    expected = dict(item.split(":") for item in row["stored_by_dtype"].split(","))
    assert stored == {k: int(v) for k, v in expected.items()}
    assert len(snapshot.weight_files) == int(row["safetensors_files"])


PUBLISHED_RESIDENT = {
    # model: (published total, parameters resident in memory as hubvram counts them)
    "google-bert/bert-base-uncased": 110_106_428,
    "bigscience/bloom": 176_247_271_424,
    "openai-community/gpt2": 124_439_808,  # 137,022,720 minus the 12 x 1024 x 1024 attn.bias buffers
    "google-t5/t5-small": 60_506_880,
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1_100_048_384,
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Meta-Llama-3-8B": 8_030_261_248,
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "meta-llama/Llama-3.1-8B-Instruct": 8_030_261_248,
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.2-1B-Instruct": 1_235_814_400,
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "Qwen/Qwen2.5-3B-Instruct": 3_085_938_688,
    "Qwen/Qwen3-0.6B": 596_049_920,
    "Qwen/Qwen3-30B-A3B": 30_532_122_624,
    "microsoft/Phi-3-mini-128k-instruct": 3_821_079_552,
    "google/medgemma-27b-it": 27_432_406_640,
    "openai/gpt-oss-20b": 20_914_757_184,
}


@pytest.mark.parametrize("model", sorted(PUBLISHED_RESIDENT))
def test_published_counts_to_the_parameter(hub, model):
    _, facts = read(model)
    published = published_counts()[model]
    assert facts.parameters.total == PUBLISHED_RESIDENT[model]
    buffers = sum(facts.parameters.buffers_by_dtype.values())
    if model == "openai/gpt-oss-20b":  # the published count unpacks MXFP4 and leaves the U8 scales out
        assert facts.parameters.by_dtype == {"MXFP4": 19_110_297_600, "BF16": 1_804_459_584}
    else:
        assert facts.parameters.total + buffers + facts.parameters.tied_duplicates == published


def test_falcon_bin_only_count_is_derived_and_says_so(hub):
    snapshot, facts = read("tiiuae/falcon-7b")
    assert snapshot.weights_format == "pytorch"
    assert facts.parameters.source == "stored size" and facts.parameters.derived
    assert facts.parameters.total == 7_217_189_760  # bytes / 2 for bfloat16, as PARAM_COUNTS says
    assert any("derived" in note and "not read" in note for note in facts.notes)
    assert not any(r.path.endswith(".bin") for r in hub.requests)


def test_quantized_repos_unpacked(hub):
    _, bnb = read("hubvram-quirks/bnb-4bit")
    assert set(bnb.parameters.by_dtype) == {"NF4", "BF16"}
    _, fp8 = read("hubvram-quirks/fp8-scales")
    assert fp8.parameters.by_dtype["F8_E4M3"] == fp8.parameters.stored_by_dtype["F8_E4M3"]
    assert fp8.parameters.quantization_aux_bytes == 28 * 4  # F32 weight_scale/input_scale, 0-dim each


def test_gptq_packed_counts_exact(hub):
    snapshot, facts = read("hubvram-quirks/gptq-int4")
    qweight = sum(t.numel for f in snapshot.weight_files for t in f.tensors if t.name.endswith(".qweight"))
    assert facts.parameters.by_dtype["INT4"] == qweight * 8


def test_subfolder_layouts(hub):
    snapshot, facts = read("hubvram-quirks/sentence-transformers")
    assert [f.filename for f in snapshot.weight_files] == ["model.safetensors", "2_Dense/model.safetensors"]
    assert snapshot.components == ("2_Dense",)
    snapshot = load_snapshot("hubvram-quirks/diffusers", token=FIXTURE_TOKEN)
    assert sorted(snapshot.components) == ["text_encoder", "unet", "vae"]
    assert snapshot.config.get("_class_name")
