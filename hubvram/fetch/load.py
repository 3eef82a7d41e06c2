"""Entry point of the fetch stage: a Hub repo id (or its cached copy), or a directory -> RepoSnapshot."""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ..errors import HubVramError, MalformedConfig, NetworkError, RevisionNotFound
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
    variant: str | None = None,
) -> RepoSnapshot:
    """Read a repo from the Hub (or hubvram's cache of it), or a local directory with the same files.

    `variant` names the GGUF quantization to read (default: fetch.gguf_variants.default_variant). A PEFT
    adapter's base model is read too, with the same token and cache rules (RepoSnapshot.base).
    """
    if looks_local(model):
        snapshot = read_local(Path(model), variant)
    else:
        snapshot = _from_hub(
            model, revision, token, timeout, pool, use_cache, refresh, decoders, cancel, variant
        )
    if snapshot.weights_format != "peft-adapter":
        return snapshot
    base = adapter_base(snapshot)
    try:
        base_snapshot = load_snapshot(
            base,
            revision=_text((snapshot.adapter_config or {}).get("revision")),
            token=token,
            timeout=timeout,
            pool=pool,
            use_cache=use_cache,
            refresh=refresh,
            decoders=decoders,
            cancel=cancel,
        )
    except HubVramError as exc:  # the base's own error, said of the adapter
        exc.prefix = f"{model} is an adapter for {base}: "
        raise
    return replace(snapshot, base=base_snapshot)


def _from_hub(
    model: str,
    revision: str | None,
    token: str | bool | None,
    timeout: float | None,
    pool: ThreadPoolExecutor | None,
    use_cache: bool,
    refresh: bool,
    decoders: DecoderPool | None,
    cancel: threading.Event | None,
    variant: str | None,
) -> RepoSnapshot:
    reader = HubReader(
        model,
        revision=revision,
        token=token,
        timeout=timeout,
        pool=pool,
        decoders=decoders,
        cancel=cancel,
        variant=variant,
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
    try:
        snapshot = reader.read()
    except RevisionNotFound:
        full = _full_commit(model, revision, token, timeout, pool)
        if full is None:
            raise
        return _from_hub(model, full, token, timeout, pool, use_cache, refresh, decoders, cancel, variant)
    if use_cache and snapshot.sha and not reader.commit_moved:
        cache.store(model, snapshot.sha, snapshot.cacheable(), variant, revision=revision, remember=True)
    return snapshot


def _full_commit(
    model: str,
    revision: str | None,
    token: str | bool | None,
    timeout: float | None,
    pool: ThreadPoolExecutor | None,
) -> str | None:
    """The 40-character commit a short one (as hubvram prints it, 7 characters) names, when it is main's."""
    if not revision or not 7 <= len(revision) < 40 or any(c not in "0123456789abcdef" for c in revision):
        return None
    sha = HubReader(model, token=token, timeout=timeout, pool=pool).current_sha()
    return sha if sha.startswith(revision) else None


def adapter_base(snapshot: RepoSnapshot) -> str:
    """The base model an adapter names (`base_model_name_or_path`), or a clear error."""
    base = _text((snapshot.adapter_config or {}).get("base_model_name_or_path"))
    if not base:
        raise MalformedConfig(
            f"{snapshot.model_id}: adapter_config.json names no base_model_name_or_path, so the model "
            "the adapter attaches to (and its memory) is unknown",
            model=snapshot.model_id,
        )
    return base


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


_HUB_URL = re.compile(
    r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<id>[^/?#@]+(?:/[^/?#@]+)?)"
    r"(?:/(?:tree|blob|resolve)/(?P<rev>[^/?#]+))?(?:[/?#].*)?$"
)


def parse_model_ref(text: str) -> tuple[str, str | None]:
    """(repo id or path, revision) from what a user pastes: `org/name`, `org/name@rev`, or a Hub URL
    (`https://huggingface.co/org/name`, `.../tree/rev`, `.../blob/rev/config.json`)."""
    text = text.strip()
    url = _HUB_URL.match(text)
    if url:
        model = url["id"]
        return (model.removeprefix("models/"), unquote(url["rev"]) if url["rev"] else None)
    if "@" in text and not looks_local(text):
        model, _, revision = text.partition("@")
        return model, revision or None
    return text, None


def looks_local(model: str) -> bool:
    """An existing directory or an explicit path; anything else is a repo id ('a/b/c' is not one)."""
    return os.path.isdir(model) or model.startswith((".", "/", "~")) or (os.sep != "/" and os.sep in model)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE, read at call time like huggingface_hub's own is_offline_mode() (it may be set late)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE")
    return constants.HF_HUB_OFFLINE if value is None else value.upper() in ("1", "ON", "YES", "TRUE")
