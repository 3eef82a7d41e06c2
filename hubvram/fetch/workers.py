"""Worker processes for the one CPU-heavy read in a scan: very large safetensors-metadata answers.

DeepSeek-V3's answer is 11.6 MB of JSON naming 92,000 tensors. Decoding and checking it holds the GIL
for ~0.1 s even on the fast path (fast_headers.py), and while it does, a scan's network threads in the
same process barely run. `hubvram scan` hands every answer of limits.OFFLOAD_BYTES or more to a
DecoderPool: at most one spawned process per spare core, started on the first large answer (never for a
scan without one). The answer reaches the worker through a temporary file (one write, one read; the
pool's pipe when none can be written); the worker runs the same checks (safetensors.sharded_files) and
sends back each file's summary (what the estimate needs: safetensors_types.TensorSummary, a few KB), not
its tensors.

Anything that stops the pool (one core only, a platform that cannot spawn, a worker that dies or
hangs) makes it decode in-process from then on: the answer is the same either way, only slower.
"""

from __future__ import annotations

import gc
import marshal
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from pickle import PicklingError

from ..errors import Cancelled, MalformedHeader
from .safetensors import SafetensorsFile, sharded_files
from .safetensors_types import TensorGroup, TensorInfo, TensorSummary

MAX_WORKERS = 4
WORKER_TIMEOUT = 120.0  # seconds for one answer (DeepSeek-V3's takes ~0.4 s): past it, a worker hangs
# What makes the pool, not the answer, fail: a worker that died, hung, could not be spawned (e.g. a
# script without a __main__ guard: RuntimeError), or an argument or result that would not pickle.
_POOL_FAULTS = (BrokenProcessPool, FuturesTimeout, OSError, RuntimeError, PicklingError, EOFError)
_new_tuple = tuple.__new__


