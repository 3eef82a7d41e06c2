"""The report stage: which scenarios a run sizes, and how each is held against the GPUs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hubvram.errors import MalformedConfig
from hubvram.estimator import EstimateOptions, estimate
from hubvram.fetch.local import read_local
from hubvram.gpus import custom_gpu
from hubvram.model import facts_from_snapshot
from hubvram.report import RunOptions, Transfer, build_report, scenarios, stored_precision

TINY_LLAMA = Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama"


@pytest.fixture(scope="module")
def tiny():
    snapshot = read_local(TINY_LLAMA)
    return snapshot, facts_from_snapshot(snapshot)


def labels(facts, options):
    return [(s.mode, s.dtype, s.seq_len) for s in scenarios(facts, options)]


def test_default_run_sizes_stored_inference_what_ifs_and_training(tiny):
    _, facts = tiny
    # tiny-llama's context is 128 tokens: the default 2,048 is capped there.
    assert labels(facts, RunOptions()) == [
        ("inference", None, 128),
        ("inference", "int8", 128),
        ("inference", "int4", 128),
        ("training", None, 128),
    ]
    assert stored_precision(facts) == "bf16"


def test_a_quantized_dtype_under_both_modes_sizes_inference_only(tiny):
    _, facts = tiny
    assert labels(facts, RunOptions(dtype="int4", seq_len=64)) == [("inference", "int4", 64)]
    lora = RunOptions(dtype="nf4", seq_len=64, settings=EstimateOptions(lora_rank=8))
    assert labels(facts, lora) == [("inference", "nf4", 64), ("training", "nf4", 64)]


def test_the_settings_reach_every_scenario_but_mixed_precision_stays_in_training(tiny):
    _, facts = tiny
    options = RunOptions(settings=EstimateOptions(batch_size=3, mixed_precision="bf16", optimizer="sgd"))
    found = scenarios(facts, options)
    assert {s.batch_size for s in found} == {3}
    assert [s.mixed_precision for s in found] == [None, None, None, "bf16"]


def test_build_report_holds_every_estimate_against_every_gpu(tiny):
    snapshot, facts = tiny
    gpus = (custom_gpu("1GiB"), custom_gpu("100MiB"))
    options = RunOptions(mode="inference", seq_len=64, settings=EstimateOptions(overhead=0), gpus=gpus)
    report = build_report(facts, options, Transfer.of(snapshot))
    assert [row.gpu.name for row in report.gpus] == ["custom (1GiB)", "custom (100MiB)"]
    first = report.estimates[0]
    assert first.total == estimate(facts, replace(first.options)).total
    row = report.gpus[0]
    assert row.fits[0].fits and row.fits[0].headroom_bytes == 2**30 - first.total
    assert row.max_seq_len == 128  # the model's own context caps the search
    assert row.max_batch_size == 4096  # the search cap: tiny-llama fits far more
    quick = build_report(facts, options, search_limits=False)
    assert quick.gpus[0].max_batch_size is None and quick.gpus[0].fits == row.fits
    assert report.transfer == Transfer(0, 0, 1, False)


def test_a_pipeline_without_a_transformer_config_is_named_then_refused(tiny):
    _, facts = tiny
    pipeline = replace(facts, architecture=replace(facts.architecture, hidden_size=None, num_layers=None))
    pipeline = replace(pipeline, pipeline_class="StableDiffusionPipeline")
    with pytest.raises(
        MalformedConfig, match="is a StableDiffusionPipeline pipeline: its weights take 213,632 bytes"
    ):
        build_report(pipeline, RunOptions(gpus=(custom_gpu("1GiB"),)))
