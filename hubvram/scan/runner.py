"""Batch scans: many models at once, one row each, concurrently and from the cache when it can.

    rows = scan(read_model_list(text), RunOptions(gpus=(find_gpu("RTX 4090"),)), concurrency=16)

Concurrency: ``concurrency`` models are read at once on one bounded thread pool, and the reads
*inside* a model (config.json beside the first header bytes, the headers of several files) run on a
second pool of the same size. Two pools, not one: a model task waits for its inner reads, so if they
queued behind other model tasks on a saturated pool nothing would ever finish. Inner tasks never
wait on anything themselves, so neither pool can deadlock. All requests share huggingface_hub's one
HTTP session (one connection pool); at most 2 x ``concurrency`` requests are in flight. With
``worker_processes`` (as `hubvram scan` runs), answers of 1 MB and more are decoded in spawned
processes (fetch.workers.DecoderPool), so that decoding DeepSeek-V3's 11.6 MB does not stall the rest.

Rows are yielded in completion order (JSONL streams them as they come); ``ScanRow.index`` is the
model's position in the input, and ``in_input_order`` sorts them back for tables.

Cache: beside hubvram's snapshot cache (config + header summaries by commit, fetch/cache.py), in the same
file per repo, finished rows are kept by commit sha, options and a hash of the code that computes them
(row_cache.RowCache). A rescan of unchanged repos reads one small file per model: no request, no header
re-parse, no estimate. `refresh=True` bypasses both.

A failure is a row with ``error`` set (the one-line HubVramError message), never an exception:
the scan goes on. Ctrl-C stops submitting new models; the caller writes what finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from ..errors import HubVramError
from ..fetch.load import load_snapshot
from ..fetch.workers import DecoderPool
from ..model import facts_from_snapshot
from ..report import RunOptions, Transfer, build_report
from .row_cache import RowCache
from .rows import ScanRow, row_from_report

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 64


def scan(
    models: Iterable[tuple[str, str | None]],
    options: RunOptions,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    refresh: bool = False,
    token: str | None = None,
    on_result: Callable[[ScanRow], None] | None = None,
    worker_processes: bool = False,
    describe: Callable[[HubVramError], str] = str,
) -> Iterator[ScanRow]:
    """Read and estimate every model, `concurrency` at a time; yield rows in completion order.

    A model whose row for these options is cached (same commit, same hubvram code) is answered at
    once, without a request. `on_result` is called with each row (in the caller's thread) just
    before it is yielded. Closing the generator, or an exception such as KeyboardInterrupt while
    it waits, stops submitting and cancels the models not yet started; those in flight stop at
    their next request, body chunk or retry wait (a decode already in a worker runs out, < 0.5 s)
    and are dropped.

    `worker_processes=True` decodes DeepSeek-size answers in spawned processes (fetch/workers.py), as
    `hubvram scan` does. Python's spawn imports the caller's main module in each worker, so only
    pass it from a script whose work sits under `if __name__ == "__main__":`.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1..{MAX_CONCURRENCY}, not {concurrency}")
    rows = RowCache(options, options.held_against())
    model_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="hubvram-scan")
    inner_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="hubvram-read")
    decoders = DecoderPool(None if worker_processes else 0)  # spawned on the first large answer
    stop = threading.Event()  # set when the scan ends early: reads in flight give up at once
    running: dict[Future[ScanRow], int] = {}  # future -> input position

    def finished() -> Iterator[ScanRow]:
        """Rows of the models that finished since the last call (waits for at least one)."""
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=running.__getitem__):
            del running[future]
            yield future.result()  # re-raises a KeyboardInterrupt of a worker, after the rows before it

    def emit(row: ScanRow) -> ScanRow:
        if on_result is not None:
            on_result(row)
        return row

    try:
        for index, (model, revision) in enumerate(models):
            row = None if refresh else rows.lookup(model, revision, index)
            if row is not None:
                yield emit(row)
                continue
            job = (
                model,
                revision,
                options,
                index,
                token,
                refresh,
                inner_pool,
                rows,
                decoders,
                stop,
                describe,
            )
            running[model_pool.submit(scan_one, *job)] = index
            # Keep the pool busy plus a short queue; submitting lazily lets Ctrl-C stop at once.
            while len(running) >= 2 * concurrency:
                for row in finished():
                    yield emit(row)
        while running:
            for row in finished():
                yield emit(row)
    finally:
        stop.set()
        for future in running:
            future.cancel()
        model_pool.shutdown(wait=False, cancel_futures=True)
        inner_pool.shutdown(wait=False, cancel_futures=True)
        decoders.close()


def scan_one(
    model: str,
    revision: str | None,
    options: RunOptions,
    index: int = 0,
    token: str | None = None,
    refresh: bool = False,
    pool: ThreadPoolExecutor | None = None,
    rows: RowCache | None = None,
    decoders: DecoderPool | None = None,
    stop: threading.Event | None = None,
    describe: Callable[[HubVramError], str] = str,
) -> ScanRow:
    """One model's row, by the path `hubvram MODEL` takes (snapshot -> facts -> report), without the
    search for the largest batch and context unless the serving columns are asked for; every failure
    becomes an error row (never an exception)."""
    start = time.perf_counter()
    try:
        snapshot = load_snapshot(
            model,
            revision=revision,
            token=token,
            pool=pool,
            refresh=refresh,
            decoders=decoders,
            cancel=stop,
            variant=options.settings.variant,
        )
        row = rows.get(model, revision, snapshot.sha, index) if rows and snapshot.cached else None
        if row is None:
            facts = facts_from_snapshot(snapshot)
            serving = options.serving_columns  # transformers' answers need the batch and context search
            report = build_report(
                facts, options, Transfer.of(snapshot), search_limits=serving, serving=serving
            )
            row = row_from_report(report, model, revision, index, options)
            if rows is not None:
                rows.store(row)
        return replace(
            row,
            cached=snapshot.cached,
            requests=snapshot.requests,
            bytes=snapshot.bytes_received,
            seconds=time.perf_counter() - start,
        )
    except HubVramError as exc:
        message = describe(exc)
    except Exception as exc:  # a bug on one model must not end a scan of hundreds
        message = f"internal error: {type(exc).__name__}: {exc}"
    return ScanRow(
        model=model,
        revision=revision,
        index=index,
        seconds=time.perf_counter() - start,
        error=" ".join(message.split()) or "unknown error",
    )