def spare_cores() -> int:
    """Cores this process may use, less the one the scan's own threads keep busy."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on macOS or Windows
        usable = os.cpu_count() or 1
    return max(0, min(MAX_WORKERS, usable - 1))


class DecoderPool:
    """Decodes large safetensors-metadata answers in worker processes, or in-process without any."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = spare_cores() if workers is None else max(0, workers)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._broken = self.workers == 0
        self._closed = False

    def sharded_files(self, raw: bytes) -> tuple[SafetensorsFile, ...] | None:
        """safetensors.sharded_files(raw), computed by a worker when one can be had."""
        executor = self._started()
        if executor is not None:
            try:
                with _spooled(raw) as path:
                    job = (_decode_file, path) if path else (_decode_in_worker, raw)
                    with _interrupts_blocked():  # a worker spawned here is born deaf to Ctrl-C (see below)
                        future = executor.submit(*job)
                    outcome, payload = future.result(timeout=WORKER_TIMEOUT)
            except _POOL_FAULTS:  # the pool's fault, not the answer's: decode here from now on
                self._give_up()
            else:
                if outcome == "malformed":
                    raise MalformedHeader(payload)
                if outcome != "unread":  # a worker that could not read the file: decode it here
                    return _files_from_marshal(payload) if outcome == "files" else None
        if self._closed:  # the scan stopped (Ctrl-C): nobody waits for this answer any more
            raise Cancelled("stopped before its headers were decoded")
        return sharded_files(raw)

    def close(self) -> None:
        """Stop the workers (the end of a scan, or Ctrl-C); a decode still running is let finish.

        Not terminated: a worker killed while it writes its answer leaves the result pipe half
        written, and concurrent.futures then waits on it for ever at interpreter exit (seen here).
        Waited for: left to interpreter exit, Python 3.11's concurrent.futures may wake a manager
        thread through a pipe it has just closed, printing "Exception ignored ... Bad file descriptor"
        (seen here, about one scan in fifteen). The wait is what exit would spend anyway (< 0.1 s).
        """
        self._closed = True
        self._give_up(wait=True)

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _give_up(self, wait: bool = False) -> None:
        """Stop using the workers (one died, timed out or could not start): decode in-process now.
        Not waited for here: a worker that hangs would hold the scan."""
        with self._lock:
            executor, self._executor, self._broken = self._executor, None, True
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)  # not terminated: see close()

    def _started(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._executor is None and not self._broken:
                import multiprocessing

                try:
                    # spawn, not fork: forking a process whose threads hold HTTP and import locks can
                    # deadlock the child. Spawning costs ~0.2 s of another core, once per scan.
                    context = multiprocessing.get_context("spawn")
                    self._executor = ProcessPoolExecutor(
                        self.workers, mp_context=context, initializer=_start_worker
                    )
                except (OSError, ValueError, ImportError, NotImplementedError):
                    self._broken = True
            return None if self._broken else self._executor  # closing also breaks it, under this lock


@contextmanager
def _interrupts_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while a worker may be spawned from it.

    A spawned process inherits the signal mask, so a Ctrl-C during its ~0.2 s of start-up (before
    _start_worker ignores SIGINT) stays pending instead of printing a KeyboardInterrupt traceback
    from the child; set to ignored, the pending signal is dropped. The scan's own Ctrl-C is
    unaffected: the kernel hands it to the main thread, which does not block it. No-op on Windows.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _start_worker() -> None:
    """Workers leave Ctrl-C to the scan, which stops them: no traceback from a worker on the terminal.
    They build only acyclic data, which reference counting frees: the cyclic collector stays off
    (see decode.gc_paused for what it costs)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()


@contextmanager
def _spooled(raw: bytes) -> Iterator[str | None]:
    """The answer in a temporary file for the worker to read, removed after; None if one cannot be
    written (then the bytes go through the pipe). One write and one read: 11.6 MB took ~4 ms so, and
    ~25 ms through the pool's pipe in 64 KB pieces, on the worker's critical path."""
    try:
        fd, path = tempfile.mkstemp(prefix="hubvram-answer-")
    except OSError:
        yield None
        return
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            written = True
        except OSError:  # a full disk: the pipe, then
            written = False
        yield path if written else None
    finally:
        with suppress(OSError):
            os.unlink(path)


def _decode_file(path: str) -> tuple[str, object]:
    """Runs in a worker: _decode_in_worker on the bytes of a spooled answer, ("unread", why) if it is gone."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        return "unread", type(exc).__name__
    return _decode_in_worker(raw)


def _decode_in_worker(raw: bytes) -> tuple[str, object]:
    """Runs in a worker: ("files", marshal data), ("none", None) or ("malformed", the message).

    A MalformedHeader goes back as its message: a HubVramError subclass with its own __init__ would
    not survive pickling. marshal, not pickle, for the summaries: it writes and loads plain tuples 3-5x
    faster than pickle writes NamedTuples, and marshal takes exact built-in types only, hence tuple(t).
    """
    try:
        files = sharded_files(raw)
    except MalformedHeader as exc:
        return "malformed", str(exc)
    if files is None:
        return "none", None
    rows = []
    for f in files:
        summary = f.summary
        groups = [tuple(g) for g in summary.groups]
        named = [tuple(t) for t in summary.named]
        rows.append((f.filename, f.header_bytes, f.metadata, summary.data_bytes, groups, named))
    return "files", marshal.dumps(rows)


def _files_from_marshal(payload: bytes) -> tuple[SafetensorsFile, ...]:
    """Rebuild what a worker checked (trusted: our own process wrote it, the checks ran there)."""
    files = []
    for name, size, metadata, data_bytes, groups, named in marshal.loads(payload):
        summary = TensorSummary(
            tuple([_new_tuple(TensorGroup, g) for g in groups]),
            tuple([_new_tuple(TensorInfo, t) for t in named]),
            data_bytes,
        )
        files.append(SafetensorsFile(name, None, metadata, size, summary=summary))
    return tuple(files)
