"""The fake Hub (hubvram.testing), exercised through the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import huggingface_hub.utils._http as hf_http
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
from huggingface_hub import hf_hub_download as _hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_session, http_backoff

from hubvram.testing import FIXTURE_TOKEN, HubServer, safetensors_header


def hf_hub_download(*args, **kwargs):
    """huggingface_hub's download into this test's HF_HOME (cache_dir: its public per-call setting)."""
    kwargs.setdefault("cache_dir", os.path.join(os.environ["HF_HOME"], "hub"))
    return _hf_hub_download(*args, **kwargs)


CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64}
TINY_TENSORS = {"model.embed_tokens.weight": ("BF16", [32, 8]), "lm_head.weight": ("F32", [32, 8])}
TINY_DATA = 32 * 8 * 2 + 32 * 8 * 4  # data bytes of TINY_TENSORS
MODEL_INFO = {
    "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
    "safetensors": {"parameters": {"BF16": 256, "F32": 256}, "total": 512},
    "library_name": "transformers",
    "pipeline_tag": "text-generation",
    "tags": ["transformers", "llama"],
    "lastModified": "2024-01-02T03:04:05.000Z",
}
SHARDS = {
    "model-00001-of-00002.safetensors": {"a.weight": ("F16", [4, 4]), "b.weight": ("F16", [4])},
    "model-00002-of-00002.safetensors": {"c.weight": ("BF16", [2, 8])},
}
SHARD_INDEX = {
    "metadata": {"total_size": 32 + 8 + 32},
    "weight_map": {
        "a.weight": "model-00001-of-00002.safetensors",
        "b.weight": "model-00001-of-00002.safetensors",
        "c.weight": "model-00002-of-00002.safetensors",
    },
}
GiB = 1 << 30


@pytest.fixture
def repos(make_repo, hub_on):
    """A small hub of its own: public, sharded, gated, private and odd repos, served on 127.0.0.1."""
    make_repo(
        "test-org/tiny",
        files={"config.json": CONFIG, "README.md": "# tiny\n"},
        safetensors={"model.safetensors": TINY_TENSORS},
        model_info=MODEL_INFO,
        refs={"v1.0": "1" * 40},
    )
    make_repo(
        "test-org/sharded",
        files={
            "config.json": CONFIG,
            "model.safetensors.index.json": SHARD_INDEX,
            "sub/model.safetensors.index.json": SHARD_INDEX,
        },
        safetensors={**SHARDS, **{f"sub/{k}": v for k, v in SHARDS.items()}},
    )
    make_repo(
        "test-org/gated",
        files={"config.json": CONFIG},
        safetensors={"model.safetensors": TINY_TENSORS},
        gated="manual",
        model_info=MODEL_INFO,
    )
    make_repo("test-org/private", files={"config.json": CONFIG}, private=True)
    make_repo(
        "test-org/big",
        files={"config.json": CONFIG},
        safetensors={"model.safetensors": TINY_TENSORS, "huge.safetensors": TINY_TENSORS},
        file_sizes={"huge.safetensors": 10 * GiB},
        virtual_files={"pytorch_model-00001-of-00002.bin": 9976576152, "small.bin": 1000},
    )
    big_header = {f"layer.{i}.weight": ("F16", [8, 8]) for i in range(3000)}  # JSON header > 100 kB
    make_repo(
        "test-org/long-header", files={"config.json": CONFIG}, safetensors={"model.safetensors": big_header}
    )
    bad_shard = struct.pack("<Q", 16) + b"{not json at all"
    make_repo(
        "test-org/bad-shard",
        files={"model.safetensors.index.json": SHARD_INDEX},
        safetensors={
            "model-00001-of-00002.safetensors": bad_shard,
            "model-00002-of-00002.safetensors": SHARDS["model-00002-of-00002.safetensors"],
        },
    )
    return hub_on(make_repo.root)


@pytest.fixture
def no_sleep(monkeypatch):
    """Record huggingface_hub's backoff sleeps instead of sleeping."""
    slept: list[float] = []

    class _Time:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            slept.append(seconds)

    monkeypatch.setattr(hf_http, "time", _Time())
    return slept


