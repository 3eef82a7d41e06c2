"""The GGUF header reader: real layouts parse to hand-counted numbers, hostile ones end in one line."""

from __future__ import annotations

import functools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubvram.errors import MalformedHeader, UsageError
from hubvram.fetch.gguf import (
    FIRST_READ,
    MAX_HEADER_BYTES,
    GgufArray,
    GgufHeader,
    read_gguf_header,
)
from hubvram.fetch.gguf_types import GGML_TYPES, LLAMA_FTYPES
from hubvram.fetch.gguf_variants import gguf_projectors, gguf_variants, pick_variant
from hubvram.model.gguf_config import gguf_architecture
from hubvram.testing.gguf import Raw, Tensor, Value, bytes_reader, gguf_file_size, gguf_header


def parse(header: bytes, file_size: int | None = None, name: str = "model.gguf", **kw) -> GgufHeader:
    """Parse `header` as the start of a file of file_size bytes (zeros after it), recording the reads."""
    size = gguf_file_size(header) if file_size is None else file_size
    reader = bytes_reader(header, size)
    parsed = read_gguf_header(reader, name, file_size=size, **kw)
    assert (parsed.bytes_requested, parsed.requests) == (reader.bytes_requested, len(reader.calls))
    return parsed


def tokens(n: int, prefix: str = "tok") -> list[str]:
    # Lengths grow with the id and level off, as a BPE vocabulary's do (merged tokens come later).
    return [f"{prefix}{i:x}{'z' * (i.bit_length() // 4)}" for i in range(n)]


def llama_tensors(layers: int, hidden: int, ff: int, vocab: int, kv: int) -> list[Tensor]:
    """Llama's tensors as llama.cpp names them, in a Q4_K_M-like mix: attn_v, ffn_down, output Q6_K."""
    ts = [Tensor("token_embd.weight", "Q4_K", [hidden, vocab])]
    for i in range(layers):
        ts += [
            Tensor(f"blk.{i}.attn_norm.weight", "F32", [hidden]),
            Tensor(f"blk.{i}.attn_q.weight", "Q4_K", [hidden, hidden]),
            Tensor(f"blk.{i}.attn_k.weight", "Q4_K", [hidden, kv]),
            Tensor(f"blk.{i}.attn_v.weight", "Q6_K", [hidden, kv]),
            Tensor(f"blk.{i}.attn_output.weight", "Q4_K", [hidden, hidden]),
            Tensor(f"blk.{i}.ffn_norm.weight", "F32", [hidden]),
            Tensor(f"blk.{i}.ffn_gate.weight", "Q4_K", [hidden, ff]),
            Tensor(f"blk.{i}.ffn_up.weight", "Q4_K", [hidden, ff]),
            Tensor(f"blk.{i}.ffn_down.weight", "Q6_K", [ff, hidden]),
        ]
    return ts + [
        Tensor("output_norm.weight", "F32", [hidden]),
        Tensor("output.weight", "Q6_K", [hidden, vocab]),
    ]


@functools.cache
def llama2_header() -> bytes:
    """Llama-2-7B as TheBloke's Q4_K_M: 32,000-token SentencePiece vocabulary, 291 tensors (~0.7 MB)."""
    meta = {
        "general.architecture": "llama",
        "general.name": "LLaMA v2",
        "llama.context_length": 4096,
        "llama.embedding_length": 4096,
        "llama.block_count": 32,
        "llama.feed_forward_length": 11008,
        "llama.rope.dimension_count": 128,
        "llama.attention.head_count": 32,
        "llama.attention.head_count_kv": 32,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "general.file_type": 15,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": Value("arr", tokens(32_000, "\u2581t"), item="str"),
        "tokenizer.ggml.scores": Value("arr", [0.0] * 32_000, item="f32"),
        "tokenizer.ggml.token_type": Value("arr", [1] * 32_000, item="i32"),
        "tokenizer.ggml.bos_token_id": 1,
        "tokenizer.ggml.eos_token_id": 2,
        "general.quantization_version": 2,
    }
    return gguf_header(meta, llama_tensors(32, 4096, 11008, 32_000, 4096))


@functools.cache
def llama3_header() -> bytes:
    """Llama-3-8B-like: 128,256 tokens + 280,147 merges (BPE) + 291 tensors, about 8 MB."""
    n = 128_256
    meta = {
        "general.architecture": "llama",
        "llama.block_count": 32,
        "llama.embedding_length": 4096,
        "llama.attention.head_count": 32,
        "llama.attention.head_count_kv": 8,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": Value("arr", tokens(n, "\u0120"), item="str"),
        "tokenizer.ggml.token_type": Value("arr", [1] * n, item="i32"),
        "tokenizer.ggml.merges": Value("arr", tokens(280_147, "a "), item="str"),
        "tokenizer.chat_template": "{% for m in messages %}" * 200,
    }
    return gguf_header(meta, llama_tensors(32, 4096, 14336, n, 1024))


