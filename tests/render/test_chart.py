"""The memory-against-context chart: the curve's data, and a valid SVG holding every GPU and every curve."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from reads import read

from hubvram.errors import UsageError
from hubvram.estimator import EstimateOptions, estimate
from hubvram.estimator.curve import MemoryCurve, default_contexts, memory_curve
from hubvram.gpus import custom_gpu, find_gpu
from hubvram.render.chart import LABEL_GAP, _stagger, chart_svg, memory_chart

SVG = "{http://www.w3.org/2000/svg}"
GiB = 2**30


@pytest.fixture
def qwen(hub):
    return read("Qwen/Qwen3-0.6B")[1]  # context 40,960


def test_memory_curve_is_the_estimate_at_each_context(qwen):
    curve = memory_curve(qwen, EstimateOptions(), (1024, 4096, 16384, 65536))
    assert curve.contexts == (1024, 4096, 16384)  # 64k is past the model's 40,960 tokens: left out
    for context, total in zip(curve.contexts, curve.totals, strict=True):
        assert total == estimate(qwen, EstimateOptions(seq_len=context)).total
    assert list(curve.totals) == sorted(curve.totals)
    assert curve.label == "inference bf16 b1"


def test_default_contexts_run_from_1k_to_the_models_context(qwen):
    assert default_contexts(qwen) == (1024, 2048, 4096, 8192, 16384, 32768, 40960)


def test_crossing_interpolates_on_the_log_axis():
    curve = MemoryCurve("x", (1024, 4096), (10 * GiB, 20 * GiB), EstimateOptions())
    assert curve.crossing(15 * GiB) == pytest.approx(2048)  # halfway up, halfway along log2
    assert curve.crossing(30 * GiB) is None  # never reached
    assert curve.crossing(5 * GiB) == 0.0  # already above at the first point


def test_chart_is_valid_svg_with_every_gpu_and_curve(qwen, tmp_path):
    curves = [
        memory_curve(qwen, EstimateOptions(batch_size=8)),
        memory_curve(qwen, EstimateOptions(batch_size=8, dtype="int4")),
    ]
    gpus = [find_gpu("RTX 3060 12GB"), find_gpu("RTX 4090"), find_gpu("L4"), custom_gpu("6GiB")]
    path = memory_chart(curves, gpus, tmp_path / "chart.svg", title="Qwen/Qwen3-0.6B")
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    text = " ".join("".join(t.itertext()) for t in root.iter(SVG + "text"))
    for gpu in gpus:
        assert gpu.name in text
        assert f"{gpu.memory_bytes / GiB:.1f} GiB" in text
    for curve in curves:
        assert curve.label in text
        groups = [g for g in root.iter(SVG + "g") if g.get("data-label") == curve.label]
        assert len(groups) == 1 and groups[0].find(SVG + "polyline") is not None
    assert {"1k", "4k", "16k", "40k"} <= set(text.split())
    assert "memory per GPU (GiB)" in text and "context length (tokens, log scale)" in text
    # batch 8 of Qwen3-0.6B outgrows the 6 GiB card: a crossing mark with its explanation
    titles = ["".join(t.itertext()) for t in root.iter(SVG + "title")]
    assert any("runs out of custom (6GiB)" in t for t in titles)


def test_gpu_labels_do_not_overlap():
    wanted = [100.0, 101.0, 102.0, 300.0, 301.0, 500.0]
    placed = _stagger(wanted, 60.0, 560.0)
    ordered = sorted(placed)
    assert all(b - a >= LABEL_GAP - 1e-9 for a, b in zip(ordered, ordered[1:], strict=False))
    assert placed[5] == 500.0  # an isolated label stays at its line
    assert min(placed) >= 60.0 and max(placed) <= 560.0
    # crowded at the bottom: pushed up, still apart and inside
    placed = _stagger([558.0, 559.0, 560.0], 60.0, 560.0)
    assert max(placed) <= 560.0 and sorted(placed)[1] - sorted(placed)[0] >= LABEL_GAP - 1e-9


def test_cards_of_equal_memory_share_a_line(qwen):
    svg = chart_svg([memory_curve(qwen, EstimateOptions())], [find_gpu("RTX 4090"), find_gpu("RTX 3090")])
    root = ET.fromstring(svg)
    lines = [g for g in root.iter(SVG + "g") if g.get("class") == "gpu"]
    assert (
        len(lines) == 1 and "RTX 4090" in lines[0].get("data-gpu") and "RTX 3090" in lines[0].get("data-gpu")
    )


def test_html_wraps_the_svg_and_png_is_refused(qwen, tmp_path):
    curves = [memory_curve(qwen, EstimateOptions())]
    page = memory_chart(curves, [find_gpu("L4")], tmp_path / "chart.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "</html>" in page
    with pytest.raises(UsageError, match=r"chart\.svg") as info:
        memory_chart(curves, [find_gpu("L4")], tmp_path / "chart.png")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "chart.png").exists()
    with pytest.raises(UsageError, match=r"\.svg or \.html"):
        memory_chart(curves, [find_gpu("L4")], tmp_path / "chart.pdf")


def test_names_are_escaped(qwen):
    curve = memory_curve(qwen, EstimateOptions(), label="<script>&")
    svg = chart_svg([curve], [find_gpu("L4")], title="a < b & c")
    ET.fromstring(svg)  # well-formed
    assert "<script>" not in svg