def _url(server: HubServer, repo: str, path: str, rev: str = "main") -> str:
    return f"{server.url}/{repo}/resolve/{rev}/{path}"


# --------------------------------------------------------------------------- model info


def test_model_info_fields(repos):
    info = HfApi().model_info("test-org/tiny")
    assert info.id == "test-org/tiny"
    assert info.sha == hashlib.sha1(b"test-org/tiny").hexdigest()
    assert sorted(s.rfilename for s in info.siblings) == ["README.md", "config.json", "model.safetensors"]
    assert all(s.size is None for s in info.siblings)
    assert (info.gated, info.private, info.disabled) == (False, False, False)
    assert info.config == MODEL_INFO["config"]
    assert info.safetensors.total == 512 and info.safetensors.parameters == {"BF16": 256, "F32": 256}
    assert (info.library_name, info.pipeline_tag) == ("transformers", "text-generation")
    raw = get_session().get(f"{repos.url}/api/models/test-org/tiny").json()
    assert raw["_id"] and raw["modelId"] == "test-org/tiny" and "cardData" not in raw


def test_model_info_revisions(repos):
    api = HfApi()
    main_sha = api.model_info("test-org/tiny").sha
    assert api.model_info("test-org/tiny", revision="v1.0").sha == "1" * 40
    assert api.model_info("test-org/tiny", revision=main_sha).sha == main_sha
    assert repos.requests[-1].path == f"/api/models/test-org/tiny/revision/{main_sha}"
    with pytest.raises(RevisionNotFoundError):
        api.model_info("test-org/tiny", revision="nope")


def test_model_info_expand_returns_only_the_asked_fields(repos):
    info = HfApi().model_info("test-org/tiny", expand=["safetensors", "config"])
    assert info.safetensors.total == 512 and info.config == MODEL_INFO["config"]
    assert info.sha is None and info.siblings is None and info.gated is None
    assert repos.requests[-1].query == {"expand": ["safetensors", "config"]}
    raw = get_session().get(f"{repos.url}/api/models/test-org/tiny", params={"expand": "safetensors"}).json()
    assert set(raw) == {"_id", "id", "safetensors"}
    bad = get_session().get(f"{repos.url}/api/models/test-org/tiny", params={"expand": "bogus"})
    assert bad.status_code == 400


def test_model_info_files_metadata_adds_sizes_and_lfs(repos):
    siblings = {s.rfilename: s for s in HfApi().model_info("test-org/big", files_metadata=True).siblings}
    assert repos.requests[-1].query == {"blobs": ["true"]}
    assert (
        siblings["config.json"].size == len(json.dumps(CONFIG, indent=2))
        and siblings["config.json"].lfs is None
    )
    header_len = len(safetensors_header(TINY_TENSORS))
    assert siblings["model.safetensors"].size == header_len + TINY_DATA
    assert siblings["model.safetensors"].lfs.size == header_len + TINY_DATA
    assert len(siblings["model.safetensors"].lfs.sha256) == 64
    assert siblings["huge.safetensors"].size == 10 * GiB
    assert siblings["pytorch_model-00001-of-00002.bin"].lfs.size == 9976576152


def test_model_info_errors(repos):
    api = HfApi()
    with pytest.raises(RepositoryNotFoundError) as exc:
        api.model_info("test-org/does-not-exist")
    assert exc.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError) as exc:
        api.model_info("test-org/private")
    assert exc.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("test-org/private", token="hf_wrong")
    assert api.model_info("test-org/private", token=FIXTURE_TOKEN).private is True


