"""Network faults: timeouts, resets, truncation, 5xx, 429, trickles, redirects and cancels, each bounded."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import FIXTURES_HUB
from helpers import (
    QWEN,
    QWEN_PARAMS,
    SECRET,
    one_error_line,
    read_qwen,
    resolve_requests,
    run,
)

from hubvram import errors
from hubvram.fetch import http as httpmod
from hubvram.fetch import limits
from hubvram.fetch.load import load_snapshot
from hubvram.model import facts_from_snapshot


def test_timeout_then_success(hub):
    hub.add_fault(r"config\.json$", "delay", seconds=0.5, times=1)
    assert read_qwen(timeout=0.1).parameters.total == QWEN_PARAMS
    assert len(resolve_requests(hub, "config.json")) == 2


def test_timeout_forever_is_one_line_after_bounded_retries(hub, monkeypatch):
    monkeypatch.setattr(limits, "DEFAULT_TIMEOUT", 0.1)
    hub.add_fault(r"config\.json$", "delay", seconds=0.5, times=99)
    line = one_error_line(run(QWEN))
    assert line == f"hubvram: error: {QWEN}: the Hub did not answer within 0.1 s (after retries)"
    assert len(resolve_requests(hub, "config.json")) == limits.MAX_RETRIES + 1


@pytest.mark.parametrize("target", [r"config\.json$", r"\.safetensors$"])
def test_connection_resets_are_retried(hub, target):
    hub.add_fault(target, "reset", times=2)
    assert read_qwen().parameters.total == QWEN_PARAMS


def test_connection_reset_forever_is_one_line(hub):
    hub.add_fault(r"config\.json$", "reset", times=99)
    line = one_error_line(run(QWEN))
    assert line.startswith(f"hubvram: error: {QWEN}: ")
    assert len(resolve_requests(hub, "config.json")) == limits.MAX_RETRIES + 1


@pytest.mark.parametrize("target", [r"config\.json$", r"\.safetensors$"])
def test_truncated_bodies_are_retried(hub, target):
    hub.add_fault(target, "truncate", keep=4, times=2)
    assert read_qwen().parameters.total == QWEN_PARAMS


def test_truncated_header_read_is_retried_and_still_exact(hub):
    hub.add_fault(r"\.safetensors$", "truncate", keep=8, times=1)  # the 8-byte probe: whole, then closed
    hub.add_fault(r"\.safetensors$", "truncate", keep=100, times=1)  # the header range: cut after 100 bytes
    assert read_qwen().parameters.total == QWEN_PARAMS
    assert [r.bytes_sent for r in resolve_requests(hub, ".safetensors")] == [8, 100, 35_552]


def test_truncated_forever_is_one_line(hub):
    hub.add_fault(r"config\.json$", "truncate", keep=10, times=99)
    line = one_error_line(run(QWEN))
    expected = "the Hub's answers kept breaking off mid-way (after retries); try again later"
    assert line == f"hubvram: error: {QWEN}: {expected}"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_then_success(hub, status):
    hub.add_fault(r"config\.json$", "status", status=status, times=2)
    hub.add_fault(r"\.safetensors$", "status", status=status, times=2)
    assert read_qwen().parameters.total == QWEN_PARAMS
    assert len(resolve_requests(hub, "config.json")) == 3


def test_503_forever_is_one_clear_line_after_bounded_retries(hub):
    hub.add_fault(r"config\.json$", "status", status=503, times=99)
    line = one_error_line(run(QWEN))
    assert line == f"hubvram: error: {QWEN}: the Hub answered HTTP 503; try again later"
    assert len(resolve_requests(hub, "config.json")) == limits.MAX_RETRIES + 1


@pytest.fixture
def sleeps(monkeypatch):
    """hubvram's waits before a retry: recorded, not waited."""
    waits: list[float] = []
    monkeypatch.setattr(
        httpmod.HubTransport, "_pause", lambda http, seconds, stop=None: waits.append(seconds)
    )
    return waits


def test_429_retry_after_is_honoured(hub, sleeps):
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "7"}, times=1)
    assert read_qwen().parameters.total == QWEN_PARAMS
    assert sleeps == [7.0]
    assert [r.status for r in resolve_requests(hub, "config.json")] == [429, 200]


def test_429_retry_after_is_capped(hub, sleeps):
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "86400"}, times=1)
    read_qwen()
    assert sleeps == [limits.MAX_RETRY_WAIT]


def test_429_forever_is_one_line(hub, sleeps):
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "1"}, times=99)
    line = one_error_line(run(QWEN))
    assert line == f"hubvram: error: {QWEN}: the Hub answered HTTP 429; try again later"
    assert sleeps == [1.0] * limits.MAX_RETRIES


def test_an_answer_that_trickles_in_is_cut_at_the_deadline(hub, monkeypatch):
    """Each read arrives well within the timeout, the answer never ends: one line, no retry."""
    monkeypatch.setattr(limits, "REQUEST_DEADLINE", 0.5)
    hub.add_fault(r"config\.json$", "trickle", bytes=8, every=0.1, times=99)
    started = time.monotonic()
    line = one_error_line(run(QWEN))
    assert time.monotonic() - started < 5
    expected = "config.json was still arriving after 0.5 s: the connection or the server is too slow"
    assert line == f"hubvram: error: {QWEN}: {expected}"
    assert len(resolve_requests(hub, "config.json")) == 1


