"""Exact parameter counts from weight headers, or a count derived from the config when there are none.

Headers give every tensor's dtype and shape: parameters are counted per dtype, packed quantized
storage unpacked (GPTQ/AWQ int32, bitsandbytes uint8, MXFP4 blocks), quantization scales counted as
bytes, buffers stored in the files left out, and an lm_head stored beside the embedding it is tied
to counted once. A repo with only .bin weights gets a count derived from its stored size or config.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..dtypes import CONFIG_DTYPE_BYTES, CONFIG_DTYPE_LABELS
from ..errors import MalformedConfig, MissingField
from ..fetch.safetensors_types import (
    BUFFER_SUFFIXES,
    EMBEDDING_SUFFIXES,
    LM_HEAD_NAMES,
    LM_HEAD_SUFFIXES,
    MASK_BUFFER_SUFFIXES,
    PACKED_DTYPES,
    QUANT_AUX_SUFFIXES,
    QUANT_STATE,
    SafetensorsFile,
    TensorInfo,
)
from .config import clean_text
from .facts import Architecture, ParameterCount
from .families import is_gated_mlp

# The name rules (buffers, quantization side tensors, embeddings, heads) live beside the summary that
# keeps every tensor they name: fetch/safetensors_types.py.


def count_parameters(
    files: tuple[SafetensorsFile, ...], arch: Architecture
) -> tuple[ParameterCount, int, tuple[str, ...]]:
    """Exact parameters per dtype from headers, plus weight bytes in memory and notes for the user.

    From each file's summary: tensors no rule names, summed per dtype and kind, then every named one
    (buffers, embeddings, heads, packed storage) as before, one at a time.
    """
    stored: dict[str, int] = {}
    params: dict[str, int] = {}
    buffers: dict[str, int] = {}
    aux_bytes = weights_bytes = 0
    mlx = mlx_quantization(arch) is not None
    summaries = [f.summary for f in files]
    for group in (g for s in summaries for g in s.groups):  # no rule names these: no buffer, no tie
        dtype, kind, _, numel, nbytes = group
        stored[dtype] = stored.get(dtype, 0) + numel
        weights_bytes += nbytes
        if kind == "aux" or (kind == "biases" and mlx):
            aux_bytes += nbytes
        else:
            params[dtype] = params.get(dtype, 0) + numel
    tensors = [t for s in summaries for t in s.named]
    duplicates = _tied_duplicates(tensors, arch)
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
    notes = _count_notes(buffers, tied, aux_bytes)
    count = ParameterCount(
        by_dtype=_sorted(params),
        stored_by_dtype=_sorted(stored),
        buffers_by_dtype=_sorted(buffers),
        tied_duplicates=tied,
        quantization_aux_bytes=aux_bytes,
        source="safetensors",
    )
    return count, weights_bytes, notes


def _is_buffer(name: str, shape: tuple[int, ...]) -> bool:
    if name.endswith(BUFFER_SUFFIXES):
        return True
    return name.endswith(MASK_BUFFER_SUFFIXES) and len(shape) == 4


def _is_quant_aux(name: str) -> bool:
    return name.endswith(QUANT_AUX_SUFFIXES) or QUANT_STATE in name


def mlx_quantization(arch: Architecture) -> tuple[int, int] | None:
    """(group_size, bits) of an MLX-quantized model (config `quantization`, no quant_method), else None.

    mlx/nn/layers/quantized.py: a quantized Linear stores `weight` as uint32 [out, in x bits / 32] with
    `scales` and `biases` [out, in / group_size] in the model dtype; mlx-lm writes the defaults and any
    per-layer override (a module path -> {group_size, bits} or false) into config.json.
    """
    quant = arch.quantization or {}
    group, bits = quant.get("group_size"), quant.get("bits")
    if "quant_method" in quant or type(group) is not int or type(bits) is not int:
        return None
    return group, bits


def _mlx_bits(name: str, quant: Mapping[str, object], bits: int) -> int:
    override = quant.get(name.rsplit(".", 1)[0])  # the module's own entry, keyed by its path
    value = override.get("bits") if isinstance(override, dict) else bits
    if type(value) is not int or value not in (2, 3, 4, 5, 6, 8):
        raise MalformedConfig(f"config.json: quantization bits is {clean_text(str(value))!r}, not 2-8")
    return value


def _unpacked(tensor: TensorInfo, arch: Architecture) -> tuple[str, int]:
    """(dtype label, parameter count) of a tensor, unpacking quantized storage."""
    quant = arch.quantization or {}
    method = str(quant.get("quant_method", "")).lower()
    mlx = mlx_quantization(arch)
    if mlx and tensor.dtype == "U32":
        bits = _mlx_bits(tensor.name, quant, mlx[1])
        return f"INT{bits}", tensor.numel * 32 // bits  # 32 / bits values per uint32
    if tensor.name.endswith(".qweight") and tensor.dtype in ("I32", "U32"):
        bits = quant.get("bits") or quant.get("w_bit") or 4  # GPTQ/AWQ pack 32/bits weights per int32
        if type(bits) is not int or bits not in (2, 3, 4, 8):
            raise MalformedConfig(
                f"config.json: quantization_config bits is {clean_text(str(bits))!r}, not 2, 3, 4 or 8"
            )
        return f"INT{bits}", tensor.numel * 32 // bits
    if tensor.name.endswith("_blocks") and tensor.dtype == "U8":
        return "MXFP4", tensor.numel * 2  # gpt-oss MXFP4: two 4-bit values per byte, scales apart
    if method == "bitsandbytes" and tensor.dtype == "U8" and quant.get("load_in_4bit"):
        kind = (clean_text(quant.get("bnb_4bit_quant_type")) or "nf4").upper()
        return kind, tensor.numel * 2  # bitsandbytes Params4bit: two 4-bit values per uint8
    return tensor.dtype, tensor.numel


def _tied_duplicates(tensors: list[TensorInfo], arch: Architecture) -> frozenset[str]:
    """An lm_head stored beside the embedding it is tied to is loaded as one tensor (Qwen3-0.6B)."""
    if arch.tie_word_embeddings is False:
        return frozenset()
    embeddings = {t.shape for t in tensors if t.name.endswith(EMBEDDING_SUFFIXES)}
    return frozenset(t.name for t in tensors if _is_lm_head(t.name) and t.shape in embeddings)


def _is_lm_head(name: str) -> bool:
    return name.endswith(LM_HEAD_SUFFIXES) or name in LM_HEAD_NAMES


def stores_head_and_embedding(files: tuple[SafetensorsFile, ...]) -> bool:
    names = [t.name for f in files for t in f.summary.named]  # both kinds are always named
    return any(_is_lm_head(n) for n in names) and any(n.endswith(EMBEDDING_SUFFIXES) for n in names)


def _count_notes(buffers: Mapping[str, int], tied: int, aux_bytes: int) -> tuple[str, ...]:
    notes = []
    if buffers:
        listed = ", ".join(f"{n:,} {d}" for d, n in buffers.items())
        notes.append(f"buffers stored in the files are not counted as parameters ({listed})")
    if tied:
        notes.append(f"lm_head is stored but tied to the embeddings: {tied:,} duplicate values counted once")
    if aux_bytes:
        notes.append(f"quantization scales/zero points take {aux_bytes:,} bytes beside the packed weights")
    return tuple(notes)


def _sorted(counts: Mapping[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# ---------------------------------------------------------------------------------------------
# Without safetensors: a count derived from the config


def derive_parameters(
    arch: Architecture, stored_bytes: int | None
) -> tuple[ParameterCount, int, tuple[str, ...]]:
    """Parameters of a repo without safetensors: stored bytes / dtype size, else the decoder formula."""
    dtype = (arch.torch_dtype or "float32").lower()
    label = CONFIG_DTYPE_LABELS.get(dtype, dtype.upper())
    width = CONFIG_DTYPE_BYTES.get(dtype, 4)
    if stored_bytes:
        total = int(stored_bytes // width)
        how = f"derived from the stored size ({stored_bytes:,} bytes / {width:g} per {dtype} value), not read"
        weights_bytes = stored_bytes
    else:
        total = decoder_parameters(arch)
        how = "derived from the config's dimensions with the transformer formula, not read"
        weights_bytes = int(total * width)
    source = "stored size" if stored_bytes else "config"
    count = ParameterCount(by_dtype={label: total}, stored_by_dtype={}, source=source)
    return count, weights_bytes, (f"no safetensors weights: parameter count {how}",)


def decoder_parameters(arch: Architecture) -> int:
    """Parameters of a decoder-only transformer from its dimensions (GQA, gated MLP, MoE aware).

    Per layer: attention Q,O (h x heads*hd) + K,V (h x kv*hd); MLP 3*h*i when gated (SwiGLU) else 2*h*i,
    times the experts for MoE; two norms. Plus embeddings (and an untied lm_head).
    """
    for name in ("hidden_size", "num_layers", "num_attention_heads", "vocab_size"):
        if getattr(arch, name) is None:
            raise MissingField(name, arch.model_type or "this model", "parameter-count")
    h, layers, vocab = arch.hidden_size, arch.num_layers, arch.vocab_size
    hd, kv = arch.attention_head_dim or 0, arch.kv_heads or 0
    attention = 2 * h * arch.num_attention_heads * hd + 2 * h * kv * hd
    inter = arch.intermediate_size or 4 * h
    gated = is_gated_mlp(arch)
    mlp = (3 if gated else 2) * h * inter
    if arch.is_moe:
        expert_inter = arch.moe_intermediate_size or inter
        mlp = arch.num_experts * (3 if gated else 2) * h * expert_inter + arch.num_experts * h
    per_layer = attention + mlp + 2 * h
    embeddings = vocab * h * (1 if arch.tie_word_embeddings else 2)
    return layers * per_layer + embeddings + h
