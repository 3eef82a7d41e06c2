"""The render stage: units, and every format of a report and of scan rows from the same writers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hubvram.estimator import EstimateOptions
from hubvram.fetch.local import read_local
from hubvram.gpus import custom_gpu
from hubvram.model import facts_from_snapshot
from hubvram.render import gib, render, render_scan, scan_line
from hubvram.report import RunOptions, build_report
from hubvram.scan import GpuFit, ScanRow

TINY_LLAMA = Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama"


def tiny_report():
    facts = facts_from_snapshot(read_local(TINY_LLAMA))
    options = RunOptions(
        mode="inference", seq_len=64, settings=EstimateOptions(overhead=0), gpus=(custom_gpu("1GiB"),)
    )
    return build_report(facts, options)


def test_units_are_gib_and_mib_never_gb():
    assert gib(2**30) == "1.00 GiB"
    assert gib(1536 * 2**20) == "1.50 GiB"
    assert gib(512 * 2**20) == "512.0 MiB"
    assert gib(0) == "0.0 MiB"


def test_json_is_the_report_dict_and_csv_carries_exact_bytes():
    report = tiny_report()
    assert json.loads(render(report, "json")) == json.loads(json.dumps(report.to_dict()))
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert [r["dtype"] for r in rows] == ["bf16", "int8", "int4"]
    first = report.estimates[0]
    assert int(rows[0]["total"]) == first.total and int(rows[0]["weights"]) == first.components["weights"]
    assert rows[0]["gpus_needed:custom (1GiB)"] == "1"


def test_table_and_markdown_show_the_same_report():
    report = tiny_report()
    table, markdown = render(report, "table"), render(report, "markdown")
    assert table.splitlines()[0] == str(TINY_LLAMA)
    assert markdown.splitlines()[0] == f"### {TINY_LLAMA}"
    assert (
        "on one card (batch 1, 64 tokens):" in table and "**on one card (batch 1, 64 tokens):**" in markdown
    )
    assert "\nbf16  " in table and "| bf16 " in markdown  # the scenario, named by what differs
    assert max(len(line) for line in table.splitlines()) <= 100


def test_scan_rows_in_every_format():
    options = RunOptions(mode="inference", gpus=(custom_gpu("24GiB"),))
    ok = ScanRow(
        model="org/a",
        parameters=1000,
        weights_bytes=2000,
        totals=(("inference", 3 * 2**30), ("inference:int8", 2 * 2**30)),
        gpus=(GpuFit("custom (24GiB)", True, 1),),
    )
    failed = ScanRow(model="org/b", index=1, error="org/b was not found on the Hub")
    table = render_scan([ok, failed], options, "table")
    assert "3.00" in table and "org/b: org/b was not found on the Hub" in table and "fits" in table
    assert "error" not in render_scan([ok], options, "table").splitlines()[0]  # no error column without one
    rows = list(csv.DictReader(io.StringIO(render_scan([ok, failed], options, "csv"))))
    assert rows[0]["total:inference"] == str(3 * 2**30) and rows[1]["parameters"] == ""
    assert json.loads(scan_line(ok, ("inference",), ("custom (24GiB)",)))["fits:custom (24GiB)"] is True
    assert [r["model"] for r in json.loads(render_scan([ok, failed], options, "json"))] == ["org/a", "org/b"]
