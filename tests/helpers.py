"""Helpers shared by the test files: the CLI runner, one-line error checks, tiny repos and configs."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from conftest import FIXTURES_HUB

from hubvram.cli import cli
from hubvram.fetch import limits
from hubvram.fetch.load import load_snapshot
from hubvram.model import facts_from_snapshot
from hubvram.testing import FIXTURE_TOKEN

HOSTILE = sorted(p.name for p in (FIXTURES_HUB / "hubvram-hostile").iterdir() if p.is_dir())
SECRET = "hf_secretHardeningTokenXyz123"  # a token the test Hub refuses (403 on gated repos)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(limits, "RETRY_BASE_WAIT", 0.01)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, prog_name="hubvram")


def run_signed_in(*args: str):
    """The CLI as a user signed in to the test Hub (its gated repos open)."""
    return run(*args, env={"HF_TOKEN": FIXTURE_TOKEN})


def json_report(*args: str) -> dict:
    """`hubvram ARGS --format json`, signed in, which must succeed."""
    result = run_signed_in(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_error_line(result, code: int = 1) -> str:
    """The single `hubvram: error:` line of a failed run (and nothing else on stdout/stderr)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("hubvram: error: ")
    return lines[0]


def usage_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


def requested_bytes(record) -> int | None:
    """Bytes a Range header asked for (None: no Range, the whole file)."""
    match = re.fullmatch(r"bytes=(\d+)-(\d+)", record.headers.get("range", ""))
    return int(match.group(2)) - int(match.group(1)) + 1 if match else None


def resolve_requests(server, suffix: str):
    return [r for r in server.requests if "/resolve/" in r.path and r.path.endswith(suffix)]


BASE_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 100,
    "max_position_embeddings": 256,
    "hidden_act": "silu",
    "torch_dtype": "bfloat16",
    "tie_word_embeddings": False,
}
TINY_TENSORS = {
    "model.embed_tokens.weight": ("BF16", [100, 64]),
    "model.layers.0.self_attn.q_proj.weight": ("BF16", [64, 64]),
    "lm_head.weight": ("BF16", [100, 64]),
}
TINY_PARAMS = 100 * 64 * 2 + 64 * 64


def config_repo(make_repo, hub_on, config, repo="t/cfg", **kwargs):
    kwargs.setdefault("safetensors", {"model.safetensors": TINY_TENSORS})
    make_repo(repo, files={"config.json": config, **kwargs.pop("files", {})}, **kwargs)
    config_repo.server = hub_on(make_repo.root)  # the server of the latest repo, for record checks
    return repo


def without(config: dict, *keys: str) -> dict:
    return {k: v for k, v in config.items() if k not in keys}


QWEN = "Qwen/Qwen3-0.6B"
QWEN_PARAMS = 596_049_920


def read_qwen(**kwargs):
    snapshot = load_snapshot(QWEN, use_cache=False, **kwargs)
    return facts_from_snapshot(snapshot)
