"""A scan's rows: one model's totals per scenario and its fit on each GPU, or the error that stopped it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..estimator import Estimate
from ..report import WHAT_IF_PRECISIONS, GpuRow, Report, RunOptions, trainable

SERVING_KEYS = (
    "decode_tokens_per_s",
    "prefill_tokens_per_s",
    "kv_cache_tokens",
    "max_concurrency",
    "max_model_len",
)


@dataclass(frozen=True)
class GpuFit:
    """The first (asked-for) scenario of a model held against one GPU; with the serving columns, what the
    engine holds there and its tokens/s bounds (report/serving.py)."""

    name: str
    fits: bool
    gpus_needed: int | None  # None: more cards than fit.py searches (64)
    serving: tuple[float | int | None, ...] = ()  # SERVING_KEYS' values, when asked for

    def serving_value(self, key: str) -> float | int | None:
        return self.serving[SERVING_KEYS.index(key)] if self.serving else None


@dataclass(frozen=True)
class ScanRow:
    """One model of a scan: its size, its totals per scenario and its fit per GPU, or an error."""

    model: str
    revision: str | None = None
    index: int = 0  # position in the input list
    sha: str | None = None
    parameters: int | None = None
    weights_bytes: int | None = None
    parameters_source: str | None = None  # "safetensors"/"gguf" (read) or "config" (derived)
    format: str | None = None  # safetensors, gguf, meta-original, mistral-native, mlx, peft-adapter, pytorch
    totals: tuple[tuple[str, int], ...] = ()  # scenario key (see scenario_key) -> total bytes
    gpus: tuple[GpuFit, ...] = ()
    cached: bool = False
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.model, self.revision)

    def to_dict(
        self, scenario_keys: Iterable[str] = (), gpu_names: Iterable[str] = (), serving: bool = False
    ) -> dict[str, Any]:
        """Flat, JSON- and CSV-ready; pass the scan's columns so every row has the same keys."""
        totals = dict(self.totals)
        fits = {g.name: g for g in self.gpus}
        keys = list(scenario_keys)
        keys += [key for key in totals if key not in keys]  # a scenario the columns did not foresee
        names = list(gpu_names) or list(fits)
        data: dict[str, Any] = {
            "model": self.model,
            "revision": self.revision,
            "sha": self.sha,
            "parameters": self.parameters,
            "weights_bytes": self.weights_bytes,
            "parameters_source": self.parameters_source,
            "format": self.format,
        }
        data.update({f"total:{key}": totals.get(key) for key in keys})
        for name in names:
            gpu = fits.get(name)
            data[f"fits:{name}"] = gpu.fits if gpu else None
            data[f"gpus_needed:{name}"] = gpu.gpus_needed if gpu else None
            if serving:
                data.update({f"{k}:{name}": gpu.serving_value(k) if gpu else None for k in SERVING_KEYS})
        data.update(
            cached=self.cached,
            requests=self.requests,
            bytes=self.bytes,
            seconds=round(self.seconds, 3),
            error=self.error,
        )
        return data


def scenario_key(mode: str, dtype: str | None) -> str:
    """The column name of one scenario: "inference", "inference:int4", "training:bf16"."""
    return mode if dtype is None else f"{mode}:{dtype}"


def scenario_keys(options: RunOptions) -> tuple[str, ...]:
    """Every scenario column a scan with these options can fill, in report.scenarios' order."""
    modes = ("inference", "training") if options.mode == "both" else (options.mode,)
    keys: list[str] = []
    for mode in modes:
        if options.mode == "both" and not trainable(options, mode):
            continue
        keys.append(scenario_key(mode, options.dtype))
        if options.dtype is None and mode == "inference":
            keys.extend(scenario_key(mode, p) for p in WHAT_IF_PRECISIONS)
    return tuple(keys)


def row_from_report(
    report: Report, model: str, revision: str | None, index: int, options: RunOptions
) -> ScanRow:
    """Totals of every scenario and the fit of the first one on each GPU (named as the input named it)."""
    facts = report.facts
    fits = tuple(
        GpuFit(row.gpu.name, row.fits[0].fits, row.fits[0].gpus_needed, _serving(row, options))
        for row in report.gpus
        if row.fits
    )
    return ScanRow(
        model=model,
        revision=revision,
        index=index,
        sha=facts.sha,
        parameters=facts.parameters.total,
        weights_bytes=facts.weights_bytes,
        parameters_source=facts.parameters.source,
        format=facts.format,
        totals=_totals(report.estimates, options),
        gpus=fits,
    )


def _serving(row: GpuRow, options: RunOptions) -> tuple[float | int | None, ...]:
    if not options.serving_columns:
        return ()
    answers = {**(row.speed or {}), **(row.serving or {})}
    return tuple(answers.get(key) for key in SERVING_KEYS)


def _totals(estimates: Iterable[Estimate], options: RunOptions) -> tuple[tuple[str, int], ...]:
    """Each estimate's total under its column: a mode's first estimate is the asked-for scenario (named
    by --dtype, even when report.scenarios trains FP8/GPTQ weights dequantized), the others what-ifs."""
    totals: list[tuple[str, int]] = []
    for e in estimates:
        if e.options.variant:  # a GGUF quantization is its own column: inference:Q4_K_M
            totals.append((scenario_key(e.options.mode, e.options.variant), e.total))
            continue
        asked = all(e.options.mode != key.split(":")[0] for key, _ in totals)
        totals.append((scenario_key(e.options.mode, options.dtype if asked else e.options.dtype), e.total))
    return tuple(totals)


def in_input_order(rows: Iterable[ScanRow]) -> list[ScanRow]:
    return sorted(rows, key=lambda row: row.index)