def test_gated_repo_info_is_public_but_files_need_the_token(repos):
    # As on the real Hub: the model page (info, tree) of a gated repo is public, its files are not.
    api = HfApi()
    info = api.model_info("test-org/gated")
    assert info.gated == "manual" and info.safetensors.total == 512
    assert [f.path for f in api.list_repo_tree("test-org/gated")] == ["config.json", "model.safetensors"]
    with pytest.raises(GatedRepoError) as exc:
        hf_hub_download("test-org/gated", "config.json")
    assert exc.value.response.status_code == 401
    assert exc.value.response.headers["X-Error-Message"].startswith(
        "Access to model test-org/gated is restricted"
    )
    with pytest.raises(GatedRepoError) as exc:
        hf_hub_download("test-org/gated", "config.json", token="hf_wrong")
    assert exc.value.response.status_code == 403
    with pytest.raises(GatedRepoError):
        api.file_exists("test-org/gated", "config.json")
    with pytest.raises(GatedRepoError):
        api.get_sharded_safetensors_metadata("test-org/gated")
    path = hf_hub_download("test-org/gated", "config.json", token=FIXTURE_TOKEN)
    assert json.loads(Path(path).read_text()) == CONFIG
    assert repos.requests[-1].headers["authorization"] == f"Bearer {FIXTURE_TOKEN}"


# --------------------------------------------------------------------------- downloads and headers


def test_hf_hub_download_config(repos):
    path = hf_hub_download("test-org/tiny", "config.json")
    assert json.loads(Path(path).read_text()) == CONFIG
    assert Path(path).is_relative_to(os.environ["HF_HOME"])
    assert [(r.method, r.path, r.status) for r in repos.requests] == [
        ("HEAD", "/test-org/tiny/resolve/main/config.json", 200),
        ("GET", "/test-org/tiny/resolve/main/config.json", 200),
    ]
    assert repos.requests[0].headers["accept-encoding"] == "identity"
    assert "authorization" not in repos.requests[0].headers
    assert repos.bytes_sent == Path(path).stat().st_size
    # A second call only sends the HEAD (the file is cached under the commit sha).
    repos.reset()
    hf_hub_download("test-org/tiny", "config.json")
    assert [r.method for r in repos.requests] == ["HEAD"] and repos.bytes_sent == 0


def test_missing_file_and_revision(repos):
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("test-org/tiny", "nope.json")
    assert repos.requests[-1].status == 404
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("test-org/tiny", "config.json", revision="nope")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("test-org/nope", "config.json")
    assert not HfApi().file_exists("test-org/tiny", "nope.json")
    assert HfApi().file_exists("test-org/tiny", "config.json", revision="v1.0")


def test_head_headers(repos):
    r = get_session().head(_url(repos, "test-org/tiny", "config.json"))
    sha = HfApi().model_info("test-org/tiny").sha
    body = json.dumps(CONFIG, indent=2).encode()
    assert r.status_code == 200 and r.headers["X-Repo-Commit"] == sha
    assert r.headers["Content-Length"] == str(len(body)) and r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["ETag"].strip('"') == hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
    assert "X-Linked-Size" not in r.headers
    r = get_session().head(_url(repos, "test-org/big", "huge.safetensors", rev="v-missing"))
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RevisionNotFound"
    meta = get_hf_file_metadata(hf_hub_url("test-org/big", "huge.safetensors"))
    assert meta.size == 10 * GiB and meta.commit_hash == hashlib.sha1(b"test-org/big").hexdigest()
    r = get_session().head(_url(repos, "test-org/big", "pytorch_model-00001-of-00002.bin"))
    assert r.headers["X-Linked-Size"] == r.headers["Content-Length"] == "9976576152"
    assert r.headers["X-Linked-Etag"] == r.headers["ETag"] and len(r.headers["ETag"].strip('"')) == 64
    assert [x.bytes_sent for x in repos.requests if x.method == "HEAD"] == [0, 0, 0, 0]


