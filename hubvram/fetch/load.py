"""Entry point of the fetch stage: a Hub repo id (or its cached copy), or a directory -> RepoSnapshot."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NetworkError
from . import cache
from .hub import HubReader
from .local import read_local
from .snapshot import RepoSnapshot

if TYPE_CHECKING:
    from .workers import DecoderPool


def load_snapshot(
    model: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    timeout: float | None = None,
    pool: ThreadPoolExecutor | None = None,
    use_cache: bool = True,
    refresh: bool = False,
    decoders: DecoderPool | None = None,
    cancel: threading.Event | None = None,
) -> RepoSnapshot:
    """Read a repo from the Hub (or hubvram's cache of it), or a local directory with the same files."""
    if looks_local(model):
        return read_local(Path(model))
    reader = HubReader(
        model, revision=revision, token=token, timeout=timeout, pool=pool, decoders=decoders, cancel=cancel
    )
    offline = hub_offline()
    if use_cache and (offline or not refresh):
        snapshot = reader.from_cache(trust_stale=offline)
        if snapshot is not None:
            return snapshot
    if offline:
        raise NetworkError(
            f"{model} is not in hubvram's cache and HF_HUB_OFFLINE is set: run it once online, or unset it",
            model=model,
        )
    snapshot = reader.read()
    if use_cache and snapshot.sha and not reader.commit_moved:
        cache.store(model, snapshot.sha, snapshot.cacheable())
        cache.remember_ref(model, revision, snapshot.sha)
    return snapshot


def looks_local(model: str) -> bool:
    """An existing directory or an explicit path; anything else is a repo id ('a/b/c' is not one)."""
    return os.path.isdir(model) or model.startswith((".", "/", "~")) or (os.sep != "/" and os.sep in model)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, read at call time like huggingface_hub's own is_offline_mode() (it may be set late)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    return constants.HF_HUB_OFFLINE if value is None else value.upper() in ("1", "ON", "YES", "TRUE")
