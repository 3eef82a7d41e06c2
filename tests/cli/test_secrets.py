"""Secrets: a token never reaches output, logs, tracebacks or the cache."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from helpers import (
    QWEN,
    SECRET,
    run,
)

from hubvram import errors
from hubvram.testing import FIXTURE_TOKEN


def assert_secret_absent(secret: str, *texts: str, hf_home: Path) -> None:
    for text in texts:
        assert secret not in text
    for path in hf_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def exception_chain_text(exc: BaseException) -> str:
    """The --debug traceback, and every exception in its chain (suppressed context included)."""
    parts = ["".join(traceback.format_exception(exc))]
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc!s} {exc.args!r}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("via", ["option", "env"])
def test_a_working_token_never_appears_in_output_logs_or_cache(hub, tmp_path, caplog, via):
    caplog.set_level(logging.DEBUG)
    args = ["hubvram-quirks/gated", "--format", "json"]
    env = {"HF_TOKEN": FIXTURE_TOKEN} if via == "env" else None
    if via == "option":
        args += ["--token", FIXTURE_TOKEN]
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output  # the token was sent, and it opened the gated repo
    assert any(r.headers.get("authorization") == f"Bearer {FIXTURE_TOKEN}" for r in hub.requests)
    assert (tmp_path / "hf_home" / "hub" / "hubvram").is_dir()  # the cache was written, and is grepped
    assert_secret_absent(
        FIXTURE_TOKEN, result.output, result.stderr, caplog.text, hf_home=tmp_path / "hf_home"
    )


@pytest.mark.parametrize("via", ["option", "env"])
@pytest.mark.parametrize(
    "repo", ["hubvram-quirks/gated", "hubvram-quirks/private", "hubvram-hostile/json-array"]
)
def test_a_refused_token_never_appears_in_errors_or_debug_tracebacks(hub, tmp_path, caplog, via, repo):
    caplog.set_level(logging.DEBUG)
    env = {"HF_TOKEN": SECRET} if via == "env" else None
    extra = ["--token", SECRET] if via == "option" else []
    plain = run(repo, *extra, env=env)
    assert plain.exit_code == 1 and "hubvram: error:" in plain.output
    debug = run(repo, *extra, "--debug", env=env)
    assert isinstance(debug.exception, errors.HubVramError)
    assert_secret_absent(
        SECRET,
        plain.output,
        debug.output,
        exception_chain_text(debug.exception),
        caplog.text,
        hf_home=tmp_path / "hf_home",
    )


def test_token_absent_from_network_failure_messages(hub, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    hub.add_fault(r"config\.json$", "status", status=503, times=99)
    debug = run(QWEN, "--token", SECRET, "--debug")
    assert isinstance(debug.exception, errors.NetworkError)
    assert_secret_absent(
        SECRET, debug.output, exception_chain_text(debug.exception), caplog.text, hf_home=tmp_path / "hf_home"
    )
