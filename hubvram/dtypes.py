"""The precision vocabulary, in one place: the names users type, and how file and config names map to them.

Three vocabularies meet here: hubvram's (`--dtype bf16`), the weight files' (safetensors `BF16`,
`F8_E4M3`, `I8`) and the configs' (`torch_dtype: "bfloat16"`). Every other module asks this one.
"""

from __future__ import annotations

from collections.abc import Mapping

# What --dtype accepts: floats, and the quantized precisions a model can be re-quantized to.
DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "int4", "nf4")
FLOAT_DTYPES = ("fp32", "fp16", "bf16")
QUANTIZED_DTYPES = ("fp8", "int8", "int4", "nf4")
KV_CACHE_DTYPES = ("fp32", "fp16", "bf16", "fp8", "q8_0", "q4_0")
LLAMACPP_ONLY_KV_DTYPES = ("q8_0", "q4_0")  # llama.cpp's --cache-type-k/-v; PyTorch caches hold floats
# Our KV-cache names -> llama.cpp's cache types (common/arg.cpp kv_cache_types).
LLAMACPP_CACHE_TYPES: Mapping[str, str] = {
    "fp32": "f32",
    "fp16": "f16",
    "bf16": "bf16",
    "q8_0": "q8_0",
    "q4_0": "q4_0",
}
MIXED_PRECISION = ("bf16", "fp16")

# Bytes per element of an unquantized dtype.
FLOAT_BYTES: Mapping[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1}
# Bits per weight of the integer what-if precisions (before their scales).
QUANTIZED_BITS: Mapping[str, int] = {"int8": 8, "int4": 4, "nf4": 4, "fp8": 8}

# Safetensors / config / torch dtype names -> ours.
_ALIASES: Mapping[str, str] = {
    "F32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "F16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "BF16": "bf16",
    "bfloat16": "bf16",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
    "float8_e4m3fn": "fp8",
}

# Header dtypes as people name precisions, for "as stored" labels (I8 is int8 storage, not a float).
_PRECISION_NAMES: Mapping[str, str] = {
    "F32": "fp32",
    "F16": "fp16",
    "BF16": "bf16",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
    "I8": "int8",
}

# Header dtypes that hold ordinary float weights (a checkpoint of only these trains as it is).
FLOAT_HEADER_DTYPES = frozenset({"F32", "F16", "BF16", "F64"})

# Config torch_dtype names: bytes per value, and the header dtype label of a derived count.
CONFIG_DTYPE_BYTES: Mapping[str, float] = {
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "float8_e4m3fn": 1,
    "int8": 1,
}
CONFIG_DTYPE_LABELS: Mapping[str, str] = {
    "float32": "F32",
    "float": "F32",
    "float16": "F16",
    "half": "F16",
    "bfloat16": "BF16",
}


def dtype_name(name: str | None) -> str | None:
    """Our name for a safetensors/config/torch dtype name ("BF16", "bfloat16" -> "bf16"); None if unknown."""
    if name is None:
        return None
    if name in DTYPES:
        return name
    return _ALIASES.get(name) or _ALIASES.get(str(name).replace("torch.", ""))


def precision_name(header_dtype: str) -> str:
    """A header dtype as people name the precision ("BF16" -> "bf16"; unknown ones lower-cased)."""
    return _PRECISION_NAMES.get(header_dtype, header_dtype.lower())
