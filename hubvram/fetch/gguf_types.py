"""GGUF's fixed tables: value types, ggml tensor types, llama.cpp file types, architecture keys.

Copied, not imported: the PyPI `gguf` package (0.19.0) has the same tables in gguf/constants.py, but
importing it runs gguf/__init__.py, which pulls numpy, PyYAML, requests and tqdm (107 MB installed,
0.19-0.27 s to import); these tables are 150 lines. Each table names the upstream file it copies;
tests/fetch/test_gguf.py checks them against gguf.constants when that package is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# GGUF metadata value types (ggml/include/gguf.h `enum gguf_type`): code -> (name, struct format).
VALUE_TYPES: Mapping[int, tuple[str, str]] = {
    0: ("u8", "B"),
    1: ("i8", "b"),
    2: ("u16", "H"),
    3: ("i16", "h"),
    4: ("u32", "I"),
    5: ("i32", "i"),
    6: ("f32", "f"),
    7: ("bool", "?"),  # one byte; gguf.cpp reads any non-zero as true
    8: ("str", ""),  # u64 length + bytes, no NUL
    9: ("arr", ""),  # u32 item type + u64 count + items
    10: ("u64", "Q"),
    11: ("i64", "q"),
    12: ("f64", "d"),
}
STRING, ARRAY, UINT32 = 8, 9, 4


class GgmlType(NamedTuple):
    """One ggml tensor type: elements per block and bytes per block."""

    name: str
    block_size: int
    type_size: int

    @property
    def bits_per_weight(self) -> float:
        return self.type_size * 8 / self.block_size


# ggml/include/ggml.h `enum ggml_type` codes; sizes from ggml/src/ggml.c `type_traits` (blck_size,
# sizeof(block_*) in ggml-common.h), identical to gguf-py/gguf/constants.py GGML_QUANT_SIZES.
GGML_TYPES: Mapping[int, GgmlType] = {
    0: GgmlType("F32", 1, 4),
    1: GgmlType("F16", 1, 2),
    2: GgmlType("Q4_0", 32, 18),
    3: GgmlType("Q4_1", 32, 20),
    6: GgmlType("Q5_0", 32, 22),
    7: GgmlType("Q5_1", 32, 24),
    8: GgmlType("Q8_0", 32, 34),
    9: GgmlType("Q8_1", 32, 36),
    10: GgmlType("Q2_K", 256, 84),
    11: GgmlType("Q3_K", 256, 110),
    12: GgmlType("Q4_K", 256, 144),
    13: GgmlType("Q5_K", 256, 176),
    14: GgmlType("Q6_K", 256, 210),
    15: GgmlType("Q8_K", 256, 292),
    16: GgmlType("IQ2_XXS", 256, 66),
    17: GgmlType("IQ2_XS", 256, 74),
    18: GgmlType("IQ3_XXS", 256, 98),
    19: GgmlType("IQ1_S", 256, 50),
    20: GgmlType("IQ4_NL", 32, 18),
    21: GgmlType("IQ3_S", 256, 110),
    22: GgmlType("IQ2_S", 256, 82),
    23: GgmlType("IQ4_XS", 256, 136),
    24: GgmlType("I8", 1, 1),
    25: GgmlType("I16", 1, 2),
    26: GgmlType("I32", 1, 4),
    27: GgmlType("I64", 1, 8),
    28: GgmlType("F64", 1, 8),
    29: GgmlType("IQ1_M", 256, 56),
    30: GgmlType("BF16", 1, 2),
    34: GgmlType("TQ1_0", 256, 54),
    35: GgmlType("TQ2_0", 256, 66),
    39: GgmlType("MXFP4", 32, 17),
    40: GgmlType("NVFP4", 64, 36),
    41: GgmlType("Q1_0", 128, 18),
    42: GgmlType("Q2_0", 64, 18),  # newer than gguf 0.19.0's table; ggml.h GGML_TYPE_COUNT = 43
}
GGML_TYPE_BY_NAME: Mapping[str, int] = {t.name: code for code, t in GGML_TYPES.items()}

# Codes ggml.h has retired (type_traits blck_size 0, so gguf.cpp refuses them): named in errors.
REMOVED_GGML_TYPES: Mapping[int, str] = {
    4: "Q4_2",
    5: "Q4_3",
    31: "Q4_0_4_4",
    32: "Q4_0_4_8",
    33: "Q4_0_8_8",
    36: "IQ4_NL_4_4",
    37: "IQ4_NL_4_8",
    38: "IQ4_NL_8_8",
}

# include/llama.h `enum llama_ftype` (general.file_type), without the LLAMA_FTYPE_ prefix.
LLAMA_FTYPES: Mapping[int, str] = {
    0: "ALL_F32",
    1: "MOSTLY_F16",
    2: "MOSTLY_Q4_0",
    3: "MOSTLY_Q4_1",
    4: "MOSTLY_Q4_1_SOME_F16",  # commented out in llama.h; old files still carry it
    7: "MOSTLY_Q8_0",
    8: "MOSTLY_Q5_0",
    9: "MOSTLY_Q5_1",
    10: "MOSTLY_Q2_K",
    11: "MOSTLY_Q3_K_S",
    12: "MOSTLY_Q3_K_M",
    13: "MOSTLY_Q3_K_L",
    14: "MOSTLY_Q4_K_S",
    15: "MOSTLY_Q4_K_M",
    16: "MOSTLY_Q5_K_S",
    17: "MOSTLY_Q5_K_M",
    18: "MOSTLY_Q6_K",
    19: "MOSTLY_IQ2_XXS",
    20: "MOSTLY_IQ2_XS",
    21: "MOSTLY_Q2_K_S",
    22: "MOSTLY_IQ3_XS",
    23: "MOSTLY_IQ3_XXS",
    24: "MOSTLY_IQ1_S",
    25: "MOSTLY_IQ4_NL",
    26: "MOSTLY_IQ3_S",
    27: "MOSTLY_IQ3_M",
    28: "MOSTLY_IQ2_S",
    29: "MOSTLY_IQ2_M",
    30: "MOSTLY_IQ4_XS",
    31: "MOSTLY_IQ1_M",
    32: "MOSTLY_BF16",
    33: "MOSTLY_Q4_0_4_4",  # removed from llama.h (runtime repack); old files still carry them
    34: "MOSTLY_Q4_0_4_8",
    35: "MOSTLY_Q4_0_8_8",
    36: "MOSTLY_TQ1_0",
    37: "MOSTLY_TQ2_0",
    38: "MOSTLY_MXFP4_MOE",
    39: "MOSTLY_NVFP4",
    40: "MOSTLY_Q1_0",
    41: "MOSTLY_Q2_0",
}
LLAMA_FTYPE_GUESSED = 1024  # llama.h: "not specified in the model file", or-ed onto the type

# hubvram field <- `{arch}.<suffix>` key. Key strings: src/llama-arch.cpp LLM_KV_NAMES (enum name
# beside each); meaning: src/llama-model.cpp load_hparams. "may be per-layer" = get_key_or_arr.
ARCH_KEYS: tuple[tuple[str, str], ...] = (
    ("hidden_size", "embedding_length"),  # LLM_KV_EMBEDDING_LENGTH (n_embd)
    ("num_layers", "block_count"),  # LLM_KV_BLOCK_COUNT (n_layer, includes nextn/MTP layers)
    ("num_attention_heads", "attention.head_count"),  # LLM_KV_ATTENTION_HEAD_COUNT, may be per-layer
    ("num_key_value_heads", "attention.head_count_kv"),  # LLM_KV_ATTENTION_HEAD_COUNT_KV, may be per-layer
    ("head_dim", "attention.key_length"),  # LLM_KV_ATTENTION_KEY_LENGTH (n_embd_head_k)
    ("value_head_dim", "attention.value_length"),  # LLM_KV_ATTENTION_VALUE_LENGTH (n_embd_head_v)
    ("head_dim_swa", "attention.key_length_swa"),  # LLM_KV_ATTENTION_KEY_LENGTH_SWA (gemma4)
    ("value_head_dim_swa", "attention.value_length_swa"),  # LLM_KV_ATTENTION_VALUE_LENGTH_SWA
    ("intermediate_size", "feed_forward_length"),  # LLM_KV_FEED_FORWARD_LENGTH, may be per-layer
    ("vocab_size", "vocab_size"),  # LLM_KV_VOCAB_SIZE (else the tokens array's length)
    ("max_position_embeddings", "context_length"),  # LLM_KV_CONTEXT_LENGTH (n_ctx_train)
    ("num_experts", "expert_count"),  # LLM_KV_EXPERT_COUNT
    ("num_experts_per_token", "expert_used_count"),  # LLM_KV_EXPERT_USED_COUNT, may be per-layer
    ("num_shared_experts", "expert_shared_count"),  # LLM_KV_EXPERT_SHARED_COUNT
    ("moe_intermediate_size", "expert_feed_forward_length"),  # LLM_KV_EXPERT_FEED_FORWARD_LENGTH
    ("shared_expert_intermediate_size", "expert_shared_feed_forward_length"),  # LLM_KV_EXPERT_SHARED_...
    ("first_dense_layers", "leading_dense_block_count"),  # LLM_KV_LEADING_DENSE_BLOCK_COUNT (deepseek)
    ("moe_layer_step", "interleave_moe_layer_step"),  # LLM_KV_INTERLEAVE_MOE_LAYER_STEP (llama4)
    ("nextn_predict_layers", "nextn_predict_layers"),  # LLM_KV_NEXTN_PREDICT_LAYERS (MTP, glm4moe)
    ("q_lora_rank", "attention.q_lora_rank"),  # LLM_KV_ATTENTION_Q_LORA_RANK (deepseek2 MLA)
    ("kv_lora_rank", "attention.kv_lora_rank"),  # LLM_KV_ATTENTION_KV_LORA_RANK (deepseek2 MLA)
    ("qk_head_dim_mla", "attention.key_length_mla"),  # LLM_KV_ATTENTION_KEY_LENGTH_MLA (nope + rope)
    ("v_head_dim_mla", "attention.value_length_mla"),  # LLM_KV_ATTENTION_VALUE_LENGTH_MLA
    ("rope_dim", "rope.dimension_count"),  # LLM_KV_ROPE_DIMENSION_COUNT (n_rot; MLA: qk_rope_head_dim)
    ("sliding_window", "attention.sliding_window"),  # LLM_KV_ATTENTION_SLIDING_WINDOW (n_swa)
    ("sliding_window_pattern", "attention.sliding_window_pattern"),  # ..._SLIDING_WINDOW_PATTERN
    ("shared_kv_layers", "attention.shared_kv_layers"),  # LLM_KV_ATTENTION_SHARED_KV_LAYERS (gemma3n/4)
    ("ssm_state_size", "ssm.state_size"),  # LLM_KV_SSM_STATE_SIZE (mamba, hybrids)
)
# hubvram field <- key without the arch prefix (general.*: gguf-py constants.py Keys.General;
# split.*: src/llama-arch.cpp LLM_KV_SPLIT_NO/COUNT/TENSORS_COUNT, written by tools/gguf-split).
GENERAL_KEYS: tuple[tuple[str, str], ...] = (
    ("name", "general.name"),
    ("file_type", "general.file_type"),
    ("quantization_version", "general.quantization_version"),
    ("split_no", "split.no"),
    ("split_count", "split.count"),
    ("split_tensors_count", "split.tensors.count"),
)


class SwaDefault(NamedTuple):
    """How llama.cpp lays out sliding-window layers for an architecture when the file is silent."""

    period: int  # load_swa_pattern(ml, period[, dense_first]); 0 = every layer slides
    dense_first: bool = False
    when: str = "always"  # "always", "window" (needs sliding_window > 0), "unless_zero", "array"
    kind: str = "standard"  # llama_swa_type: standard, chunked, symmetric
    window: int | None = None  # n_swa llama.cpp assumes when the key is absent (forced for llama4)


LLAMA_MAX_LAYERS = 512  # src/llama-hparams.h; llama-model.cpp asserts 0 < block_count <= it

# src/models/<arch>.cpp load_arch_hparams (load_swa_pattern / set_swa_pattern in llama-hparams.cpp).
# A `{arch}.attention.sliding_window_pattern` key overrides the period (u32) or lists layers (bools).
SWA_DEFAULTS: Mapping[str, SwaDefault] = {
    "gemma2": SwaDefault(2, window=4096),  # src/models/gemma2.cpp
    "gemma3": SwaDefault(6, when="window"),  # src/models/gemma3.cpp
    "gemma3n": SwaDefault(5),  # src/models/gemma3n.cpp
    "gemma-embedding": SwaDefault(6, kind="symmetric"),  # src/models/gemma-embedding.cpp
    "gemma4": SwaDefault(0, when="array"),  # src/models/gemma4.cpp: the per-layer array is required
    "cohere2": SwaDefault(4),  # src/models/cohere2.cpp
    "cohere2moe": SwaDefault(4, dense_first=True),  # src/models/cohere2moe.cpp
    "gpt-oss": SwaDefault(2),  # src/models/openai-moe.cpp (LLM_ARCH_OPENAI_MOE is "gpt-oss")
    "llama4": SwaDefault(4, when="unless_zero", kind="chunked", window=8192),  # src/models/llama4.cpp
    "olmo2": SwaDefault(4, when="window"),  # src/models/olmo2.cpp
    "smallthinker": SwaDefault(4, dense_first=True, when="window"),  # src/models/smallthinker.cpp
    "exaone-moe": SwaDefault(4, window=128),  # src/models/exaone-moe.cpp
    "afmoe": SwaDefault(4, when="window"),  # src/models/afmoe.cpp
    "plamo3": SwaDefault(8, when="window"),  # src/models/plamo3.cpp
    "modern-bert": SwaDefault(3, dense_first=True, when="window", kind="symmetric"),  # modern-bert.cpp
}

# Variant ordering: llama_ftype mixes that are not ggml types, as the ggml type their bulk uses
# (src/llama-quant.cpp llama_ftype_get_default_type) and a rank within that type's mixes.
MIX_BASE: Mapping[str, str] = {"IQ3_XS": "IQ3_S", "IQ3_M": "IQ3_S", "IQ2_M": "IQ2_S", "MXFP4_MOE": "MXFP4"}
MIX_RANK: Mapping[str, int] = {"XXS": 0, "XS": 1, "S": 2, "": 3, "M": 3, "L": 4, "XL": 5}
