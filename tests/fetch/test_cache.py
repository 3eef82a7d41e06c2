"""hubvram's cache of what it read: by repo and commit, a branch re-checked after a TTL."""

from __future__ import annotations

import json
from pathlib import Path

from hubvram.fetch import cache
from hubvram.fetch.local import read_local

TINY_LLAMA = Path(__file__).resolve().parents[2] / "fixtures" / "local" / "tiny-llama"
SHA = "a" * 40


def test_a_snapshot_comes_back_as_it_was_stored():
    snapshot = read_local(TINY_LLAMA)
    cache.store("org/tiny", SHA, snapshot.cacheable())
    fields = cache.load("org/tiny", SHA)
    assert fields is not None
    assert fields["config"] == snapshot.config
    # What the estimate needs of each header (its summary), not every tensor: equal files, equal summaries
    assert fields["weight_files"] == snapshot.weight_files
    assert fields["weight_files"][0].summary.named == snapshot.weight_files[0].summary.named
    stored: dict[str, int] = {}
    for tensor in snapshot.weight_files[0].tensors:  # the fresh read keeps every tensor
        stored[tensor.dtype] = stored.get(tensor.dtype, 0) + tensor.numel
    assert fields["weight_files"][0].summary.stored_by_dtype() == stored == {"BF16": 106_816}
    assert (fields["weights_format"], fields["components"]) == ("safetensors", ())
    assert cache.load("org/tiny", "b" * 40) is None  # another commit: not cached


def test_a_damaged_entry_is_refetched_not_trusted():
    snapshot = read_local(TINY_LLAMA)
    cache.store("org/tiny", SHA, snapshot.cacheable())
    path = cache.cache_root() / "models--org--tiny.json"
    record = json.loads(path.read_text())
    assert cache.load("org/tiny", SHA) is not None
    for damage in (
        lambda file: file[5][0].__setitem__(4, file[5][0][4] + 1),  # a named tensor's bytes do not fit
        lambda file: file[5][0].__setitem__(4, file[3] + 10**6),  # it ends past the data section
        lambda file: file[4][0].__setitem__(4, file[4][0][4] + 4),  # a group's bytes do not fit
        lambda file: file[4][0].__setitem__(0, "F12"),  # an unknown dtype
        lambda file: file[5].append(file[5][0]),  # a name twice
    ):
        damaged = json.loads(json.dumps(record))
        damage(damaged["snapshots"][SHA]["weight_files"][0])
        path.write_text(json.dumps(damaged))
        assert cache.load("org/tiny", SHA) is None
    path.write_text("{not json")
    assert cache.load("org/tiny", SHA) is None
    path.write_text(json.dumps(record)[:-10])  # a write cut short
    assert cache.load("org/tiny", SHA) is None and cache.cached_sha("org/tiny", None) is None


def test_one_file_per_repo_keeps_the_latest_entries_of_each_kind(monkeypatch):
    snapshot = read_local(TINY_LLAMA).cacheable()
    for i in range(cache.MAX_SNAPSHOTS + 2):
        cache.store("org/tiny", f"{i:040x}", snapshot, revision="main", remember=True)
    record = cache.read_model("org/tiny")
    assert list(record["snapshots"]) == [f"{i:040x}" for i in range(2, cache.MAX_SNAPSHOTS + 2)]
    assert cache.cached_sha("org/tiny", None) == f"{cache.MAX_SNAPSHOTS + 1:040x}"  # the latest ref
    cache.store("org/tiny", f"{2:040x}", snapshot)  # written again: now the latest, kept longest
    assert list(cache.read_model("org/tiny")["snapshots"])[-1] == f"{2:040x}"
    assert [p.name for p in cache.cache_root().iterdir()] == ["models--org--tiny.json"]


def test_a_branch_is_trusted_for_the_ttl_and_a_commit_for_ever(monkeypatch):
    cache.remember_ref("org/tiny", "main", SHA)
    assert cache.cached_sha("org/tiny", None) == SHA  # None means main
    monkeypatch.setenv("HUBVRAM_CACHE_TTL", "0")
    assert cache.cached_sha("org/tiny", "main") is None  # stale: re-check
    assert cache.cached_sha("org/tiny", "main", fresh_only=False) == SHA  # offline uses it anyway
    assert cache.cached_sha("org/tiny", "c" * 40) == "c" * 40  # a commit names itself


def test_the_cache_follows_the_variables_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert cache.cache_root() == tmp_path / "home" / "hub" / "hubvram"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hubcache"))
    assert cache.cache_root() == tmp_path / "hubcache" / "hubvram"
    monkeypatch.setenv("HUBVRAM_CACHE", str(tmp_path / "mine"))
    assert cache.cache_root() == tmp_path / "mine"


def test_an_unwritable_cache_is_skipped_silently(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("HUBVRAM_CACHE", str(blocker / "below-a-file"))
    cache.store("org/tiny", SHA, read_local(TINY_LLAMA).cacheable())  # no exception
    assert cache.load("org/tiny", SHA) is None


def test_a_repo_file_over_the_cap_is_not_written(monkeypatch):
    monkeypatch.setattr(cache, "MAX_RECORD_BYTES", 1000)  # tiny-llama's record takes ~2.5 KB
    cache.store("org/tiny", SHA, read_local(TINY_LLAMA).cacheable(), revision="main", remember=True)
    assert not cache.model_path("org/tiny").exists()
    assert cache.load("org/tiny", SHA) is None  # read again from the Hub next time