def test_llama2_q4_k_m_counts_and_bytes_worked_by_hand():
    parsed = parse(llama2_header())
    assert len(parsed.tensors) == 291
    # Llama-2-7B's published 6,738,415,616: embeddings and output 4096 x 32000 each, 32 layers of
    # 4 x 4096^2 attention + 3 x 4096 x 11008 FFN + 2 x 4096 norms, and the final norm.
    assert parsed.parameters == 2 * 131_072_000 + 32 * (67_108_864 + 135_266_304 + 8_192) + 4_096
    assert parsed.parameters == 6_738_415_616
    # Q4_K is 144 bytes per 256 weights, Q6_K 210, F32 4 per weight:
    # token_embd 131,072,000 / 256 x 144 = 73,728,000; output x 210 = 107,520,000; per layer
    # q, k, o 3 x 9,437,184 + v 13,762,560 + gate, up 2 x 25,362,432 + down 36,986,880 + norms 32,768
    # = 129,818,624; final norm 16,384.
    assert parsed.weight_bytes == 73_728_000 + 107_520_000 + 32 * 129_818_624 + 16_384 == 4_335_460_352
    assert parsed.data_bytes == parsed.weight_bytes  # every size here is a multiple of 32: no padding
    assert parsed.by_type() == {
        "Q4_K": (
            131_072_000 + 32 * (3 * 16_777_216 + 2 * 45_088_768),
            73_728_000 + 32 * 79_036_416,
        ),  # 3 x 9,437,184 + 2 x 25,362,432
        "Q6_K": (131_072_000 + 32 * (16_777_216 + 45_088_768), 107_520_000 + 32 * 50_749_440),
        "F32": (32 * 8_192 + 4_096, 32 * 32_768 + 16_384),
    }
    assert parsed.data_offset % 32 == 0 and parsed.data_offset - parsed.header_bytes < 32
    assert parsed.file_size == parsed.data_offset + 4_335_460_352
    embd = parsed.tensors[0]
    assert (embd.name, embd.type_name, embd.dims, embd.shape, embd.offset) == (
        "token_embd.weight",
        "Q4_K",
        (4096, 32_000),
        (32_000, 4096),
        0,
    )
    assert parsed.metadata["tokenizer.ggml.tokens"] == GgufArray("str", 32_000)
    assert parsed.metadata["tokenizer.ggml.scores"] == GgufArray("f32", 32_000)
    assert parsed.metadata["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)


def test_llama2_architecture_fields():
    arch = gguf_architecture(parse(llama2_header()).metadata)
    assert arch == {
        "model_type": "llama",
        "name": "LLaMA v2",
        "file_type": 15,
        "file_type_name": "MOSTLY_Q4_K_M",
        "quantization_version": 2,
        "hidden_size": 4096,
        "num_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "intermediate_size": 11008,
        "max_position_embeddings": 4096,
        "rope_dim": 128,
        "vocab_size": 32_000,  # no llama.vocab_size key: the tokens array's length
        "head_dim": 128,  # no key_length: 4096 / 32, as llama-model.cpp defaults it
        "value_head_dim": 128,
    }


def test_kv_heads_default_to_heads():
    arch = arch_of(
        {"general.architecture": "gpt2", "gpt2.attention.head_count": 12, "gpt2.embedding_length": 768}
    )
    assert (arch["num_key_value_heads"], arch["head_dim"], arch["value_head_dim"]) == (12, 64, 64)


@pytest.mark.parametrize("build", [llama2_header, llama3_header], ids=["llama2-0.7MB", "llama3-8MB"])
def test_read_ahead_is_few_requests_and_at_most_one_and_a_half_times_the_header(build):
    header = build()
    size = gguf_file_size(header)
    reader = bytes_reader(header, size)
    parsed = read_gguf_header(reader, "model.gguf", file_size=size)
    assert parsed.header_bytes == len(header.rstrip(b"\0")) or parsed.data_offset == len(header)
    assert len(reader.calls) <= 3
    assert reader.bytes_requested <= 1.5 * parsed.header_bytes
    assert reader.furthest <= 1.5 * parsed.header_bytes  # nothing near the tensor data is asked for
    starts = [s for s, _ in reader.calls]
    assert starts == sorted(starts) and reader.calls[0] == (0, FIRST_READ)
    for (s1, n1), (s2, _) in zip(reader.calls, reader.calls[1:], strict=False):
        assert s2 >= s1 + n1  # no byte is requested twice


def test_tiny_header_is_one_request_bounded_by_the_file():
    header = gguf_header({"general.architecture": "llama"}, [Tensor("w", "F32", [8, 8])])
    parsed = parse(header)
    assert parsed.requests == 1 and parsed.bytes_requested == parsed.file_size == len(header) + 256
    huge_file = parse(header, file_size=10**12)
    assert (huge_file.requests, huge_file.bytes_requested) == (1, FIRST_READ)


def test_llama3_header_with_merges():
    parsed = parse(llama3_header())
    assert parsed.metadata["tokenizer.ggml.merges"] == GgufArray("str", 280_147)
    assert parsed.metadata["tokenizer.chat_template"].startswith("{% for m in messages %}")
    assert 7_500_000 < parsed.header_bytes < 8_500_000  # the real Llama-3 header: 7.8 MB
    arch = gguf_architecture(parsed.metadata)
    assert (arch["vocab_size"], arch["num_key_value_heads"], arch["head_dim"]) == (128_256, 8, 128)


def qwen3_moe_tensors(layers: int) -> list[Tensor]:
    hidden, n_exp, moe_ff, vocab = 2048, 128, 768, 151_936
    ts = [Tensor("token_embd.weight", "Q4_K", [hidden, vocab])]
    for i in range(layers):
        ts += [
            Tensor(f"blk.{i}.attn_norm.weight", "F32", [hidden]),
            Tensor(f"blk.{i}.attn_q.weight", "Q4_K", [hidden, 4096]),
            Tensor(f"blk.{i}.attn_k.weight", "Q4_K", [hidden, 512]),
            Tensor(f"blk.{i}.attn_v.weight", "Q6_K", [hidden, 512]),
            Tensor(f"blk.{i}.attn_output.weight", "Q4_K", [4096, hidden]),
            Tensor(f"blk.{i}.attn_q_norm.weight", "F32", [128]),
            Tensor(f"blk.{i}.attn_k_norm.weight", "F32", [128]),
            Tensor(f"blk.{i}.ffn_norm.weight", "F32", [hidden]),
            Tensor(f"blk.{i}.ffn_gate_inp.weight", "F32", [hidden, n_exp]),
            Tensor(f"blk.{i}.ffn_gate_exps.weight", "Q4_K", [hidden, moe_ff, n_exp]),
            Tensor(f"blk.{i}.ffn_up_exps.weight", "Q4_K", [hidden, moe_ff, n_exp]),
            Tensor(f"blk.{i}.ffn_down_exps.weight", "Q6_K", [moe_ff, hidden, n_exp]),
        ]
    return ts + [
        Tensor("output_norm.weight", "F32", [hidden]),
        Tensor("output.weight", "Q6_K", [hidden, vocab]),
    ]


def test_moe_expert_tensors_qwen3_30b_a3b():
    meta = {
        "general.architecture": "qwen3moe",
        "qwen3moe.block_count": 48,
        "qwen3moe.embedding_length": 2048,
        "qwen3moe.attention.head_count": 32,
        "qwen3moe.attention.head_count_kv": 4,
        "qwen3moe.attention.key_length": 128,
        "qwen3moe.attention.value_length": 128,
        "qwen3moe.expert_count": 128,
        "qwen3moe.expert_used_count": 8,
        "qwen3moe.expert_feed_forward_length": 768,
        "qwen3moe.feed_forward_length": 6144,
    }
    parsed = parse(gguf_header(meta, qwen3_moe_tensors(48)))
    # Per layer: q 2048 x 4096, k and v 2048 x 512, o 4096 x 2048, q/k norms 128 each, two norms
    # 2048 each, router 2048 x 128, experts 3 x 128 x 2048 x 768 = 603,979,776: 623,120,640.
    per_layer = 8_388_608 + 2 * 1_048_576 + 8_388_608 + 2 * 128 + 2 * 2048 + 262_144 + 603_979_776
    assert per_layer == 623_120_640
    assert parsed.parameters == 48 * per_layer + 2 * 151_936 * 2048 + 2048 == 30_532_122_624
    gate = next(t for t in parsed.tensors if t.name == "blk.7.ffn_gate_exps.weight")
    assert (gate.dims, gate.shape, gate.numel) == ((2048, 768, 128), (128, 768, 2048), 201_326_592)
    assert gate.nbytes == 201_326_592 // 256 * 144 == 113_246_208
    down = next(t for t in parsed.tensors if t.name == "blk.7.ffn_down_exps.weight")
    assert down.nbytes == 201_326_592 // 256 * 210
    arch = gguf_architecture(parsed.metadata)
    assert (arch["num_experts"], arch["num_experts_per_token"], arch["moe_intermediate_size"]) == (
        128,
        8,
        768,
    )
    assert (arch["head_dim"], arch["num_key_value_heads"]) == (128, 4)


@pytest.mark.parametrize("code", sorted(GGML_TYPES))
def test_every_ggml_type_has_its_block_bytes(code):
    gtype = GGML_TYPES[code]
    dims = [gtype.block_size * 3, 5, 2]
    parsed = parse(gguf_header({}, [Tensor("w", code, dims), Tensor("b", "F32", [1])]))
    w, b = parsed.tensors
    assert (w.type_name, w.numel, w.nbytes) == (gtype.name, gtype.block_size * 30, gtype.type_size * 30)
    assert b.offset == -(-w.nbytes // 32) * 32  # the next tensor starts at the padded end
    assert parsed.data_bytes == b.offset + 32 and parsed.weight_bytes == w.nbytes + 4


def test_padding_alignment_and_empty_tensors():
    header = gguf_header(
        {"general.alignment": 64},
        [Tensor("a", "F16", [3]), Tensor("empty", "Q8_0", [32, 0]), Tensor("scalar", "F32", [])],
    )
    parsed = parse(header)
    assert [(t.offset, t.numel, t.nbytes) for t in parsed.tensors] == [(0, 3, 6), (64, 0, 0), (64, 1, 4)]
    assert (parsed.alignment, parsed.data_offset % 64, parsed.data_bytes) == (64, 0, 128)
    assert len(header) == parsed.data_offset


def test_big_endian_v3_is_read():
    meta = {"general.architecture": "llama", "llama.block_count": 2, "xs": Value("arr", [1, 2], item="i16")}
    header = gguf_header(meta, [Tensor("w", "Q8_0", [64, 2])], big_endian=True)
    parsed = parse(header)
    assert parsed.big_endian and parsed.version == 3
    assert parsed.metadata["llama.block_count"] == 2 and parsed.metadata["xs"] == (1, 2)
    assert parsed.tensors[0].dims == (64, 2) and parsed.tensors[0].nbytes == 4 * 34


def test_version_2_is_read():
    assert parse(gguf_header({"a": 1}, [Tensor("w", "F32", [4])], version=2)).version == 2


def test_metadata_values_keep_their_types():
    meta = {
        "u8": Value("u8", 255),
        "i8": Value("i8", -1),
        "u16": Value("u16", 65535),
        "i16": Value("i16", -2),
        "u32": 7,
        "i32": Value("i32", -3),
        "f32": 0.5,
        "bool": True,
        "str": "h\u00e9",
        "u64": Value("u64", 2**40),
        "i64": -(2**40),
        "f64": Value("f64", 0.1),
        "strs": ["a", "b"],
        "bools": [True, False],
        "long": Value("arr", list(range(2000)), item="u16"),
        "empty": Value("arr", [], item="str"),
        "bad utf8": Value("str", b"\xff"),
    }
    parsed = parse(gguf_header(meta))
    m = parsed.metadata
    assert (m["u8"], m["i8"], m["u16"], m["i16"], m["u32"], m["i32"]) == (255, -1, 65535, -2, 7, -3)
    assert (m["f32"], m["bool"], m["str"], m["u64"], m["i64"], m["f64"]) == (
        0.5,
        True,
        "h\u00e9",
        2**40,
        -(2**40),
        0.1,
    )
    assert (m["strs"], m["bools"], m["long"], m["empty"]) == (
        ("a", "b"),
        (True, False),
        GgufArray("u16", 2000),
        (),
    )
    assert m["bad utf8"] == "\ufffd"
    assert parsed.tensors == () and parsed.data_offset == parsed.header_bytes  # no tensors: no padding
    assert parsed.to_dict()["metadata"]["long"] == {"type": "u16", "count": 2000}


# --- hostile headers: one clear line each, and nothing read past the bound -------------------------

T = Tensor("w", "F32", [8])
U64 = struct.Struct("<Q")


def raw_kv(type_code: int, payload: bytes) -> Raw:
    return Raw(struct.pack("<I", type_code) + payload)


def counts(n_tensors: int, n_kv: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv)


HOSTILE: dict[str, tuple[bytes, int | None, str]] = {
    "not gguf": (b"GGML" + bytes(40), None, "not a GGUF file (starts with b'GGML')"),
    "too short": (b"GGU", None, "runs past the file's 3 bytes in the magic"),
    "version 1": (gguf_header({}, version=1), None, "GGUF version 1 is no longer supported by llama.cpp"),
    "version 4": (gguf_header({}, version=4), None, "GGUF version 4 is not supported"),
    "version 0": (gguf_header({}, version=0), None, "GGUF version 0 is not supported"),
    "byte-swapped version 2": (
        b"GGUF" + struct.pack(">I", 2) + bytes(16),
        None,
        "version 2 is not supported",
    ),
    "tensor count past the file": (counts(2**40, 0), 4096, "declares 1,099,511,627,776 tensors"),
    "key count past the cap": (counts(0, 2**33), 10**12, "which cannot fit in the 64 MiB header cap"),
    "negative count": (counts(2**64 - 1, 0), None, "declares 18,446,744,073,709,551,615 tensors"),
    "truncated": (
        gguf_header({"general.name": "x" * 100})[:60],
        None,
        "runs past the file's 60 bytes in key",
    ),
    "key length past the end": (
        counts(0, 1) + U64.pack(10**6) + bytes(9),
        None,
        "runs past the file's 41 bytes",
    ),
    "key length 2**63": (
        counts(0, 1) + U64.pack(2**63) + bytes(9),
        None,
        "runs past the file's 41 bytes in a key",
    ),
    "string value past the cap": (
        gguf_header({"k": raw_kv(8, U64.pack(MAX_HEADER_BYTES))}),
        10**12,
        "runs past the 64 MiB header cap in key 'k'",
    ),
    "empty key": (gguf_header({"": 1}), None, "has an empty key"),
    "duplicate key": (gguf_header([("a", 1), ("a", 2)]), None, "has key 'a' twice"),
    "unknown value type": (gguf_header({"k": raw_kv(13, b"\0")}), None, "key 'k' has unknown value type 13"),
    "array of arrays": (gguf_header({"k": raw_kv(9, struct.pack("<IQ", 9, 1))}), None, "array of arrays"),
    "array of unknown": (gguf_header({"k": raw_kv(9, struct.pack("<IQ", 77, 1))}), None, "unknown type 77"),
    "array count over 2**30": (
        gguf_header({"k": raw_kv(9, struct.pack("<IQ", 0, 2**30 + 1))}),
        None,
        "over llama.cpp's 2**30",
    ),
    "string array past the end": (
        gguf_header({"k": raw_kv(9, struct.pack("<IQ", 8, 5000) + U64.pack(3) + b"abc")}),
        None,
        "runs past",
    ),
    "string item past the end": (
        gguf_header(
            {"k": raw_kv(9, struct.pack("<IQ", 8, 2000) + (U64.pack(1) + b"a") * 1999 + U64.pack(2**62))}
        ),
        None,
        "in key 'k' item 1,999",
    ),
    "numeric array past the end": (
        gguf_header({"k": raw_kv(9, struct.pack("<IQ", 4, 10**6))}),
        None,
        "runs past",
    ),
    "alignment not a power of two": (
        gguf_header({"general.alignment": 48}, [T]),
        None,
        "alignment 48 is not a power",
    ),
    "alignment zero": (gguf_header({"general.alignment": 0}), None, "alignment 0 is not a power of two"),
    "alignment not u32": (
        gguf_header({"general.alignment": Value("u64", 32)}),
        None,
        "must be a u32, not type 10",
    ),
    "unknown ggml type": (
        gguf_header({}, [Tensor("w", 99, [8])]),
        None,
        "tensor 'w' has unknown ggml type 99",
    ),
    "removed ggml type": (
        gguf_header({}, [Tensor("w", 31, [32])]),
        None,
        "type 31 (Q4_0_4_4, removed from ggml)",
    ),
    "negative ggml type": (gguf_header({}, [Tensor("w", -1, [8])]), None, "unknown ggml type -1"),
    "five dims": (
        gguf_header({}, [Tensor("w", "F32", [1, 1, 1, 1, 1])]),
        None,
        "has 5 dimensions (ggml allows 4)",
    ),
    "dims overflow": (gguf_header({}, [Tensor("w", "F32", [2**32, 2**32])]), None, "impossible shape"),
    "negative dim": (gguf_header({}, [Tensor("w", "F32", [2**64 - 1])]), None, "impossible shape"),
    "name of 64 bytes": (
        gguf_header({}, [Tensor("n" * 64, "F32", [8])]),
        None,
        "name of 64 bytes (llama.cpp allows 63)",
    ),
    "duplicate tensor": (gguf_header({}, [T, T]), None, "has tensor 'w' twice"),
    "partial block": (
        gguf_header({}, [Tensor("w", "Q4_K", [100, 2])]),
        None,
        "rows of 100 do not fill Q4_K blocks of 256",
    ),
    "offset not aligned": (
        gguf_header({}, [T, Tensor("v", "F32", [8], offset=40)]),
        None,
        "40, which is not a multiple of the alignment",
    ),
    "overlapping offsets": (
        gguf_header({}, [Tensor("a", "F32", [64]), Tensor("b", "F32", [8], offset=128)]),
        None,
        "offset 128, which overlaps the previous tensor (expected 256)",
    ),
    "gap between tensors": (gguf_header({}, [T, Tensor("v", "F32", [8], offset=64)]), None, "leaves a gap"),
    "first offset not zero": (
        gguf_header({}, [Tensor("w", "F32", [8], offset=32)]),
        None,
        "leaves a gap (expected 0)",
    ),
    "data past the file": (gguf_header({}, [Tensor("w", "F32", [1024])]), 100, "GGUF tensor data needs"),
    "n_dims lies": (
        gguf_header({}, [Tensor("w", "F32", [8], n_dims=3)]),
        None,
        "runs past the file's 64 bytes in tensor 'w'",
    ),
    "terminal escape in a key": (
        gguf_header([("\x1b[31m", 1), ("\x1b[31m", 1)]),
        None,
        "has key '?[31m' twice",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers_end_in_one_clear_line_and_read_nothing_past_the_bound(case):
    raw, file_size, expected = HOSTILE[case]
    size = len(raw) if file_size is None else file_size
    reader = bytes_reader(raw, size)
    with pytest.raises(MalformedHeader) as info:
        read_gguf_header(reader, "model-Q4_K_M.gguf", file_size=size)
    message = str(info.value)
    assert message.startswith("model-Q4_K_M.gguf: ") and "\n" not in message
    assert expected in message
    assert reader.furthest <= min(size, MAX_HEADER_BYTES)


def test_cap_is_enforced_without_a_file_size():
    header = gguf_header({"a": "x" * 5000})
    reader = bytes_reader(header, 10**12)
    with pytest.raises(MalformedHeader, match="runs past the 0.00390625 MiB header cap in key 'a'"):
        read_gguf_header(reader, "m.gguf", max_bytes=4096)
    assert reader.furthest <= 4096


def test_a_reader_that_ends_early_is_a_truncated_file():
    header = llama2_header()
    reader = bytes_reader(header[:300_000], 300_000)  # the server says the file is shorter than it is
    with pytest.raises(MalformedHeader, match="runs past the file's 300,000 bytes"):
        read_gguf_header(reader, "m.gguf")


# --- fuzzing -------------------------------------------------------------------------------------

SMALL = gguf_header(
    {
        "general.architecture": "llama",
        "general.alignment": 32,
        "llama.block_count": 2,
        "tokenizer.ggml.tokens": Value("arr", tokens(1500), item="str"),
        "tokenizer.ggml.scores": Value("arr", [0.5] * 1500, item="f32"),
        "strs": ["a", "bc"],
    },
    [Tensor("token_embd.weight", "Q4_0", [64, 1500]), Tensor("blk.0.w", "Q6_K", [256, 2, 2]), T],
)


def check_outcome(raw: bytes, file_size: int, max_bytes: int) -> None:
    reader = bytes_reader(raw, file_size)
    try:
        parsed = read_gguf_header(reader, "f.gguf", file_size=file_size, max_bytes=max_bytes)
    except MalformedHeader as exc:
        assert str(exc).startswith("f.gguf: ") and "\n" not in str(exc)
    else:
        assert parsed.file_size <= file_size and all(t.nbytes >= 0 for t in parsed.tensors)
    assert reader.furthest <= min(file_size, max_bytes)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(SMALL)),
    flips=st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.integers(0, 255)), max_size=4),
    extra=st.integers(min_value=0, max_value=2**20),
    max_bytes=st.sampled_from([64, 4096, len(SMALL), MAX_HEADER_BYTES]),
)
def test_fuzzed_truncations_and_mutations_parse_or_raise_malformed_header(cut, flips, extra, max_bytes):
    raw = bytearray(SMALL)
    for at, byte in flips:
        raw[at] = byte
    raw = bytes(raw[:cut])
    check_outcome(raw, len(raw) + extra, max_bytes)


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=200),
    prefix=st.sampled_from([b"", b"GGUF\x03\x00\x00\x00", b"GGUF\x00\x00\x00\x03"]),
)
def test_fuzzed_bytes_parse_or_raise_malformed_header(raw, prefix):
    data = prefix + raw
    check_outcome(data, len(data), MAX_HEADER_BYTES)


