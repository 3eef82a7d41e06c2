"""The reader against the test Hub: which requests, how many, and never a byte of tensor data."""

from __future__ import annotations

import json

import pytest
from reads import FIXTURES, read, safetensors_requests

from hubvram import errors
from hubvram.fetch.load import load_snapshot
from hubvram.model import facts_from_snapshot
from hubvram.testing import FIXTURE_TOKEN


def test_llama2_reads_exact_f16_count_and_only_headers(hub):
    snapshot, facts = read("meta-llama/Llama-2-7b-hf")
    assert facts.parameters.by_dtype == {"F16": 6_738_415_616}
    assert facts.parameters.buffers_by_dtype == {"F32": 2048}  # rotary inv_freq, not parameters
    assert facts.parameters.stored_total == 6_738_417_664  # what the Hub's summary counts
    assert facts.weights_bytes == 6_738_415_616 * 2
    assert facts.sha == "0e7c75d2b9ecf1e7882701520d1193ac48e855c6"
    # Nothing but config.json, the listing and the headers: no request reaches tensor data.
    files = FIXTURES / "hub" / "meta-llama" / "Llama-2-7b-hf" / "files"
    headers = sum(p.stat().st_size for p in files.glob("*.safetensors.header"))
    for record in hub.requests:
        assert not record.path.endswith((".bin", ".py")), record.path
        if record.path.endswith(".safetensors") and record.status != 404:
            assert record.bytes_sent <= (files / (record.path.rsplit("/", 1)[-1] + ".header")).stat().st_size
    assert hub.bytes_sent < headers + 20_000  # the headers, config.json, the file listing


def test_single_file_repo_costs_three_requests_and_no_tensor_bytes(hub):
    snapshot, facts = read("Qwen/Qwen3-0.6B")
    assert len(hub.requests) == 3
    header = snapshot.weight_files[0].header_bytes
    assert sum(r.bytes_sent for r in safetensors_requests(hub)) == header
    assert [r.headers["range"] for r in safetensors_requests(hub)] == ["bytes=0-7", f"bytes=8-{header - 1}"]


def test_sharded_repo_on_a_tag_reads_index_and_each_shard(hub):
    snapshot, facts = read("hubvram-quirks/sharded-small", revision="v1.0")
    assert len(snapshot.weight_files) == 3
    assert any(r.path.endswith("model.safetensors.index.json") for r in hub.requests)
    hub.reset()
    load_snapshot("hubvram-quirks/sharded-small", token=FIXTURE_TOKEN, refresh=True)
    assert any("safetensors-metadata" in r.path for r in hub.requests)  # main: one request for all shards


def test_sharded_repo_on_main_asks_for_every_header_while_the_listing_is_read(hub, monkeypatch):
    """Two round trips after config.json, not three: the one-request answer is already on its way
    when the listing is asked for (the listing waits here until the server has that request)."""
    import time

    from hubvram.fetch import hub as hubmod

    real = hubmod.HubReader.list_files

    def listing_once_the_answer_was_asked(reader):
        for _ in range(500):  # 5 s at most; without the overlap it never comes
            if any("/safetensors-metadata/" in r.path for r in hub.requests):
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the listing was read before the shard headers were asked for")
        return real(reader)

    monkeypatch.setattr(hubmod.HubReader, "list_files", listing_once_the_answer_was_asked)
    snapshot, facts = read("mistralai/Mistral-7B-v0.1")
    assert facts.parameters.total == 7_241_732_096
    assert len(hub.requests) == 4  # config.json + probe, then listing + every shard header


def test_a_repo_without_a_root_index_drops_the_early_answer(hub):
    """.bin only: the guess is dropped as soon as the listing shows no root index; its retries
    (a failing route, Retry-After 1 s, three times) never delay the read nor go on behind it."""
    hub.add_fault("/safetensors-metadata/", "status", status=503, headers={"Retry-After": "1"}, times=3)
    snapshot, facts = read("tiiuae/falcon-7b")
    assert snapshot.weights_format == "pytorch" and facts.parameters.total == 7_217_189_760
    hub.wait_idle(5)
    early = [r for r in hub.requests if "/safetensors-metadata/" in r.path]
    # asked once and never retried, or not even asked when the listing came first
    assert [r.status for r in early] in ([503], [])


@pytest.mark.parametrize("status", [404, 500])
def test_a_hub_without_the_one_request_route_reads_the_index_and_each_shard(hub, status, monkeypatch):
    """A mirror or an older Hub may not offer safetensors-metadata (404), or fail it for good (500)."""
    from hubvram.fetch import limits

    monkeypatch.setattr(limits, "RETRY_BASE_WAIT", 0.01)  # the 500s are retried first
    hub.add_fault("/safetensors-metadata/", "status", status=status, times=99)
    snapshot, facts = read("mistralai/Mistral-7B-v0.1")
    assert facts.parameters.total == 7_241_732_096
    assert any(r.path.endswith("model.safetensors.index.json") for r in hub.requests)
    assert len(safetensors_requests(hub)) == 1 + 2 * 3  # the root probe, then 2 exact ranges per shard


def test_custom_code_is_read_never_requested(hub):
    _, facts = read("hubvram-quirks/auto-map")
    assert facts.architecture.uses_custom_code
    assert not any(r.path.endswith(".py") for r in hub.requests)


def test_local_directory(tmp_path):
    snapshot = load_snapshot(str(FIXTURES / "local" / "tiny-llama"))
    facts = facts_from_snapshot(snapshot)
    assert snapshot.source == "local"
    config = json.loads((FIXTURES / "local" / "tiny-llama" / "config.json").read_text())
    assert facts.architecture.num_layers == config["num_hidden_layers"]
    assert facts.parameters.total > 0


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "text"),
    [
        ("nobody/nothing", {}, errors.ModelNotFound, "was not found on the Hub"),
        ("hubvram-quirks/gated", {"token": False}, errors.GatedModel, "hf auth login"),
        ("hubvram-quirks/gated", {"token": "hf_wrong"}, errors.GatedModel, "request access"),
        ("hubvram-quirks/private", {"token": False}, errors.ModelNotFound, "hf auth login"),
        ("hubvram-quirks/sharded-small", {"revision": "v9"}, errors.RevisionNotFound, "no revision 'v9'"),
        ("hubvram-hostile/json-array", {}, errors.MalformedHeader, "not an object"),
        ("hubvram-hostile/header-3gb", {}, errors.MalformedHeader, "cap"),
        ("not a repo!", {}, errors.UsageError, "not a Hub repo id"),
    ],
)
def test_errors_are_one_clear_line(hub, model, kwargs, error, text):
    kwargs.setdefault("token", FIXTURE_TOKEN)
    with pytest.raises(error) as info:
        load_snapshot(model, **kwargs)
    assert text in str(info.value)
    assert "\n" not in str(info.value)
    assert FIXTURE_TOKEN not in str(info.value)


def test_no_config_is_a_clear_error(hub):
    snapshot = load_snapshot("hubvram-quirks/no-config", token=FIXTURE_TOKEN)
    with pytest.raises(errors.MalformedConfig, match="has no config.json"):
        facts_from_snapshot(snapshot)
