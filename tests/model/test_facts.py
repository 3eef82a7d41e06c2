"""The model stage on its own: config normalisation across families, counts from headers, ModelFacts."""

from __future__ import annotations

from pathlib import Path

from hubvram.fetch.local import read_local
from hubvram.fetch.safetensors import SafetensorsFile, TensorInfo
from hubvram.model import facts_from_snapshot, read_architecture
from hubvram.model.counting import count_parameters, decoder_parameters

TINY_LLAMA = Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama"
# tiny-llama by hand: embeddings 256 x 64, an untied lm_head of the same size, and per layer q, o (64 x 64),
# k, v (64 x 32), a gated MLP (3 x 64 x 128) and two norms (2 x 64); two layers and a final norm.
TINY_LLAMA_PARAMS = 2 * 256 * 64 + 2 * (2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128 + 2 * 64) + 64


def tensor(name: str, dtype: str, shape: tuple[int, ...], start: int = 0) -> TensorInfo:
    width = {"BF16": 2, "F32": 4, "I32": 4, "F16": 2}[dtype]
    size = width
    for d in shape:
        size *= d
    return TensorInfo(name, dtype, shape, start, start + size)


def laid_out(*specs: tuple[str, str, tuple[int, ...]]) -> SafetensorsFile:
    tensors, offset = [], 0
    for name, dtype, shape in specs:
        t = tensor(name, dtype, shape, offset)
        tensors.append(t)
        offset = t.end
    return SafetensorsFile("model.safetensors", tuple(tensors))


def test_gpt2_field_names_and_the_implicit_mlp_width():
    arch = read_architecture(
        {
            "model_type": "gpt2",
            "n_embd": 768,
            "n_layer": 12,
            "n_head": 12,
            "vocab_size": 50257,
            "n_positions": 1024,
        }
    )
    assert (arch.hidden_size, arch.num_layers, arch.num_attention_heads) == (768, 12, 12)
    assert arch.intermediate_size == 4 * 768  # GPT2Config n_inner=None
    assert arch.kv_heads == 12 and arch.attention_head_dim == 64 and arch.max_position_embeddings == 1024


def test_falcon_multi_query_has_one_kv_head():
    arch = read_architecture(
        {"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71}
        | {"vocab_size": 65024, "multi_query": True}
    )
    assert arch.kv_heads == 1 and arch.attention_head_dim == 64


def test_a_window_the_config_does_not_use_is_dropped_and_gemma2_alternates():
    qwen2 = {"model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    assert (
        read_architecture(
            {**qwen2, "vocab_size": 10, "sliding_window": 4096, "use_sliding_window": False}
        ).sliding_window
        is None
    )
    gemma2 = {"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4}
    arch = read_architecture({**gemma2, "vocab_size": 10, "sliding_window": 4096, "head_dim": 16})
    assert arch.layer_types == ("sliding_attention", "full_attention") * 2


def test_vision_language_configs_are_read_from_their_text_config():
    arch = read_architecture(
        {
            "model_type": "gemma3",
            "text_config": {
                "hidden_size": 2560,
                "num_hidden_layers": 34,
                "num_attention_heads": 8,
                "vocab_size": 262208,
            },
            "vision_config": {"hidden_size": 1152},
        }
    )
    assert (arch.hidden_size, arch.num_layers, arch.model_type) == (2560, 34, "gemma3")


def test_zero_experts_mean_a_dense_model():
    base = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    assert not read_architecture({**base, "vocab_size": 10, "num_experts": 0}).is_moe


def test_tiny_llama_counted_from_its_header_matches_the_hand_count():
    facts = facts_from_snapshot(read_local(TINY_LLAMA))
    assert facts.parameters.total == TINY_LLAMA_PARAMS == 106_816
    assert facts.parameters.by_dtype == {"BF16": TINY_LLAMA_PARAMS}
    assert facts.weights_bytes == 2 * TINY_LLAMA_PARAMS
    assert decoder_parameters(facts.architecture) == TINY_LLAMA_PARAMS  # the config formula agrees
    data = facts.to_dict()
    assert data["parameters"]["total"] == TINY_LLAMA_PARAMS and data["architecture"]["num_layers"] == 2


def test_tied_copies_buffers_and_packed_weights():
    arch = read_architecture(
        {"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}
        | {
            "vocab_size": 16,
            "tie_word_embeddings": True,
            "quantization_config": {"quant_method": "gptq", "bits": 4},
        }
    )
    files = (
        laid_out(
            ("model.embed_tokens.weight", "BF16", (16, 8)),
            ("lm_head.weight", "BF16", (16, 8)),  # stored twice, tied: counted once
            ("model.layers.0.self_attn.rotary_emb.inv_freq", "F32", (4,)),  # a buffer, not a parameter
            ("model.layers.0.mlp.up_proj.qweight", "I32", (1, 32)),  # 8 int4 values per int32
            ("model.layers.0.mlp.up_proj.scales", "F16", (1, 32)),  # bytes, not parameters
        ),
    )
    count, weights_bytes, notes = count_parameters(files, arch)
    assert count.by_dtype == {"BF16": 128, "INT4": 256}
    assert count.tied_duplicates == 128 and count.buffers_by_dtype == {"F32": 4}
    assert count.quantization_aux_bytes == 64
    assert weights_bytes == 16 * 8 * 2 + 32 * 4 + 64  # embedding once, packed int32s, scales
    assert any("tied" in note for note in notes) and any("buffers" in note for note in notes)