scalars = st.one_of(
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.text(max_size=20),
    st.builds(Value, st.just("i64"), st.integers(-(2**63), 2**63 - 1)),
    st.builds(Value, st.just("f64"), st.floats(allow_nan=False)),
)
arrays = st.lists(st.integers(0, 2**32 - 1), max_size=30) | st.lists(
    st.text(max_size=5), min_size=1, max_size=30
)
type_codes = st.sampled_from(sorted(GGML_TYPES))


@settings(max_examples=150, deadline=None)
@given(
    meta=st.dictionaries(st.text(min_size=1, max_size=12), scalars | arrays, max_size=8),
    shapes=st.lists(st.tuples(type_codes, st.lists(st.integers(0, 3), max_size=3)), max_size=6),
    alignment=st.sampled_from([1, 8, 32, 4096]),
)
def test_writer_round_trip(meta, shapes, alignment):
    meta = {k: v for k, v in meta.items() if k != "general.alignment"} | {"general.alignment": alignment}
    tensors = [
        Tensor(f"t{i}", code, [GGML_TYPES[code].block_size * (1 + dims[0] if dims else 1)] + dims[1:])
        for i, (code, dims) in enumerate(shapes)
    ]
    parsed = parse(gguf_header(meta, tensors))
    for key, value in meta.items():
        got = parsed.metadata[key]
        want = value.value if isinstance(value, Value) else value
        assert got == (tuple(want) if isinstance(want, list) else want)
    assert [t.name for t in parsed.tensors] == [t.name for t in tensors]
    assert all(t.offset % alignment == 0 for t in parsed.tensors)


