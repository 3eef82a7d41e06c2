"""The flags `hubvram MODEL` and `hubvram scan` share, parsed into one typed RunOptions.

The accepted values come from the stages that define them (hubvram.dtypes, estimator.options).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import click

from ..dtypes import DTYPES, KV_CACHE_DTYPES, MIXED_PRECISION
from ..errors import HubVramError
from ..estimator.options import ATTENTION, ENGINES, MODES, OFFLOAD, OPTIMIZERS, EstimateOptions
from ..gpus.catalog import parse_size, resolve_gpus
from .errors import set_debug

if TYPE_CHECKING:
    from ..report import RunOptions

RUN_MODES = (*MODES, "both")

# Sane upper bounds: far beyond any real run, low enough that the arithmetic stays meaningful.
MAX_BATCH_SIZE = 1_000_000
MAX_SEQ_LEN = 100_000_000
MAX_COUNT = 1_000_000  # GPUs, accumulation steps, LoRA rank
_UPPER_BOUNDS = {
    "batch_size": MAX_BATCH_SIZE,
    "seq_len": MAX_SEQ_LEN,
    "new_tokens": MAX_SEQ_LEN,
    "target_len": MAX_SEQ_LEN,
    "grad_accumulation": MAX_COUNT,
    "lora_rank": MAX_COUNT,
    "num_gpus": MAX_COUNT,
    "tensor_parallel": MAX_COUNT,
}


def _positive(_ctx, param: click.Parameter, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be a positive integer", param=param)
    return _bounded(param, value)


def _bounded(param: click.Parameter, value):
    bound = _UPPER_BOUNDS.get(param.name or "")
    if value is not None and bound is not None and value > bound:
        raise click.BadParameter(f"must be at most {bound:,}", param=param)
    return value


def _count(_ctx, param: click.Parameter, value):
    if value is not None and value < 0:
        raise click.BadParameter("must be zero or a positive integer", param=param)
    return _bounded(param, value)


def _overhead(_ctx, param: click.Parameter, value: str | None) -> int | None:
    if value is None or value.strip().lower() == "auto":
        return None
    if value.strip() == "0":
        return 0
    if value.strip()[-1:].isdigit():
        raise click.BadParameter(
            f"'{value}' has no unit: give 500MiB, 1GiB, ... (or 'auto', or 0)", param=param
        )
    try:
        return parse_size(value)
    except HubVramError as exc:
        raise click.BadParameter(f"{exc} (or 'auto', or 0 to leave it out)", param=param) from None


def estimate_options(
    formats: tuple[str, ...], *, format_default: str | None = "table", format_help: str = ""
):
    """Flags shared by `hubvram MODEL` and `hubvram scan`; each offers its own output formats."""
    decorators = [
        click.option(
            "--mode", type=click.Choice(RUN_MODES), default="both", show_default=True, help="What to size."
        ),
        click.option(
            "--dtype", type=click.Choice(DTYPES), help="Precision of the weights (default: as stored)."
        ),
        click.option("--batch-size", type=int, default=1, show_default=True, callback=_positive),
        click.option(
            "--seq-len",
            type=int,
            callback=_positive,
            help="Tokens per sequence (default: 2048, capped at the model's).",
        ),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adamw", show_default=True),
        click.option(
            "--overhead",
            callback=_overhead,
            metavar="BYTES|auto",
            help="Runtime overhead per GPU (CUDA context, workspaces): 'auto' (default), a size, or 0.",
        ),
        click.option(
            "--gpu",
            "gpus",
            multiple=True,
            metavar="NAME",
            help="A GPU from the catalog (repeatable); 'all': every one.",
        ),
        click.option(
            "--gpu-memory",
            multiple=True,
            metavar="SIZE",
            help="A GPU by its memory: 24GiB, 24GB, or a bare number of GB (24).",
        ),
        click.option(
            "--new-tokens", type=int, default=0, callback=_count, help="Inference: tokens generated."
        ),
        click.option(
            "--target-len",
            type=int,
            callback=_positive,
            help="Encoder-decoder training: decoder (target) tokens per sample (default: --seq-len).",
        ),
        click.option(
            "--mixed-precision",
            type=click.Choice(MIXED_PRECISION),
            help="Training: fp32 master weights and optimizer states, bf16/fp16 compute (autocast).",
        ),
        click.option("--gradient-checkpointing", is_flag=True, help="Training: recompute activations."),
        click.option("--grad-accumulation", type=int, default=1, callback=_positive, metavar="N"),
        click.option(
            "--lora-rank",
            type=int,
            callback=_positive,
            help="Train LoRA adapters of this rank (QLoRA with --dtype nf4/int4).",
        ),
        click.option(
            "--lora-targets",
            default="q,v",
            show_default=True,
            help="LoRA target projections: q,k,v,o,gate,up,down or 'all'.",
        ),
        click.option(
            "--zero",
            "zero_stage",
            type=click.IntRange(0, 3),
            default=0,
            help="ZeRO/FSDP stage (with --num-gpus).",
        ),
        click.option(
            "--num-gpus",
            type=int,
            default=1,
            callback=_positive,
            help="Data-parallel GPUs for ZeRO sharding.",
        ),
        click.option("--offload", type=click.Choice(OFFLOAD), default="none", show_default=True),
        click.option(
            "--tensor-parallel",
            type=int,
            default=1,
            callback=_positive,
            help="Inference: GPUs splitting the model.",
        ),
        click.option(
            "--kv-cache-dtype",
            type=click.Choice(KV_CACHE_DTYPES),
            help="Default: compute dtype.",
        ),
        click.option(
            "--attention",
            type=click.Choice(ATTENTION),
            default="auto",
            show_default=True,
            help="auto: what transformers runs for the model (SDPA, or eager where it has no SDPA path).",
        ),
        click.option(
            "--variant",
            metavar="NAME",
            help="GGUF repos: the quantization to size, e.g. Q4_K_M (default: every one in the repo).",
        ),
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            default="auto",
            show_default=True,
            help="What serves the model: sizes its KV cache, requests at once and tokens/s per GPU "
            "(auto: llama.cpp for GGUF repos, transformers otherwise).",
        ),
        click.option(
            "--gpu-memory-utilization",
            type=click.FloatRange(0, 1, min_open=True),
            metavar="FRACTION",
            help="vLLM: share of each card it may take (default: vLLM's, 0.92).",
        ),
        click.option("--vllm-version", metavar="X.Y", help="vLLM: the release whose defaults apply (0.14+)."),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=format_default,
            show_default=format_default is not None,
            help=format_help or None,
        ),
        click.option("--revision", help="Branch, tag or commit (default: main)."),
        click.option(
            "--token", help="Hugging Face token (default: HF_TOKEN or the one saved by `hf auth login`)."
        ),
        click.option(
            "--debug",
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=set_debug,
            help="Show tracebacks.",
        ),
    ]
    return lambda fn: functools.reduce(lambda f, d: d(f), reversed(decorators), fn)


SCENARIO_FLAGS = (
    "batch_size",
    "optimizer",
    "overhead",
    "new_tokens",
    "target_len",
    "mixed_precision",
    "gradient_checkpointing",
    "grad_accumulation",
    "lora_rank",
    "lora_targets",
    "zero_stage",
    "num_gpus",
    "offload",
    "tensor_parallel",
    "kv_cache_dtype",
    "attention",
    "variant",
)


def run_options(**kwargs) -> RunOptions:
    """The parsed flags of `estimate_options` as one RunOptions, GPUs resolved (an unknown one fails here,
    before any request)."""
    from ..report import RunOptions  # lazy: the report stage loads the estimator; `--help` needs neither

    settings = EstimateOptions(**{name: kwargs[name] for name in SCENARIO_FLAGS if name in kwargs})
    vllm_flags = [f for f in ("gpu_memory_utilization", "vllm_version") if kwargs.get(f) is not None]
    if vllm_flags and kwargs["engine"] != "vllm":
        named = " and ".join("--" + f.replace("_", "-") for f in vllm_flags)
        raise click.UsageError(f"{named} size vLLM: add --engine vllm")
    if kwargs.get("vllm_version"):
        from ..estimator.vllm import parse_version

        try:
            parse_version(kwargs["vllm_version"])
        except HubVramError as exc:
            raise click.BadParameter(str(exc), param_hint="'--vllm-version'") from None
    return RunOptions(
        mode=kwargs["mode"],
        dtype=kwargs["dtype"],
        seq_len=kwargs["seq_len"],
        settings=settings,
        gpus=resolve_gpus(tuple(kwargs["gpus"]), tuple(kwargs["gpu_memory"])),
        engine=kwargs["engine"],
        gpu_memory_utilization=kwargs["gpu_memory_utilization"],
        vllm_version=kwargs["vllm_version"],
    )