def test_ranges(repos):
    url = _url(repos, "test-org/tiny", "model.safetensors")
    header = safetensors_header(TINY_TENSORS)
    size = len(header) + TINY_DATA
    got = []

    def get(u, rng=None):
        r = get_session().get(u, headers={"Range": rng} if rng else {})
        got.append(r)
        return r

    r = get(url, "bytes=0-7")
    assert r.status_code == 206 and r.content == header[:8]
    assert r.headers["Content-Range"] == f"bytes 0-7/{size}"
    r = get(url, "bytes=8-")
    assert r.status_code == 206 and r.content == header[8:] + bytes(TINY_DATA)
    r = get(url, "bytes=-4")
    assert r.content == bytes(4) and r.headers["Content-Range"] == f"bytes {size - 4}-{size - 1}/{size}"
    r = get(url, f"bytes={size}-")
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{size}"
    r = get(url)
    assert r.status_code == 200 and r.content == header + bytes(TINY_DATA)
    # Zero bytes of a 10 GB virtual file are generated on the fly: a range of it costs only the range.
    r = get(_url(repos, "test-org/big", "huge.safetensors"), f"bytes={10 * GiB - 3}-{10 * GiB + 100}")
    assert r.status_code == 206 and r.content == bytes(3)
    assert get(_url(repos, "test-org/big", "small.bin")).content == bytes(1000)
    assert repos.bytes_sent == sum(len(r.content) for r in got)


# --------------------------------------------------------------------------- safetensors metadata and tree


def test_get_safetensors_metadata_single_file(repos):
    meta = HfApi().get_safetensors_metadata("test-org/tiny")
    assert not meta.sharded and meta.parameter_count == {"BF16": 256, "F32": 256}
    assert meta.files_metadata["model.safetensors"].tensors["lm_head.weight"].shape == [32, 8]
    assert [(r.method, r.path, r.headers.get("range")) for r in repos.requests] == [
        ("HEAD", "/test-org/tiny/resolve/main/model.safetensors", None),
        ("GET", "/test-org/tiny/resolve/main/model.safetensors", "bytes=0-100000"),
    ]


def test_long_header_needs_a_second_range(repos):
    meta = HfApi().get_safetensors_metadata("test-org/long-header")
    assert len(meta.files_metadata["model.safetensors"].tensors) == 3000
    n = len(safetensors_header({f"layer.{i}.weight": ("F16", [8, 8]) for i in range(3000)})) - 8
    assert [r.headers.get("range") for r in repos.requests if r.method == "GET"] == [
        "bytes=0-100000",
        f"bytes=8-{n + 7}",
    ]
    assert repos.bytes_sent == 100001 + n


def test_get_safetensors_metadata_sharded(repos):
    meta = HfApi().get_safetensors_metadata("test-org/sharded")
    assert meta.sharded and meta.parameter_count == {"F16": 20, "BF16": 16}
    assert meta.weight_map == SHARD_INDEX["weight_map"] and meta.metadata == SHARD_INDEX["metadata"]
    assert sorted((r.method, r.path) for r in repos.requests) == sorted(
        [
            ("HEAD", "/test-org/sharded/resolve/main/model.safetensors"),
            ("HEAD", "/test-org/sharded/resolve/main/model.safetensors.index.json"),  # file_exists
            ("HEAD", "/test-org/sharded/resolve/main/model.safetensors.index.json"),  # hf_hub_download
            ("GET", "/test-org/sharded/resolve/main/model.safetensors.index.json"),
            ("GET", "/test-org/sharded/resolve/main/model-00001-of-00002.safetensors"),
            ("GET", "/test-org/sharded/resolve/main/model-00002-of-00002.safetensors"),
        ]
    )
    assert repos.requests[0].status == 404


def test_get_sharded_safetensors_metadata_in_one_request(repos):
    api = HfApi()
    meta = api.get_sharded_safetensors_metadata("test-org/sharded")
    assert meta.parameter_count == {"F16": 20, "BF16": 16} and meta.weight_map == SHARD_INDEX["weight_map"]
    assert [r.path for r in repos.requests] == [
        "/api/models/test-org/sharded/safetensors-metadata/model.safetensors.index.json"
    ]
    raw = get_session().get(repos.requests[0].path.join([repos.url, ""])).json()
    assert raw["index"] == {"metadata": SHARD_INDEX["metadata"]}
    assert raw["headers"]["model-00002-of-00002.safetensors"]["c.weight"]["data_offsets"] == [0, 32]
    sub = api.get_sharded_safetensors_metadata(
        "test-org/sharded", filename="sub/model.safetensors.index.json"
    )
    assert set(sub.files_metadata) == set(SHARDS)
    with pytest.raises(EntryNotFoundError):
        api.get_sharded_safetensors_metadata("test-org/tiny")
    with pytest.raises(HfHubHTTPError) as exc:  # a shard whose header is not JSON: 500, the shard named
        api.get_sharded_safetensors_metadata("test-org/bad-shard")
    assert exc.value.response.status_code == 500
    assert "model-00001-of-00002.safetensors" in exc.value.server_message