# --- architecture fields ---------------------------------------------------------------------------


def arch_of(meta: dict) -> dict:
    return gguf_architecture(parse(gguf_header(meta)).metadata)


def test_deepseek2_mla_fields():
    arch = arch_of(
        {
            "general.architecture": "deepseek2",
            "deepseek2.block_count": 61,
            "deepseek2.embedding_length": 7168,
            "deepseek2.attention.head_count": 128,
            "deepseek2.attention.head_count_kv": 1,
            "deepseek2.attention.key_length": 576,
            "deepseek2.attention.value_length": 512,
            "deepseek2.attention.key_length_mla": 192,
            "deepseek2.attention.value_length_mla": 128,
            "deepseek2.attention.q_lora_rank": 1536,
            "deepseek2.attention.kv_lora_rank": 512,
            "deepseek2.rope.dimension_count": 64,
            "deepseek2.leading_dense_block_count": 3,
            "deepseek2.expert_count": 256,
            "deepseek2.expert_used_count": 8,
            "deepseek2.expert_shared_count": 1,
            "deepseek2.expert_feed_forward_length": 2048,
            "deepseek2.vocab_size": 129280,
            "deepseek2.nextn_predict_layers": 1,
            "general.file_type": 1024 | 7,
        }
    )
    assert arch["kv_lora_rank"] == 512 and arch["qk_rope_head_dim"] == 64 and arch["head_dim"] == 576
    assert arch["value_head_dim"] == 512
    assert (arch["qk_head_dim_mla"], arch["v_head_dim_mla"], arch["q_lora_rank"]) == (192, 128, 1536)
    assert (arch["num_shared_experts"], arch["first_dense_layers"], arch["nextn_predict_layers"]) == (1, 3, 1)
    assert arch["vocab_size"] == 129280 and arch["file_type_name"] == "MOSTLY_Q8_0 (guessed)"


