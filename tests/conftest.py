"""Shared pytest plumbing: an isolated Hugging Face environment and a local fake Hub.

huggingface_hub reads its settings from the environment once, at import. This file sets them (public
variables: HF_HOME, telemetry, progress bars, update checks, no token) before anything imports it, and
each test gets its own HF_HOME and hubvram cache through the same variables, which hubvram reads at call
time. Only the endpoint needs more (`point_hf_at`): huggingface_hub has no public way to change it
after import other than an `endpoint=` argument per call.

Fixtures:
- ``_isolated_hf_env`` (autouse): HF_HOME in tmp_path, no token, NO_COLOR=1, COLUMNS=200, and HF_ENDPOINT
  pointed at a closed loopback port so that a test that forgot the ``hub`` fixture fails fast instead of
  reaching for huggingface.co.
- ``hub_server`` (session): one ``HubServer`` serving ``fixtures/hub``.
- ``hub``: that server, reset (no records, no faults, latency 0, default page size), with HF_ENDPOINT
  pointed at it for this test.
- ``make_repo``: ``make_repo("org/name", files=..., safetensors=..., ...)`` writes a repo (see
  ``hubvram.testing.write_repo``) under ``tmp_path / "hub"`` and returns its folder.
- ``hub_on``: ``hub_on(root, host="127.0.0.1", point=True)`` starts a fresh ``HubServer`` on ``root``
  (stopped after the test) and, unless ``point=False``, points HF_ENDPOINT at it.
- ``point_hf_at(monkeypatch, url)``: the helper behind them, for tests that juggle several servers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Nothing listens on the discard port: requests fail at once with "connection refused".
UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"
_TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_STORED_TOKENS_PATH")
_CACHE_VARIABLES = (
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE",
    "HF_XET_CACHE",
    "XDG_CACHE_HOME",
)

# Before huggingface_hub is imported (by hubvram or a test): its settings, through its own variables.
for _name in (*_TOKEN_VARIABLES, *_CACHE_VARIABLES, "HF_HUB_OFFLINE", "HUBVRAM_CACHE", "HF_DEBUG"):
    os.environ.pop(_name, None)
os.environ.update(
    HF_HOME=tempfile.mkdtemp(prefix="hubvram-tests-hf-home-"),
    HF_ENDPOINT=UNREACHABLE_ENDPOINT,
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    HF_HUB_DISABLE_UPDATE_CHECK="1",
    HF_HUB_DISABLE_IMPLICIT_TOKEN="0",
)

from hubvram.testing import FIXTURE_TOKEN, HubServer, write_repo  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_HUB = REPO_ROOT / "fixtures" / "hub"

__all__ = ["FIXTURE_TOKEN", "FIXTURES_HUB", "point_hf_at"]


def point_hf_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point hubvram and huggingface_hub at ``url`` for the rest of the test.

    hubvram reads HF_ENDPOINT at call time. huggingface_hub read it once, at import, into
    constants.ENDPOINT, its download URL template and the module-level HfApi; those three are set here
    (no public setting changes them after import).
    """
    import huggingface_hub.hf_api as hf_api
    from huggingface_hub import constants

    url = url.rstrip("/")
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_api.api, "endpoint", url)


@pytest.fixture(autouse=True)
def _isolated_hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    hf_home = tmp_path / "hf_home"
    hf_home.mkdir()
    for var in (
        *_TOKEN_VARIABLES,
        *_CACHE_VARIABLES,
        "HF_HUB_OFFLINE",
        "HUBVRAM_CACHE",
        "TRANSFORMERS_OFFLINE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(hf_home))  # hubvram's cache follows it (fetch.cache.cache_root)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
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
