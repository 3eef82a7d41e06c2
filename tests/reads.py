"""Reading the fixture Hub in tests: published counts, expected rows, one read of facts."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from hubvram.fetch.load import load_snapshot
from hubvram.model import facts_from_snapshot
from hubvram.testing import FIXTURE_TOKEN

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def expected_rows() -> dict[str, dict[str, str]]:
    with (FIXTURES / "EXPECTED.tsv").open() as handle:
        return {row["repo"]: row for row in csv.DictReader(handle, delimiter="\t")}


def published_counts() -> dict[str, int]:
    """PARAM_COUNTS.tsv: the Hub's published totals (ids like 'org/name(-Instruct)' cover two repos)."""
    counts = {}
    with (FIXTURES / "PARAM_COUNTS.tsv").open() as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            model = row["model_id"]
            match = re.match(r"^(.*)\((.*)\)$", model)
            names = [match.group(1), match.group(1) + match.group(2)] if match else [model]
            for name in names:
                counts[name] = int(row["total_params"])
    return counts


def read(model: str, **kwargs):
    kwargs.setdefault("token", FIXTURE_TOKEN)
    snapshot = load_snapshot(model, **kwargs)
    return snapshot, facts_from_snapshot(snapshot)


def safetensors_requests(server):
    return [r for r in server.requests if "/resolve/" in r.path and r.path.endswith(".safetensors")]