def test_per_layer_arrays_stay_per_layer():
    arch = arch_of(
        {
            "general.architecture": "deci",
            "deci.block_count": 4,
            "deci.embedding_length": 512,
            "deci.attention.head_count": [8, 8, 0, 8],
            "deci.attention.head_count_kv": [2, 1, 0, 2],
            "deci.feed_forward_length": [1024, 2048, 512, 0],
        }
    )
    assert arch["num_attention_heads"] == (8, 8, 0, 8) and arch["num_key_value_heads"] == (2, 1, 0, 2)
    assert arch["intermediate_size"] == (1024, 2048, 512, 0) and arch["head_dim"] == 64


SLIDING = {
    # gemma2.cpp: period 2, even layers slide, window 4096 when the key is absent
    "gemma2": ({"gemma2.block_count": 4}, (True, False, True, False), 4096),
    # gemma3.cpp: period 6 only with a sliding window; the 6th layer of each group is global
    "gemma3": (
        {"gemma3.block_count": 7, "gemma3.attention.sliding_window": 1024},
        (True,) * 5 + (False, True),
        1024,
    ),
    "gemma3 without a window": ({"gemma3.block_count": 7}, None, None),
    "gemma3 with its period": (
        {
            "gemma3.block_count": 4,
            "gemma3.attention.sliding_window": 512,
            "gemma3.attention.sliding_window_pattern": 2,
        },
        (True, False, True, False),
        512,
    ),
    # gemma4.cpp: a per-layer bool array
    "gemma4": (
        {
            "gemma4.block_count": 3,
            "gemma4.attention.sliding_window": 512,
            "gemma4.attention.sliding_window_pattern": [True, True, False],
        },
        (True, True, False),
        512,
    ),
    "gpt-oss": (
        {"gpt-oss.block_count": 4, "gpt-oss.attention.sliding_window": 128},
        (True, False, True, False),
        128,
    ),
    # llama4.cpp: chunked attention, 3 chunked - 1 full, 8192 whatever the key says
    "llama4": (
        {"llama4.block_count": 4, "llama4.attention.sliding_window": 4096},
        (True, True, True, False),
        8192,
    ),
    "llama4 without chunks": ({"llama4.block_count": 4, "llama4.attention.sliding_window": 0}, None, 0),
    "cohere2moe dense first": (
        {"cohere2moe.block_count": 5, "cohere2moe.attention.sliding_window": 4096},
        (False, True, True, True, False),
        4096,
    ),
    "a hostile layer count builds no list": ({"gemma2.block_count": 2**32 - 1}, None, None),
    "qwen2 ignores its window": (
        {"qwen2.block_count": 2, "qwen2.attention.sliding_window": 4096},
        None,
        4096,
    ),
}