def test_sharded_metadata_answers_follow_the_content(repos, make_repo):
    """The server keeps each answer by content (index + shard headers): a second copy of a repo gets the
    same bytes, and a repo rewritten in place gets a new answer after reset()."""
    url = "{}/api/models/{}/safetensors-metadata/model.safetensors.index.json"
    make_repo(
        "copy-org/sharded",
        files={"config.json": CONFIG, "model.safetensors.index.json": SHARD_INDEX},
        safetensors=SHARDS,
    )
    first = get_session().get(url.format(repos.url, "test-org/sharded")).content
    assert get_session().get(url.format(repos.url, "copy-org/sharded")).content == first
    wider = {**SHARDS, "model-00002-of-00002.safetensors": {"c.weight": ("BF16", [4, 8])}}
    make_repo(
        "test-org/sharded",
        files={"config.json": CONFIG, "model.safetensors.index.json": SHARD_INDEX},
        safetensors=wider,
    )
    repos.reset()
    again = get_session().get(url.format(repos.url, "test-org/sharded")).json()
    assert again["headers"]["model-00002-of-00002.safetensors"]["c.weight"]["shape"] == [4, 8]


def test_list_repo_tree_paginates(repos):
    repos.page_size = 2
    files = list(HfApi().list_repo_tree("test-org/sharded", recursive=True))
    assert [f.path for f in files] == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "sub",
        "sub/model-00001-of-00002.safetensors",
        "sub/model-00002-of-00002.safetensors",
        "sub/model.safetensors.index.json",
    ]
    assert [type(f).__name__ for f in files].count("RepoFolder") == 1
    assert files[1].lfs.size == files[1].size and files[0].lfs is None
    assert [r.query.get("cursor") for r in repos.requests] == [None, ["2"], ["4"], ["6"]]
    assert all(r.query["recursive"] == ["true"] for r in repos.requests)
    repos.page_size = 1000
    top = [f.path for f in HfApi().list_repo_tree("test-org/sharded")]
    assert top == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "sub",
    ]
    assert len(list(HfApi().list_repo_tree("test-org/sharded", path_in_repo="sub"))) == 3
    with pytest.raises(EntryNotFoundError):
        list(HfApi().list_repo_tree("test-org/sharded", path_in_repo="nope"))


def test_unknown_routes_are_404(repos):
    assert get_session().get(f"{repos.url}/api/agent-harnesses").status_code == 404
    assert get_session().get(f"{repos.url}/api/whoami-v2").status_code == 404
    assert get_session().post(f"{repos.url}/api/models/test-org/tiny", json={}).status_code == 404


# --------------------------------------------------------------------------- observability


def test_bytes_sent_counts_bodies_exactly_and_connections_are_reused(repos):
    a = get_session().get(f"{repos.url}/api/models/test-org/tiny")
    b = get_session().get(_url(repos, "test-org/tiny", "config.json"))
    c = get_session().get(f"{repos.url}/api/models/test-org/nope")
    get_session().head(_url(repos, "test-org/tiny", "config.json"))
    assert repos.bytes_sent == len(a.content) + len(b.content) + len(c.content)
    assert [r.bytes_sent for r in repos.requests] == [len(a.content), len(b.content), len(c.content), 0]
    assert len({r.connection for r in repos.requests}) == 1  # keep-alive: one pooled connection
    repos.reset()
    assert repos.requests == [] and repos.bytes_sent == 0


