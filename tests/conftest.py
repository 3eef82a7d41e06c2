"""Shared pytest plumbing: an isolated Hugging Face environment and a local fake Hub.

Fixtures:
- ``_isolated_hf_env`` (autouse): HF_HOME in tmp_path, no token, telemetry and progress bars off,
  NO_COLOR=1, COLUMNS=200, and HF_ENDPOINT pointed at a closed loopback port so that a test that
  forgot the ``hub`` fixture fails fast instead of reaching for huggingface.co.
- ``hub_server`` (session): one ``HubServer`` serving ``fixtures/hub`` (an empty folder if it does not
  exist yet).
- ``hub``: that server, reset (no records, no faults, latency 0, default page size), with HF_ENDPOINT
  pointed at it for this test.
- ``make_repo``: ``make_repo("org/name", files=..., safetensors=..., ...)`` writes a repo (see
  ``hubserver.write_repo``) under ``tmp_path / "hub"`` and returns its folder.
- ``hub_on``: ``hub_on(root, host="127.0.0.1", point=True)`` starts a fresh ``HubServer`` on ``root``
  (stopped after the test) and, unless ``point=False``, points HF_ENDPOINT at it.
- ``point_hf_at(monkeypatch, url)``: the helper behind them, for tests that juggle several servers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hubvram.testing import FIXTURE_TOKEN, HubServer, write_repo

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_HUB = REPO_ROOT / "fixtures" / "hub"
# Nothing listens on the discard port: requests fail at once with "connection refused".
UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"

__all__ = ["FIXTURE_TOKEN", "FIXTURES_HUB", "point_hf_at"]


def _set_constant(monkeypatch: pytest.MonkeyPatch, name: str, value: object) -> None:
    from huggingface_hub import constants

    if hasattr(constants, name):
        monkeypatch.setattr(constants, name, value)


def point_hf_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point huggingface_hub at ``url`` for the rest of the test, as if HF_ENDPOINT had been set at import.

    huggingface_hub reads HF_ENDPOINT once, at import, into several places: constants.ENDPOINT,
    the download URL template, the host sets that decide which redirects keep the token, and the
    endpoint of the module-level ``HfApi`` behind ``huggingface_hub.model_info`` & co.
    """
    import huggingface_hub.hf_api as hf_api
    import huggingface_hub.utils._http as hf_http

    url = url.rstrip("/")
    monkeypatch.setenv("HF_ENDPOINT", url)
    _set_constant(monkeypatch, "ENDPOINT", url)
    _set_constant(
        monkeypatch, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    from huggingface_hub import constants

    host = urlsplit(url).hostname
    if host and hasattr(constants, "HF_URL_HOSTS"):
        monkeypatch.setattr(constants, "HF_URL_HOSTS", frozenset(constants.HF_URL_HOSTS | {host.lower()}))
    if hasattr(hf_http, "_HUB_ORIGINS") and hasattr(hf_http, "_url_origin"):
        monkeypatch.setattr(
            hf_http, "_HUB_ORIGINS", frozenset(hf_http._HUB_ORIGINS | {hf_http._url_origin(url)})
        )
    if hasattr(hf_api, "api"):
        monkeypatch.setattr(hf_api.api, "endpoint", url)


@pytest.fixture(autouse=True)
def _isolated_hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    hf_home = tmp_path / "hf_home"
    hf_home.mkdir()
    for var in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_ASSETS_CACHE",
        "HUGGINGFACE_ASSETS_CACHE",
        "HF_TOKEN_PATH",
        "HF_XET_CACHE",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_DEBUG",
        "HUGGINGFACE_CO_STAGING",
        "XDG_CACHE_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_UPDATE_CHECK", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")

    # Values huggingface_hub computed from the environment at import time.
    hub_cache = str(hf_home / "hub")
    assets_cache = str(hf_home / "assets")
    token_path = str(hf_home / "token")
    for name, value in {
        "HF_HOME": str(hf_home),
        "default_cache_path": hub_cache,
        "default_assets_cache_path": assets_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_HUB_CACHE": hub_cache,
        "HUGGINGFACE_ASSETS_CACHE": assets_cache,
        "HF_ASSETS_CACHE": assets_cache,
        "HF_TOKEN_PATH": token_path,
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "default_xet_cache_path": str(hf_home / "xet"),
        "CHECK_FOR_UPDATE_DONE_PATH": str(hf_home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(hf_home / ".check_for_skill_update_done"),
        "AGENT_HARNESSES_PATH": str(hf_home / ".agent_harnesses.json"),
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_PROGRESS_BARS": True,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
        "HF_HUB_OFFLINE": False,
        "HF_DEBUG": False,
    }.items():
        _set_constant(monkeypatch, name, value)
    import huggingface_hub.utils.tqdm as hf_tqdm

    if hasattr(hf_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS"):  # a copy taken at import
        monkeypatch.setattr(hf_tqdm, "HF_HUB_DISABLE_PROGRESS_BARS", True)
    point_hf_at(monkeypatch, UNREACHABLE_ENDPOINT)
    yield


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    root = FIXTURES_HUB if FIXTURES_HUB.is_dir() else tmp_path_factory.mktemp("empty-hub")
    server = HubServer(root)
    server.start()
    yield server
    server.stop()


def _reset(server: HubServer) -> None:
    server.reset()
    server.latency = 0.0
    server.page_size = 1000


@pytest.fixture
def hub(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    _reset(hub_server)
    point_hf_at(monkeypatch, hub_server.url)
    yield hub_server
    hub_server.wait_idle(2.0)
    _reset(hub_server)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    root = tmp_path / "hub"

    def _make(repo_id: str = "test-org/tiny", **kwargs: object) -> Path:
        return write_repo(kwargs.pop("root", root), repo_id, **kwargs)  # type: ignore[arg-type]

    _make.root = root  # type: ignore[attr-defined]
    return _make


@pytest.fixture
def hub_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., HubServer]]:
    servers: list[HubServer] = []

    def _start(
        root: str | os.PathLike[str], host: str = "127.0.0.1", point: bool = True, **kwargs: object
    ) -> HubServer:
        Path(root).mkdir(parents=True, exist_ok=True)
        server = HubServer(root, host=host, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        server.start()
        if point:
            point_hf_at(monkeypatch, server.url)
        return server

    yield _start
    for server in servers:
        server.stop()