@pytest.mark.parametrize("case", sorted(SLIDING))
def test_sliding_window_layers_follow_llama_cpp(case):
    keys, layers, window = SLIDING[case]
    arch = arch_of({"general.architecture": next(iter(keys)).split(".")[0]} | keys)
    assert arch.get("sliding_window_layers") == layers
    assert arch.get("sliding_window") == window
    if case.startswith("llama4") and layers:
        assert arch["sliding_window_type"] == "chunked"


def test_split_shards_and_their_keys():
    first = gguf_header(
        {
            "general.architecture": "llama",
            "llama.block_count": 2,
            "split.no": Value("u16", 0),
            "split.count": Value("u16", 2),
            "split.tensors.count": Value("i32", 3),
        },
        [Tensor("token_embd.weight", "Q8_0", [64, 100]), Tensor("blk.0.attn_q.weight", "Q8_0", [64, 64])],
    )
    second = gguf_header(
        {"split.no": Value("u16", 1), "split.count": Value("u16", 2), "split.tensors.count": Value("i32", 3)},
        [Tensor("output.weight", "Q8_0", [64, 100])],
    )
    a, b = parse(first, name="X-Q8_0-00001-of-00002.gguf"), parse(second, name="X-Q8_0-00002-of-00002.gguf")
    assert (gguf_architecture(a.metadata)["split_no"], gguf_architecture(b.metadata)["split_no"]) == (0, 1)
    assert gguf_architecture(b.metadata) == {"split_no": 1, "split_count": 2, "split_tensors_count": 3}
    assert len(a.tensors) + len(b.tensors) == 3
    assert a.parameters + b.parameters == 64 * 100 * 2 + 64 * 64