def test_latency_is_slept_before_each_answer(repos):
    repos.latency = 0.05
    start = time.monotonic()
    get_session().get(f"{repos.url}/api/models/test-org/tiny")
    assert time.monotonic() - start >= 0.05


# --------------------------------------------------------------------------- faults


def test_status_fault_503_then_ok_is_retried_by_http_backoff(repos, no_sleep):
    repos.add_fault(r"/api/models/test-org/tiny$", "status", times=2, status=503)
    r = http_backoff("GET", f"{repos.url}/api/models/test-org/tiny")
    assert r.status_code == 200 and r.json()["id"] == "test-org/tiny"
    assert [x.status for x in repos.requests] == [503, 503, 200]
    assert no_sleep == [1, 2]


def test_status_fault_429_retry_after_is_honoured(repos, no_sleep):
    repos.add_fault("config.json", "status", status=429, headers={"Retry-After": "1"}, body="slow down")
    r = http_backoff("GET", _url(repos, "test-org/tiny", "config.json"))
    assert r.status_code == 200 and no_sleep == [2.0]  # Retry-After + 1 s
    assert repos.requests[0].bytes_sent == len(b"slow down")


def test_status_fault_without_backoff_raises(repos):
    repos.add_fault("/api/models/", "status", status=500)
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi().model_info("test-org/tiny")
    assert exc.value.response.status_code == 500
    assert HfApi().model_info("test-org/tiny").id == "test-org/tiny"  # times=1: the next one is fine


def test_hf_hub_download_retries_a_failed_head_only_through_its_fallback(repos, no_sleep):
    # huggingface_hub 2.4: a first HEAD without retries; on a 5xx with nothing cached, a second HEAD
    # through http_backoff (which retries); the GET itself retries only 408/429.
    repos.add_fault("config.json", "status", method="HEAD", times=2, status=503)
    path = hf_hub_download("test-org/tiny", "config.json")
    assert json.loads(Path(path).read_text()) == CONFIG
    assert [(r.method, r.status) for r in repos.requests] == [
        ("HEAD", 503),
        ("HEAD", 503),
        ("HEAD", 200),
        ("GET", 200),
    ]
    assert no_sleep == [1]
    repos.add_fault("model.safetensors", "status", method="GET", status=503)
    with pytest.raises(HfHubHTTPError) as exc:
        hf_hub_download("test-org/tiny", "model.safetensors")
    assert exc.value.response.status_code == 503


def test_reset_fault(repos, no_sleep):
    repos.add_fault("config.json", "reset")
    with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)):
        get_session().get(_url(repos, "test-org/tiny", "config.json"))
    repos.add_fault("config.json", "reset")
    r = http_backoff("GET", _url(repos, "test-org/tiny", "config.json"))  # NetworkError is retried
    assert r.status_code == 200
    assert [x.status for x in repos.requests] == [0, 0, 200] and no_sleep == [1]


def test_delay_fault_makes_the_client_time_out(repos):
    repos.add_fault("config.json", "delay", seconds=0.3)
    with pytest.raises(httpx2.ReadTimeout):
        get_session().get(_url(repos, "test-org/tiny", "config.json"), timeout=0.05)
    assert repos.wait_idle(2.0)
    assert get_session().get(_url(repos, "test-org/tiny", "config.json"), timeout=1).status_code == 200


def test_truncate_fault(repos):
    repos.add_fault("model.safetensors", "truncate", keep=10, method="GET")
    with pytest.raises(httpx2.RemoteProtocolError):
        get_session().get(_url(repos, "test-org/tiny", "model.safetensors"))
    assert repos.wait_idle(2.0)
    assert repos.bytes_sent == 10 and repos.requests[0].status == 200
    r = get_session().get(_url(repos, "test-org/tiny", "model.safetensors"))
    assert r.status_code == 200 and len(r.content) == len(safetensors_header(TINY_TENSORS)) + TINY_DATA


