"""benchmarks/accuracy.py's pieces that need no torch: case sets, configs, the CUDA record and tables.

The measurements themselves need torch (``pip install -e '.[validate]'``) and minutes per case; these
tests check what surrounds them: the held-out sets, where configs are found, how ``--device cuda``
refuses without a GPU, the record a GPU run writes and the table it is read into, and that a
regenerated report keeps its hand-written findings.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def acc():
    spec = importlib.util.spec_from_file_location("accuracy_harness", ROOT / "benchmarks" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


ISSUE_CASES = (
    "bloomz-560m infer bf16 b2 s1024 gen +8",
    "bloomz-560m train bf16 b2 s512 adamw",
    "distilgpt2 train fp32 b8 s256 adamw ckpt",
    "distilgpt2 train fp32 b16 s512 adamw",
    "flan-t5-base train fp32 b4 s256 t256 adamw",
    "opus-mt-en-fr train fp32 b8 s128 t128 adamw",
    "flan-t5-small infer fp32 b8 s512 gen +8",
)


def test_held_out_2_holds_the_issue_cases_and_new_ones(acc):
    names = [c.name for c in acc.HELD_OUT_2]
    assert len(names) == len(set(names))
    assert 14 <= len(names) <= 20
    assert set(ISSUE_CASES) <= set(names)
    new = [c for c in acc.HELD_OUT_2 if c.name not in ISSUE_CASES]
    assert len(new) >= 7
    # held-out-2 shares no case with the calibration set or the first held-out set
    assert not set(names) & {c.name for c in acc.CASES + acc.HELD_OUT}


def test_the_first_held_out_set_is_unchanged(acc):
    assert [c.name for c in acc.HELD_OUT][:3] == [
        "gpt-j-6b L1 infer bf16 b1 s1024 gen +8",
        "gpt-j-6b L1 train bf16 b1 s512 sgd",
        "bloom L1 infer bf16 b1 s512 gen +8",
    ]
    assert len(acc.HELD_OUT) == 8


def test_target_tokens_default_to_seq_and_show_in_the_name(acc):
    plain = acc.Case("google/flan-t5-base", "training", "fp32", 4, 256)
    assert plain.target_tokens == 256 and plain.name == "flan-t5-base train fp32 b4 s256 adamw"
    seq2seq = acc.Case("google/flan-t5-base", "training", "fp32", 4, 256, target=64)
    assert seq2seq.target_tokens == 64
    assert seq2seq.name == "flan-t5-base train fp32 b4 s256 t64 adamw"


def test_every_held_out_2_config_is_found(acc):
    for case in acc.HELD_OUT_2:
        config = acc.load_config_dict(case.model)
        assert config["model_type"], case.model


def test_benchmark_configs_are_published_json(acc):
    folders = sorted(p for p in (ROOT / "benchmarks" / "configs").iterdir() if p.is_dir())
    assert folders
    for folder in folders:
        assert "__" in folder.name
        data = json.loads((folder / "config.json").read_text())
        assert "model_type" in data and "architectures" in data


def test_cuda_is_refused_clearly_without_a_gpu(acc):
    acc.device_check("cpu", lambda: False)  # the CPU path needs nothing
    acc.device_check("cuda", lambda: True)
    with pytest.raises(SystemExit, match=r"--device cuda: torch.cuda.is_available\(\) is False"):
        acc.device_check("cuda", lambda: False)


class FakeCuda:
    """A stand-in for torch.cuda: 80 GB, 0.5 GB used by the context, 3 GB allocated at the peak."""

    def __init__(self):
        self.calls: list[str] = []
        self.free = 80e9 - 0.5e9

    def synchronize(self):
        self.calls.append("synchronize")

    def reset_peak_memory_stats(self):
        self.calls.append("reset")

    def mem_get_info(self):
        return int(self.free), int(80e9)

    def max_memory_allocated(self):
        return int(3e9)

    def max_memory_reserved(self):
        return int(3.4e9)


def test_cuda_peak_resets_the_peak_and_records_allocator_and_driver(acc):
    cuda = FakeCuda()
    ran = []

    def run():
        ran.append(cuda.calls[-1])  # the peak was reset just before
        cuda.free -= 4.1e9  # reserved + workspaces

    row = acc.cuda_peak(run, cuda, used_before=int(0.5e9))
    assert ran == ["reset"]
    assert row == {
        "TOTAL": int(3e9),
        "max_memory_allocated": int(3e9),
        "max_memory_reserved": int(3.4e9),
        "driver_used_before": int(0.5e9),
        "driver_used_after": int(4.6e9),
        "driver_total": int(80e9),
        "phase": "",
    }


def _cpu_record(acc, total: int) -> dict:
    measured = {name: 0 for name in acc.CATEGORY_NAMES}
    measured.update({f"max_{name}": 0 for name in acc.CATEGORY_NAMES})
    measured.update(PARAMETER=327_650_304, max_PARAMETER=327_650_304, ACTIVATION=total - 327_650_304)
    measured.update(TOTAL=total, phase="backward")
    return {
        "measured": measured,
        "by_dtype": {"F32": 81_912_576},
        "weights_bytes": 327_650_304,
        "attention": "sdpa",
        "kind": "causal",
        "device": "cpu",
        "source_tokens": 256,
        "target_tokens": None,
        "new_tokens": None,
    }


def _cuda_record(acc) -> dict:
    record = _cpu_record(acc, 0)
    record["measured"] = acc.cuda_peak(lambda: None, FakeCuda(), used_before=int(0.5e9))
    record["device"] = "cuda"
    return record


def test_cached_cpu_and_gpu_records_make_both_tables_and_keep_the_findings(acc, tmp_path, capsys):
    pytest.importorskip("transformers")
    name = "distilgpt2 train fp32 b8 s256 adamw ckpt"
    cache = tmp_path / "m.json"
    cache.write_text(json.dumps({name: _cpu_record(acc, int(2.686e9)), name + " [cuda]": _cuda_record(acc)}))
    md = tmp_path / "report.md"
    args = ["--set", "held-out-2", "--only", name, "--measurements", str(cache), "--markdown", str(md)]

    assert acc.main(args) == 0  # every case cached: no torch needed
    out = capsys.readouterr().out
    assert "2.686" in out and "resident err %" in out
    text = md.read_text()
    assert "--set held-out-2" in text and "| distilgpt2 train fp32 b8 s256 adamw ckpt | 2.686 |" in text

    assert acc.main([*args, "--device", "cuda"]) == 0  # the GPU record, read from the same file
    out = capsys.readouterr().out
    for header in acc.CUDA_HEADERS:
        assert header in out
    assert "3.000" in out and "3.400" in out and "0.500/0.500" in out
    assert "## On a GPU (`--device cuda`)" in md.read_text()

    md.write_text(md.read_text() + "\n" + acc.FINDINGS_MARKER + "\n\n## Findings\n\nkept\n")
    assert acc.main(args) == 0
    text = md.read_text()
    assert text.count(acc.FINDINGS_MARKER) == 1 and text.endswith("## Findings\n\nkept\n")


def test_encoder_decoders_get_source_target_and_new_tokens(acc):
    train = acc.Case("google-t5/t5-small", "training", "bf16", 8, 512, target=128)
    infer = acc.Case("google/flan-t5-small", "inference", "fp32", 8, 512, new_tokens=8)
    causal = acc.Case("openai-community/gpt2", "inference", "fp32", 8, 256, new_tokens=16)
    assert (acc.options_of(train).seq_len, acc.options_of(train).target_len) == (512, 128)
    assert (acc.options_of(infer).seq_len, acc.options_of(infer).new_tokens) == (512, 8)
    assert acc.options_of(causal).seq_len == 256 + 16  # decoder-only: the cache's final length


def test_marian_tables_are_taken_out_of_the_count_as_the_hub_files_lack_them(acc):
    pytest.importorskip("transformers")
    case = acc.Case("Helsinki-NLP/opus-mt-en-fr", "training", "fp32", 8, 128, target=128)
    facts = acc.facts_of(case, {"F32": 75_148_288}, 75_148_288 * 4)
    assert facts.parameters.total == 75_148_288 - 2 * 512 * 512
    assert facts.weights_bytes == (75_148_288 - 2 * 512 * 512) * 4


def test_the_untuned_estimates_cover_held_out_2_and_the_left_out_case_is_one_of_them(acc):
    untuned = json.loads(acc.UNTUNED.read_text())
    assert set(untuned) == {c.name for c in acc.HELD_OUT_2}
    assert set(acc.LEFT_OUT) <= set(untuned)
