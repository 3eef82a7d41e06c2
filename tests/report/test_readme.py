"""The README's examples run as printed: its Python API block, and its first output against the test Hub."""

from __future__ import annotations

import contextlib
import io
import re

from conftest import REPO_ROOT
from helpers import run_signed_in

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_python_api_block_runs(hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "unused")  # Qwen3-0.6B is public: no token is needed
    block = README.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("596049920 ")  # Qwen3-0.6B: parameters as the Hub's headers say
    assert lines[-1] == "1167152 2354.6"  # vLLM's KV tokens and decode tok/s on an H200, by hand


def test_the_first_example_is_what_hubvram_prints(hub):
    example = re.search(r"```\n\$ hubvram (meta-llama/Llama-2-7b-hf [^\n]*)\n(.*?)```", README, re.S)
    args = re.findall(r'"[^"]+"|\S+', example.group(1))
    result = run_signed_in(*(a.strip('"') for a in args))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == example.group(2).strip()  # the request count too: a cold cache
