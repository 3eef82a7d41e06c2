"""Counting from header summaries gives what counting every tensor gave, on every fixture repo; and the
header-heavy MoE repos count to their published sizes."""

from __future__ import annotations

import math

import pytest
from reads import expected_rows, read

from hubvram import errors
from hubvram.model.counting import (
    EMBEDDING_SUFFIXES,
    PACKED_DTYPES,
    _count_notes,
    _is_buffer,
    _is_lm_head,
    _is_quant_aux,
    _sorted,
    _tied_duplicates,
    _unpacked,
    count_parameters,
    mlx_quantization,
    stores_head_and_embedding,
)
from hubvram.model.facts import ParameterCount


def count_every_tensor(files, arch):
    """count_parameters as it was before header summaries: one tensor at a time (the reference)."""
    stored, params, buffers = {}, {}, {}
    aux_bytes = weights_bytes = 0
    tensors = [t for f in files for t in f.tensors]
    duplicates = _tied_duplicates(tensors, arch)
    mlx = mlx_quantization(arch) is not None
    for tensor in tensors:
        name, dtype, shape, start, end = tensor
        numel = math.prod(shape)
        stored[dtype] = stored.get(dtype, 0) + numel
        if _is_buffer(name, shape):
            buffers[dtype] = buffers.get(dtype, 0) + numel
            continue
        if name in duplicates:
            continue
        weights_bytes += end - start
        if _is_quant_aux(name) or (mlx and name.endswith(".biases")):
            aux_bytes += end - start
            continue
        label, count = (dtype, numel) if dtype not in PACKED_DTYPES else _unpacked(tensor, arch)
        params[label] = params.get(label, 0) + count
    tied = sum(t.numel for t in tensors if t.name in duplicates)
    count = ParameterCount(
        by_dtype=_sorted(params),
        stored_by_dtype=_sorted(stored),
        buffers_by_dtype=_sorted(buffers),
        tied_duplicates=tied,
        quantization_aux_bytes=aux_bytes,
        source="safetensors",
    )
    return count, weights_bytes, _count_notes(buffers, tied, aux_bytes)


SAFETENSORS_REPOS = sorted(
    m
    for m, row in expected_rows().items()
    if row["safetensors_files"] != "0" and not m.startswith(("hubvram-hostile/", "local/"))
)


@pytest.mark.parametrize("model", SAFETENSORS_REPOS)
def test_summaries_count_what_every_tensor_counts(hub, model):
    try:
        snapshot, facts = read(model)
    except errors.HubVramError as exc:
        assert "config.json" in str(exc), str(exc)  # gated repos without a public config
        return
    files = snapshot.weight_files
    assert count_parameters(files, facts.architecture) == count_every_tensor(files, facts.architecture)
    names = [t.name for f in files for t in f.tensors]
    stores_both = any(map(_is_lm_head, names)) and any(n.endswith(EMBEDDING_SUFFIXES) for n in names)
    assert stores_head_and_embedding(files) == stores_both
    assert sum(f.tensor_count for f in files) == len(names)


def test_every_tensor_kind_counts_the_same_from_the_summary(hub):
    """Tied heads, buffers, FP8 scales, GPTQ, bitsandbytes and MLX storage: the repos built for them."""
    for model in (
        "Qwen/Qwen3-0.6B",
        "openai-community/gpt2",
        "meta-llama/Llama-2-7b-hf",
        "deepseek-ai/DeepSeek-V3",
        "hubvram-quirks/gptq-int4",
        "hubvram-quirks/bnb-4bit",
        "hubvram-quirks/fp8-scales",
        "hubvram-quirks/tied-twice",
        "mlx-community/Llama-3.2-3B-Instruct-4bit",
        "openai/gpt-oss-20b",
    ):
        snapshot, facts = read(model)
        expected = count_every_tensor(snapshot.weight_files, facts.architecture)
        assert (facts.parameters, facts.weights_bytes) == expected[:2], model


# Derived from each release's config.json and its modules' shapes (fixtures/build_heavy_fixtures.py),
# here by formula, independently of the fixture (no exact published count of these repos was at hand).
QWEN3_NEXT = 81_324_862_720  # 79,674,391,296 without the MTP layer: the total quoted for Qwen3-Coder-Next
ERNIE_45_21B = 21_825_437_888


def qwen3_next_parameters(mtp: bool) -> int:
    h, vocab, layers, experts, e, shared = 2048, 151_936, 48, 512, 512, 512
    full_attention = 2 * h * 16 * 256 + 2 * h * 2 * 256 + 16 * 256 * h + 2 * 256  # q (gated), k, v, o, norms
    key, value = 16 * 128, 32 * 128
    linear = h * (2 * key + 2 * value) + h * 64 + (2 * key + value) * 4 + 32 + 32 + 128 + value * h
    moe = experts * h + experts * 3 * h * e + 3 * h * shared + h  # router, experts, shared one, its gate
    per_layer = 2 * h + moe
    total = layers * per_layer + 12 * full_attention + 36 * linear + 2 * vocab * h + h
    if mtp:  # fc over [embedding; hidden], two pre-norms, one full-attention MoE layer, a norm
        total += 2 * h * h + 2 * h + per_layer + full_attention + h
    return total


def ernie_parameters() -> int:
    h, vocab, layers, experts, e = 2560, 103_424, 28, 64, 1536
    attention = 2 * h * 20 * 128 + 2 * h * 4 * 128
    dense = 3 * h * 12288
    moe = experts * h + experts + experts * 3 * h * e + 3 * h * 2 * e  # router, bias, experts, shared
    return layers * (attention + 2 * h) + dense + (layers - 1) * moe + vocab * h + h  # tied: one embedding


def test_heavy_moe_repos_count_to_the_parameter(hub):
    assert qwen3_next_parameters(mtp=True) == QWEN3_NEXT
    assert qwen3_next_parameters(mtp=False) == 79_674_391_296
    assert ernie_parameters() == ERNIE_45_21B
    snapshot, facts = read("Qwen/Qwen3-Next-80B-A3B-Instruct")
    assert facts.parameters.total == QWEN3_NEXT and facts.parameters.by_dtype == {"BF16": QWEN3_NEXT}
    # per layer 2 norms + router + 512 x 3 experts + 3 shared + its gate; 12 x 6 attention and 36 x 7
    # linear-attention tensors; embedding, norm, head; the MTP layer with its fc, 3 norms and attention
    tensors = 48 * 1543 + 12 * 6 + 36 * 7 + 3 + (1543 + 6 + 4)
    assert len(snapshot.weight_files) == 41 and sum(f.tensor_count for f in snapshot.weight_files) == tensors
    assert facts.parameters.tied_duplicates == 0 and not facts.parameters.buffers_by_dtype
    _, facts = read("baidu/ERNIE-4.5-21B-A3B-PT")
    assert facts.parameters.total == ERNIE_45_21B
    assert facts.parameters.by_dtype == {"BF16": 21_821_012_480, "F32": 4_425_408}  # F32 routers