def test_file_type_names_cover_llama_h():
    assert LLAMA_FTYPES[15] == "MOSTLY_Q4_K_M" and LLAMA_FTYPES[38] == "MOSTLY_MXFP4_MOE"
    assert arch_of({"general.file_type": 999})["file_type_name"] == "UNKNOWN_999"


# --- variants --------------------------------------------------------------------------------------

BARTOWSKI = [
    "README.md",
    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
    "Meta-Llama-3.1-8B-Instruct-q8_0.gguf",
    "Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf",
    "Meta-Llama-3.1-8B-Instruct-Q4_K_L.gguf",
    "Meta-Llama-3.1-8B-Instruct-f16.gguf",
    "Meta-Llama-3.1-8B-Instruct-Q2_K.gguf",
    "Meta-Llama-3.1-8B-Instruct-IQ3_M.gguf",
    "Meta-Llama-3.1-8B-Instruct-Q4_0.gguf",
    "Meta-Llama-3.1-8B-Instruct-Q6_K.gguf",
    "mmproj-model-f16.gguf",
]


def test_variants_are_named_and_ordered_by_size():
    variants = gguf_variants(BARTOWSKI)
    assert [v.name for v in variants] == [
        "Q2_K",
        "IQ3_M",
        "IQ4_XS",
        "Q4_0",
        "Q4_K_M",
        "Q4_K_L",
        "Q6_K",
        "Q8_0",
        "F16",
    ]
    assert all(len(v.files) == 1 and v.complete for v in variants)
    assert gguf_projectors(BARTOWSKI) == ["mmproj-model-f16.gguf"]


