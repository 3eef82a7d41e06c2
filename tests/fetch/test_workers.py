"""Worker processes for large safetensors-metadata answers (hubvram/workers.py).

A worker must give exactly what in-process decoding gives (the same checked tensors, the same one-line
error, the same "not an answer"), and anything wrong with the pool itself must fall back to decoding
in-process. These tests spawn real worker processes (about 0.3 s each).
"""

from __future__ import annotations

import json
import struct
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubvram import scan as scanner
from hubvram.cli import cli
from hubvram.errors import Cancelled, MalformedHeader
from hubvram.fetch import limits, workers
from hubvram.fetch.safetensors import sharded_files
from hubvram.report import RunOptions

QWEN3_MOE = Path(__file__).resolve().parents[2] / "fixtures" / "hub" / "Qwen" / "Qwen3-30B-A3B" / "files"


def metadata_answer(headers: dict) -> bytes:
    """A safetensors-metadata answer as the Hub (and tests/hubserver.py) writes it."""
    return json.dumps({"index": {"metadata": {}}, "headers": headers}, separators=(",", ":")).encode()


def fixture_headers(files: Path) -> dict:
    headers = {}
    for path in sorted(files.glob("*.safetensors.header")):
        raw = path.read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        headers[path.name.removesuffix(".header")] = json.loads(raw[8 : 8 + length])
    return headers


@pytest.fixture
def qwen3_moe_answer() -> bytes:
    if not QWEN3_MOE.is_dir():
        pytest.skip("fixtures/hub not generated")
    return metadata_answer(fixture_headers(QWEN3_MOE))


def test_a_worker_returns_the_same_checked_tensors(qwen3_moe_answer):
    assert len(qwen3_moe_answer) >= limits.OFFLOAD_BYTES  # the size a scan hands to a worker
    with workers.DecoderPool(workers=1) as pool:
        offloaded = pool.sharded_files(qwen3_moe_answer)
        assert pool._executor is not None  # it really ran in a worker process
    in_process = sharded_files(qwen3_moe_answer)
    assert offloaded == in_process  # the same files: names, metadata, bytes and summaries
    # A worker sends back what the estimate needs of each header (its summary), not every tensor
    assert sum(f.tensor_count for f in offloaded) == 18_867  # 48 layers x 393 + embed, norm, lm_head
    assert sum(len(f.tensors) for f in in_process) == 18_867
    group, tensor = offloaded[0].summary.groups[0], offloaded[0].summary.named[0]
    assert type(group) is type(in_process[0].summary.groups[0]) and group == in_process[0].summary.groups[0]
    assert type(tensor) is type(in_process[0].tensors[0]) and tensor in in_process[0].tensors


def test_a_malformed_answer_fails_the_same_way_in_a_worker():
    answer = metadata_answer(
        {"model-00001-of-00002.safetensors": {"w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 7]}}}
    )
    with pytest.raises(MalformedHeader) as in_process:
        sharded_files(answer)
    with workers.DecoderPool(workers=1) as pool, pytest.raises(MalformedHeader) as offloaded:
        pool.sharded_files(answer)
    assert str(offloaded.value) == str(in_process.value)
    assert "tensor 'w' spans 7 bytes but F16[2, 2] needs 8" in str(offloaded.value)


def test_something_else_than_an_answer_is_none_in_a_worker_too():
    with workers.DecoderPool(workers=1) as pool:
        assert pool.sharded_files(b'{"headers": 3}') is None
        assert pool.sharded_files(b"not json") is None


def test_a_pool_that_cannot_start_decodes_in_process(monkeypatch, qwen3_moe_answer):
    class CannotSpawn:
        def __init__(self, *args, **kwargs):
            raise OSError("no semaphores here")

    monkeypatch.setattr(workers, "ProcessPoolExecutor", CannotSpawn)
    pool = workers.DecoderPool(workers=2)
    assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
    assert pool._broken and pool._executor is None


def test_a_pool_whose_worker_fails_decodes_in_process(monkeypatch, qwen3_moe_answer):
    class DeadWorker:
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, *args, **kwargs):
            raise RuntimeError("A process in the process pool was terminated abruptly")

        def shutdown(self, *args, **kwargs):
            pass

    monkeypatch.setattr(workers, "ProcessPoolExecutor", DeadWorker)
    pool = workers.DecoderPool(workers=1)
    assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
    assert pool._broken  # and it is not tried again
    pool.close()


def test_a_worker_that_does_not_answer_in_time_is_given_up(monkeypatch, qwen3_moe_answer):
    monkeypatch.setattr(workers, "WORKER_TIMEOUT", 1e-6)  # no worker answers that fast
    pool = workers.DecoderPool(workers=1)
    assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
    assert pool._broken and pool._executor is None  # decoded in-process; the worker is left to finish
    pool.close()


def test_no_spare_core_means_no_worker(monkeypatch, qwen3_moe_answer):
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 1)
    pool = workers.DecoderPool()
    assert pool.workers == 0
    assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
    assert pool._executor is None


