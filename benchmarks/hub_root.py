"""The benchmarks' Hub root: fixture repos copied under new ids, and what the test server does before timing.

benchmarks/scan.py builds a temporary root of at least --models repos from the generated fixture repos
(hubvram.testing layout), single-file and sharded, and has the server compute what the real Hub keeps
from upload (prebuild_server_state) before anything is timed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hubvram.testing import HubServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "hub"


@dataclass
class Source:
    repo_dir: Path
    repo_id: str
    sharded: bool
    min_bytes: int  # config.json + index + headers


def plain_sources(skip: str | None = None) -> list[Source]:
    """Fixture repos whose weights are one model.safetensors or a root shard index (no odd layouts)."""
    sources = []
    for repo_json in sorted(FIXTURES.glob("*/*/repo.json")):
        meta = json.loads(repo_json.read_text())
        repo_dir, files = repo_json.parent, repo_json.parent / "files"
        if (
            meta.get("private")
            or (skip and re.search(skip, meta["id"]))
            or meta["id"].startswith("hubvram-hostile/")
            or not (files / "config.json").is_file()
        ):
            continue
        config = (files / "config.json").stat().st_size
        if (files / "model.safetensors.index.json").is_file():
            index = json.loads((files / "model.safetensors.index.json").read_text())
            shards = sorted(set(index.get("weight_map", {}).values()))
            headers = [files / f"{shard}.header" for shard in shards]
            if not shards or not all(h.is_file() for h in headers):
                continue  # a repo the fixture generator has not finished
            size = config + (files / "model.safetensors.index.json").stat().st_size
            sources.append(Source(repo_dir, meta["id"], True, size + sum(h.stat().st_size for h in headers)))
        elif [p.name for p in files.rglob("*.safetensors.header")] == ["model.safetensors.header"]:
            header = (files / "model.safetensors.header").stat().st_size
            sources.append(Source(repo_dir, meta["id"], False, config + header))
    return sources


def build_root(root: Path, sources: list[Source], count: int) -> dict[str, Source]:
    """`count` repos (at least one copy of every source): copies under new ids, new shas, ungated."""
    models: dict[str, Source] = {}
    copy = 0
    while len(models) < count or copy == 0:
        for source in sources:
            org, name = source.repo_id.split("/")
            repo_id = f"{org}-c{copy}/{name}"
            target = root / repo_id
            shutil.copytree(source.repo_dir, target)
            meta = json.loads((target / "repo.json").read_text())
            meta.update(id=repo_id, sha=hashlib.sha1(repo_id.encode()).hexdigest(), gated=False, refs={})
            (target / "repo.json").write_text(json.dumps(meta))
            models[repo_id] = Source(target, repo_id, source.sharded, source.min_bytes)
            if len(models) >= count and copy > 0:
                break
        copy += 1
    return models


def prebuild_server_state(endpoint: str, models: dict[str, Source]) -> None:
    """Have the test server compute, before anything is timed, what the Hub stores at upload.

    Every sharded model's safetensors-metadata answer: the Hub answers that route from metadata it
    computed at upload; the test server builds each answer (parse every shard header, encode up to
    11.6 MB of JSON) on first request, then keeps it by content (hubvram.testing.app.HubApp
    ._metadata_answers). Every file's hashes (git blob id, LFS sha256: the listing's blobs and each
    file's ETag): the Hub stores them at upload; the test server hashes each file on first use (DeepSeek-V3's
    8.8 MB index, each shard's header) and keeps it. Building either inside the timed scan would charge
    the client for server CPU on the cores it shares (~0.5 s per DeepSeek-V3 copy for the answer), and
    whichever run came first would pay for the runs after it.
    """
    import urllib.request

    for repo_id, source in models.items():
        urls = [f"{endpoint}/api/models/{repo_id}?blobs=true"]
        if source.sharded:
            urls.append(f"{endpoint}/api/models/{repo_id}/safetensors-metadata/model.safetensors.index.json")
        for url in urls:
            with urllib.request.urlopen(url, timeout=60) as answer:
                answer.read()


def model_of(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "models"] and len(parts) >= 4:
        return f"{parts[2]}/{parts[3]}"
    if len(parts) >= 3 and parts[2] == "resolve":
        return f"{parts[0]}/{parts[1]}"
    return None


def per_model_requests(server: HubServer) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for record in server.requests:
        model = model_of(record.path)
        if model:
            counts[model] += 1
    return counts