def test_compressed_answers_are_decoded_and_ranges_never_compressed(hub):
    """A CDN may gzip JSON (config, listing, the one-request answer): read decoded, counted as sent.
    A header range asks for identity, so its offsets are the file's own."""
    hub.add_fault(r"config\.json$|/api/models/|/safetensors-metadata/|\.safetensors$", "gzip", times=99)
    snapshot = load_snapshot("mistralai/Mistral-7B-v0.1", use_cache=False)
    assert facts_from_snapshot(snapshot).parameters.total == 7_241_732_096
    assert snapshot.bytes_received == hub.bytes_sent  # the compressed bytes, as they crossed
    answer = next(r for r in hub.requests if "/safetensors-metadata/" in r.path)
    assert answer.bytes_sent < snapshot.header_bytes / 3  # gzip really applied
    single = load_snapshot(QWEN, use_cache=False)
    assert facts_from_snapshot(single).parameters.total == QWEN_PARAMS
    ranges = [r for r in resolve_requests(hub, ".safetensors") if r.status == 206]
    assert len(ranges) == 2 and all(r.headers["accept-encoding"] == "identity" for r in ranges)


def test_a_cancelled_read_stops_waiting_at_once(hub):
    """A scan's Ctrl-C sets the event: a read waiting out a Retry-After gives up without a request."""
    hub.add_fault(r"config\.json$", "status", status=429, headers={"Retry-After": "20"}, times=1)
    cancel, outcome = threading.Event(), []

    def read() -> None:
        try:
            load_snapshot(QWEN, use_cache=False, cancel=cancel)
        except errors.HubVramError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    for _ in range(500):  # until the 429 is answered (5 s at most)
        if any(r.status == 429 for r in resolve_requests(hub, "config.json")):
            break
        time.sleep(0.01)
    cancel.set()
    thread.join(2)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], errors.Cancelled)
    assert [r.status for r in resolve_requests(hub, "config.json")] == [429]


def test_one_failed_read_stops_the_others_of_the_same_model(hub):
    """Shards are read in parallel; when one fails for good, a sibling still trickling in gives up."""
    gone = {"X-Error-Code": "EntryNotFound"}
    hub.add_fault(r"model-00001-of-00003\.safetensors$", "status", status=404, headers=gone, times=99)
    hub.add_fault(r"model-00003-of-00003\.safetensors$", "trickle", bytes=1, every=0.3, times=99)
    line = one_error_line(run("hubvram-quirks/sharded-small", "--revision", "v1.0"))
    assert "model-00001-of-00003.safetensors, which the repo does not have" in line
    hub.wait_idle(5)  # without the cancel, the sibling reads its 8 bytes (2.1 s), then its header
    trickled = resolve_requests(hub, "model-00003-of-00003.safetensors")
    # cut off a byte or two later, or never asked for when the failure came first
    assert len(trickled) <= 1 and all(r.bytes_sent <= 4 for r in trickled)


def test_range_answered_with_the_whole_file_stops_after_the_header(hub):
    hub.add_fault(r"\.safetensors$", "ignore_range", times=99)
    facts = read_qwen()
    assert facts.parameters.total == QWEN_PARAMS
    hub.wait_idle(5)
    # Qwen's only: a cancelled read of the test before may still reach the server on a loaded machine
    weights = [r for r in resolve_requests(hub, ".safetensors") if r.path.startswith(f"/{QWEN}/")]
    assert [r.status for r in weights] == [200, 200]  # both ranges ignored
    header = 35_560  # 8 + the declared 35,552 bytes
    file_size = 1_503_300_328
    sent = sum(r.bytes_sent for r in weights)
    assert sent < header + 1_000_000  # what socket buffers held when the client hung up
    assert sent < file_size / 1000


def test_redirect_to_another_host_does_not_forward_the_token(hub, hub_on):
    other = hub_on(FIXTURES_HUB, host="127.0.0.2", point=False)
    hub.add_fault(
        r"/resolve/.*(config\.json|\.safetensors)$", "redirect", location=other.url + "{path}", times=99
    )
    assert read_qwen(token=SECRET).parameters.total == QWEN_PARAMS
    assert len(other.requests) == 3  # config.json and the two header ranges, all followed
    for record in other.requests:
        assert "authorization" not in record.headers
        assert SECRET not in json.dumps(record.headers)
    assert all(r.headers.get("authorization") == f"Bearer {SECRET}" for r in hub.requests)
    ranges = [r.headers.get("range") for r in other.requests if r.path.endswith(".safetensors")]
    assert ranges == ["bytes=0-7", "bytes=8-35559"]  # the Range survives the redirect, the token does not


def test_redirect_loop_is_one_line(hub):
    hub.add_fault(r"config\.json$", "redirect", location="{path}", times=999)
    line = one_error_line(run(QWEN))
    assert line.startswith(f"hubvram: error: {QWEN}: ")
    assert len(resolve_requests(hub, "config.json")) <= 25  # httpx's redirect limit, not retried