def test_split_variants_in_subfolders_and_sizes():
    paths = [
        "Q8_0/DeepSeek-V3-Q8_0-00002-of-00003.gguf",
        "Q8_0/DeepSeek-V3-Q8_0-00001-of-00003.gguf",
        "Q8_0/DeepSeek-V3-Q8_0-00003-of-00003.gguf",
        "UD-Q4_K_XL/DeepSeek-V3-UD-Q4_K_XL-00001-of-00002.gguf",
        "BF16/DeepSeek-V3-BF16-00001-of-00004.gguf",
        "BF16/DeepSeek-V3-BF16-00003-of-00004.gguf",
        "model.gguf",
    ]
    variants = gguf_variants(paths)
    by_name = {v.name: v for v in variants}
    assert by_name["Q8_0"].files == tuple(sorted(paths[:3]))
    assert by_name["UD-Q4_K_XL"].missing == (2,) and by_name["BF16"].missing == (2, 4)
    assert by_name["model"].files == ("model.gguf",)  # no label: the stem
    assert [v.name for v in variants] == ["UD-Q4_K_XL", "Q8_0", "BF16", "model"]
    sized = gguf_variants(paths[:3] + ["model.gguf"], sizes={p: 10 for p in paths[:3]} | {"model.gguf": 5})
    assert [(v.name, v.size) for v in sized] == [("model", 5), ("Q8_0", 30)]


def test_same_label_twice_falls_back_to_paths():
    variants = gguf_variants(["b/m-Q4_K_M.gguf", "llama-2-7b.Q5_K_S.gguf", "a/m-Q4_K_M.gguf"])
    assert [v.name for v in variants] == ["a/m-Q4_K_M", "b/m-Q4_K_M", "Q5_K_S"]


def test_pick_variant():
    variants = gguf_variants(BARTOWSKI)
    assert pick_variant(variants, "q4_k_m").name == "Q4_K_M"
    assert pick_variant(variants, " Q8_0 ").files == ("Meta-Llama-3.1-8B-Instruct-q8_0.gguf",)
    with pytest.raises(
        UsageError, match=r"no GGUF variant 'q5_k_m' in this repo; it has: Q2_K, IQ3_M, .*, F16$"
    ):
        pick_variant(variants, "q5_k_m")
    with pytest.raises(UsageError, match="has 9 GGUF variants"):
        pick_variant(variants, None)
    assert pick_variant(variants[:1], None).name == "Q2_K"
    broken = gguf_variants(["X-Q8_0-00001-of-00002.gguf"])
    with pytest.raises(UsageError, match="lacks split part"):
        pick_variant(broken, "Q8_0")


# --- cross-check with gguf-py (skipped when the gguf package is not installed) ---------------------


def test_type_tables_match_gguf_py():
    constants = pytest.importorskip("gguf.constants")
    for qtype, (block, size) in constants.GGML_QUANT_SIZES.items():
        # gguf 0.19.0 gives Q8_1 40 bytes; ggml-common.h's block_q8_1 is 2 x f16 + 32 = 36, and
        # gguf-py's own constants.py says 2 + 2 + 32 since. No file stores Q8_1 (a matmul scratch type).
        if qtype.name == "Q8_1" and size == 40:
            continue
        assert GGML_TYPES[int(qtype)][1:] == (block, size), qtype.name
        assert GGML_TYPES[int(qtype)].name == qtype.name
    for ftype in constants.LlamaFileType:
        if ftype.name != "GUESSED":
            assert LLAMA_FTYPES[int(ftype)] == ftype.name


def test_gguf_py_reads_our_writer_and_we_read_gguf_py_writer(tmp_path):
    gguf = pytest.importorskip("gguf")
    np = pytest.importorskip("numpy")
    ours = tmp_path / "ours.gguf"
    header = gguf_header(
        {"general.architecture": "llama", "llama.block_count": 2, "toks": ["a", "bb"]},
        [Tensor("w", "Q8_0", [64, 2]), Tensor("n", "F32", [3])],
    )
    ours.write_bytes(header + bytes(gguf_file_size(header) - len(header)))
    reader = gguf.GGUFReader(ours)
    assert [(t.name, int(t.tensor_type), list(t.shape), int(t.n_bytes)) for t in reader.tensors] == [
        ("w", 8, [64, 2], 136),
        ("n", 0, [3], 12),
    ]
    theirs = tmp_path / "theirs.gguf"
    writer = gguf.GGUFWriter(theirs, "llama")
    writer.add_block_count(2)
    writer.add_token_list(["a", "bb", "ccc"])
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((4, 64), dtype=np.float16))
    writer.add_tensor("blk.0.attn_norm.weight", np.zeros(5, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = theirs.read_bytes()
    parsed = read_gguf_header(bytes_reader(data), "theirs.gguf", file_size=len(data))
    assert [(t.name, t.type_name, t.dims, t.nbytes) for t in parsed.tensors] == [
        ("blk.0.attn_q.weight", "F16", (64, 4), 512),
        ("blk.0.attn_norm.weight", "F32", (5,), 20),
    ]
    assert parsed.metadata["tokenizer.ggml.tokens"] == ("a", "bb", "ccc")
    assert parsed.file_size == len(data)