@pytest.fixture
def spawned(monkeypatch):
    """Every answer handed to a DecoderPool, True when a worker process took it; all answers count."""
    monkeypatch.setattr(limits, "OFFLOAD_BYTES", 0)
    took = []
    real = workers.DecoderPool._started

    def started(self):
        executor = real(self)
        took.append(executor is not None)
        return executor

    monkeypatch.setattr(workers.DecoderPool, "_started", started)
    real_give_up = workers.DecoderPool._give_up

    def give_up(self, wait=False):
        if not self._closed:  # not the end of the scan: a worker died, hung or could not start
            took.append("gave up")  # decoded in-process after all
        real_give_up(self, wait)

    monkeypatch.setattr(workers.DecoderPool, "_give_up", give_up)
    return took


def test_scan_counts_offloaded_answers_exactly(hub, tmp_path, spawned):
    """Every sharded answer of `hubvram scan` goes through a worker: the counts are the published ones."""
    listing = tmp_path / "models.txt"
    listing.write_text("Qwen/Qwen3-30B-A3B\nQwen/Qwen2.5-7B\nhubvram-quirks/sharded-small\n")
    result = CliRunner().invoke(cli, ["scan", str(listing), "--format", "json", "--concurrency", "3"])
    assert result.exit_code == 0, result.output
    counts = {row["model"]: row["parameters"] for row in json.loads(result.stdout)}
    assert counts == {
        "Qwen/Qwen3-30B-A3B": 30_532_122_624,  # published (fixtures/PARAM_COUNTS.tsv)
        "Qwen/Qwen2.5-7B": 7_615_616_512,
        "hubvram-quirks/sharded-small": 1_705_216,
    }
    assert spawned == [True, True, True]  # each answer went to a worker, and none fell back


def test_the_library_scan_spawns_nothing_unless_asked(hub, spawned):
    rows = list(scanner.scan([("hubvram-quirks/sharded-small", None)], RunOptions()))
    assert rows[0].to_dict()["parameters"] == 1_705_216
    assert spawned == [False]  # decoded in-process: a caller's unguarded script is never re-run


def test_a_closed_pool_decodes_nothing_more(qwen3_moe_answer):
    """After a scan stops, a read still in flight gets Cancelled, not an in-process decode."""
    pool = workers.DecoderPool(workers=1)
    pool.close()
    with pytest.raises(Cancelled):
        pool.sharded_files(qwen3_moe_answer)


def test_an_answer_goes_to_the_worker_in_a_file_removed_after(monkeypatch, qwen3_moe_answer):
    seen = []
    real = workers._spooled

    @contextmanager
    def spooled(raw):
        with real(raw) as path:
            seen.append(path)
            assert path is not None and Path(path).read_bytes() == raw
            yield path

    monkeypatch.setattr(workers, "_spooled", spooled)
    with workers.DecoderPool(workers=1) as pool:
        assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
    assert len(seen) == 1 and not Path(seen[0]).exists()


def test_without_a_temporary_file_the_answer_goes_through_the_pipe(monkeypatch, qwen3_moe_answer):
    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(workers.tempfile, "mkstemp", no_room)
    with workers.DecoderPool(workers=1) as pool:
        assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
        assert not pool._broken


def test_a_file_gone_before_the_worker_reads_it_is_decoded_here(monkeypatch, qwen3_moe_answer, tmp_path):
    @contextmanager
    def vanished(raw):
        yield str(tmp_path / "gone")

    monkeypatch.setattr(workers, "_spooled", vanished)
    assert workers._decode_file(str(tmp_path / "gone")) == ("unread", "FileNotFoundError")
    with workers.DecoderPool(workers=1) as pool:
        assert pool.sharded_files(qwen3_moe_answer) == sharded_files(qwen3_moe_answer)
        assert not pool._broken  # the pool is fine: only that answer was decoded here