def test_ignore_range_fault_counts_only_what_was_written(repos):
    repos.add_fault("huge.safetensors", "ignore_range", method="GET")
    url = _url(repos, "test-org/big", "huge.safetensors")
    with get_session().stream("GET", url, headers={"Range": "bytes=0-100000"}) as r:
        assert r.status_code == 200 and "Content-Range" not in r.headers
        assert r.headers["Content-Length"] == str(10 * GiB)
        first = next(r.iter_raw(4096))
    assert first[:8] == safetensors_header(TINY_TENSORS)[:8]
    assert repos.wait_idle(5.0)
    record = repos.requests[0]
    assert record.status == 200 and 4096 <= record.bytes_sent == repos.bytes_sent < 16 * (1 << 20)


def test_redirect_to_another_host_drops_the_token(repos, hub_on, make_repo):
    other = hub_on(make_repo.root, host="127.0.0.2", point=False)
    repos.add_fault("config.json", "redirect", times=2, location=f"{other.url}{{path}}")
    # httpx2 (follow_redirects=True in huggingface_hub's session) strips Authorization off-origin.
    r = get_session().get(
        _url(repos, "test-org/tiny", "config.json"), headers={"Authorization": f"Bearer {FIXTURE_TOKEN}"}
    )
    assert r.status_code == 200 and json.loads(r.content) == CONFIG
    assert repos.requests[0].status == 302 and repos.requests[0].headers["authorization"]
    assert "authorization" not in other.requests[0].headers
    # hf_hub_download reads the metadata off the 302 of its HEAD and GETs the target without the token.
    path = hf_hub_download("test-org/tiny", "config.json", token=FIXTURE_TOKEN)
    assert json.loads(Path(path).read_text()) == CONFIG
    assert [(r.method, r.status) for r in repos.requests] == [("GET", 302), ("HEAD", 302)]
    assert [(r.method, "authorization" in r.headers) for r in other.requests] == [
        ("GET", False),
        ("GET", False),
    ]


def test_fault_arguments_are_checked(repos):
    with pytest.raises(ValueError):
        repos.add_fault("x", "explode")
    with pytest.raises(ValueError):
        repos.add_fault("x", "redirect", location="http://example.com/")
    with pytest.raises(ValueError):
        HubServer(repos.root, host="0.0.0.0")
    fault = repos.add_fault("config.json", "status", times=1, method="GET", status=502)
    assert get_session().head(_url(repos, "test-org/tiny", "config.json")).status_code == 200
    assert get_session().get(_url(repos, "test-org/tiny", "config.json")).status_code == 502
    assert fault.hits == 1 and fault.remaining == 0


def test_stop_does_not_wait_for_a_delayed_request(make_repo, hub_on):
    make_repo("test-org/tiny", files={"config.json": CONFIG})
    server = hub_on(make_repo.root)
    server.add_fault("config.json", "delay", seconds=30)
    errors = []

    def _get():
        try:
            get_session().get(_url(server, "test-org/tiny", "config.json"), timeout=5)
        except httpx2.HTTPError as exc:
            errors.append(exc)

    t = threading.Thread(target=_get)
    t.start()
    while not server.requests:
        time.sleep(0.01)
    start = time.monotonic()
    server.stop()
    t.join(2)
    assert time.monotonic() - start < 1.0 and not t.is_alive() and errors


def test_session_fixture_serves_the_fixture_hub(hub):
    assert hub.url.startswith("http://127.0.0.1:")
    assert hub.requests == [] and hub.latency == 0
    assert get_session().get(f"{hub.url}/api/models/no-such/repo").status_code == 404


def test_command_line_prints_the_endpoint_and_stops_on_sigterm(make_repo):
    make_repo("test-org/tiny", files={"config.json": CONFIG})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubvram.testing",
            "--root",
            str(make_repo.root),
            "--port",
            "0",
            "--latency",
            "0.01",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("HF_ENDPOINT=http://127.0.0.1:")
        endpoint = line.split("=", 1)[1]
        assert httpx2.get(f"{endpoint}/test-org/tiny/resolve/main/config.json").json() == CONFIG
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
