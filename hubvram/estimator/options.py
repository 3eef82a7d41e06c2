"""What a scenario is: EstimateOptions (the mode and every setting of one run) and the vocabulary it accepts.

Precisions come from hubvram.dtypes; the rest of the accepted values are defined here, once, and the
CLI offers exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..dtypes import DTYPES, FLOAT_DTYPES, KV_CACHE_DTYPES, MIXED_PRECISION, QUANTIZED_DTYPES
from ..errors import UsageError

# What serves the model (report/serving.py); auto: llama.cpp for a GGUF repo, transformers otherwise
ENGINES = ("auto", "transformers", "vllm", "llama.cpp")
MODES = ("inference", "training")
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "adagrad", "rmsprop", "adamw-8bit")
OFFLOAD = ("none", "cpu", "nvme")
ATTENTION = (
    "auto",
    "sdpa",
    "eager",
)  # auto: what transformers runs for the model (families.default_attention)
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
ZERO_STAGES = (0, 1, 2, 3)


@dataclass(frozen=True)
class EstimateOptions:
    """One scenario: how the model is run (inference or one training step) and with what settings."""

    mode: str = "inference"  # "inference" | "training"
    dtype: str | None = None  # None = as stored; one of DTYPES (training: pure dtype, or the QLoRA base)
    batch_size: int = 1  # training: the micro-batch
    seq_len: int = 2048  # inference: prompt + generated tokens held in the KV cache; training: per sample
    # (encoder-decoders: the encoder's source tokens; Whisper's encoder always runs its 1500 positions)
    new_tokens: int = 0  # inference: how many of seq_len are generated (prefill runs on seq_len - new_tokens)
    # (encoder-decoders: decoder tokens generated from the seq_len source tokens, at least 1)
    target_len: int | None = (
        None  # encoder-decoder training: decoder (target) tokens per sample; None = seq_len
    )
    optimizer: str = "adamw"
    overhead: int | None = None  # None = auto (CUDA context + cuBLAS workspace + allocator slack), 0 = none
    mixed_precision: str | None = None  # "bf16"/"fp16": fp32 master weights and states, autocast compute
    gradient_checkpointing: bool = False
    grad_accumulation: int = 1  # micro-batches per optimizer step (gradients then live through the forward)
    lora_rank: int | None = None  # LoRA adapters on a frozen base (QLoRA when dtype is nf4/int4/int8)
    lora_targets: tuple[str, ...] = ("q", "v")  # PEFT's default for Llama-style models; "all" = every linear
    zero_stage: int = 0  # ZeRO/FSDP: 1 shards optimizer states, 2 + gradients, 3 + parameters over num_gpus
    num_gpus: int = 1  # data-parallel GPUs for ZeRO sharding
    offload: str = "none"  # "cpu"/"nvme": optimizer states (and with ZeRO-3 the parameters) leave the GPU
    tensor_parallel: int = 1  # inference: weights, KV heads and activations split over this many GPUs
    kv_cache_dtype: str | None = None  # None = the compute dtype (llama.cpp: f16)
    # "auto": what transformers runs (SDPA where the model supports it, else eager); "sdpa" (flash or
    # memory-efficient kernels: no seq x seq scores); "eager" (scores materialised per layer)
    attention: str = "auto"
    variant: str | None = None  # GGUF: the quantization to size (None: the one whose header was read)

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, str):
            object.__setattr__(
                self, "lora_targets", tuple(t.strip() for t in self.lora_targets.split(",") if t)
            )
        elif isinstance(self.lora_targets, list):
            object.__setattr__(self, "lora_targets", tuple(self.lora_targets))

    @property
    def prompt_tokens(self) -> int:
        return self.seq_len - self.new_tokens

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["lora_targets"] = list(self.lora_targets)
        return data


def check_options(options: EstimateOptions, encoder_decoder: bool = False) -> None:
    """Refuse values outside the accepted vocabulary; ``encoder_decoder`` lets new_tokens exceed seq_len (the
    decoder generates them from seq_len source tokens, it does not continue them)."""

    def bad(name: str, value: Any, accepted: Any) -> UsageError:
        return UsageError(f"invalid {name} {value!r}; accepted: {accepted}")

    if options.mode not in MODES:
        raise bad("mode", options.mode, ", ".join(MODES))
    if options.dtype is not None and options.dtype not in DTYPES:
        raise bad("dtype", options.dtype, ", ".join(DTYPES))
    if options.optimizer not in OPTIMIZERS:
        raise bad("optimizer", options.optimizer, ", ".join(OPTIMIZERS))
    for name in ("batch_size", "seq_len", "grad_accumulation", "num_gpus", "tensor_parallel"):
        value = getattr(options, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise bad(name, value, "a positive integer")
    new, limit = options.new_tokens, 2**40 if encoder_decoder else options.seq_len
    if not isinstance(new, int) or isinstance(new, bool) or not 0 <= new < limit:
        accepted = "an integer >= 0" if encoder_decoder else f"an integer from 0 to seq_len - 1 ({limit - 1})"
        raise bad("new_tokens", new, accepted)
    target = options.target_len
    if target is not None and (not isinstance(target, int) or isinstance(target, bool) or target <= 0):
        raise bad("target_len", target, "None (= seq_len) or a positive integer")
    if options.overhead is not None and (not isinstance(options.overhead, int) or options.overhead < 0):
        raise bad("overhead", options.overhead, "None (auto) or a number of bytes >= 0")
    if options.mixed_precision is not None and options.mixed_precision not in MIXED_PRECISION:
        raise bad("mixed_precision", options.mixed_precision, "none, " + ", ".join(MIXED_PRECISION))
    if options.lora_rank is not None and (not isinstance(options.lora_rank, int) or options.lora_rank <= 0):
        raise bad("lora_rank", options.lora_rank, "a positive integer")
    unknown = [t for t in options.lora_targets if t not in LORA_TARGETS + ("all",)]
    if unknown or not options.lora_targets:
        raise bad(
            "lora_targets", ",".join(unknown) or "", "a comma list of " + ", ".join(LORA_TARGETS + ("all",))
        )
    if options.zero_stage not in ZERO_STAGES:
        raise bad("zero_stage", options.zero_stage, ", ".join(map(str, ZERO_STAGES)))
    if options.offload not in OFFLOAD:
        raise bad("offload", options.offload, ", ".join(OFFLOAD))
    if options.kv_cache_dtype is not None and options.kv_cache_dtype not in KV_CACHE_DTYPES:
        raise bad("kv_cache_dtype", options.kv_cache_dtype, ", ".join(KV_CACHE_DTYPES))
    if options.attention not in ATTENTION:
        raise bad("attention", options.attention, ", ".join(ATTENTION))
    if options.mode == "training":
        if options.dtype in QUANTIZED_DTYPES and options.lora_rank is None:
            raise UsageError(
                f"training with dtype {options.dtype} needs a LoRA rank (QLoRA: a frozen quantized base); "
                f"full fine-tuning accepts {', '.join(FLOAT_DTYPES)}"
            )
        if options.mixed_precision and options.dtype not in (None, "fp32") and options.lora_rank is None:
            raise UsageError(
                "mixed precision keeps fp32 master weights: leave dtype unset or fp32 "
                "(dtype bf16 alone means pure bf16)"
            )
        if options.zero_stage and options.num_gpus < 2:
            raise UsageError("ZeRO sharding needs num_gpus >= 2")
