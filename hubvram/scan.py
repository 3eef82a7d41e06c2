"""Batch scans: many models at once, one row each, concurrently and from the cache when it can.

    rows = scan(read_model_list(text), RunOptions(gpus=("RTX 4090",)), concurrency=16)

Concurrency: ``concurrency`` models are read at once on one bounded thread pool, and the reads
*inside* a model (config.json beside the first header bytes, the headers of several files) run on a
second pool of the same size. Two pools, not one: a model task waits for its inner reads, so if they
queued behind other model tasks on a saturated pool nothing would ever finish. Inner tasks never
wait on anything themselves, so neither pool can deadlock. All requests share huggingface_hub's one
HTTP session (one connection pool); at most 2 x ``concurrency`` requests are in flight. With
``worker_processes`` (as `hubvram scan` runs), answers of 1 MB and more are decoded in spawned
processes (workers.DecoderPool), so that decoding DeepSeek-V3's 11.6 MB does not stall the rest.

Rows are yielded in completion order (JSONL streams them as they come); ``ScanRow.index`` is the
model's position in the input, and ``in_input_order`` sorts them back for tables.

Cache: beside hubvram's snapshot cache (config + parsed headers by commit, cache.py), finished rows
are kept by repo, commit sha, options and a hash of the code that computes them (RowCache). A rescan
of unchanged repos reads one small file per model: no request, no header re-parse, no estimate.
`refresh=True` bypasses both.

A failure is a row with ``error`` set (the one-line HubVramError message), never an exception:
the scan goes on. Ctrl-C stops submitting new models; the caller writes what finished.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HubVramError
from .workers import DecoderPool

if TYPE_CHECKING:
    from .estimate import Estimate
    from .facts import ModelFacts
    from .fit import Fit
    from .gpus import Gpu
    from .report import RunOptions

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 64


@dataclass(frozen=True)
class GpuFit:
    """The first (asked-for) scenario of a model held against one GPU."""

    name: str
    fits: bool
    gpus_needed: int | None  # None: more cards than fit.py searches (64)


@dataclass(frozen=True)
class ScanRow:
    """One model of a scan: its size, its totals per scenario and its fit per GPU, or an error."""

    model: str
    revision: str | None = None
    index: int = 0  # position in the input list
    sha: str | None = None
    parameters: int | None = None
    weights_bytes: int | None = None
    parameters_source: str | None = None  # "safetensors" (read) or "config" (derived from a .bin repo)
    totals: tuple[tuple[str, int], ...] = ()  # scenario key (see scenario_key) -> total bytes
    gpus: tuple[GpuFit, ...] = ()
    cached: bool = False
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.model, self.revision)

    def to_dict(self, scenario_keys: Iterable[str] = (), gpu_names: Iterable[str] = ()) -> dict[str, Any]:
        """Flat, JSON- and CSV-ready; pass the scan's columns so every row has the same keys."""
        totals = dict(self.totals)
        fits = {g.name: g for g in self.gpus}
        keys = list(scenario_keys)
        keys += [key for key in totals if key not in keys]  # a scenario the columns did not foresee
        names = list(gpu_names) or list(fits)
        data: dict[str, Any] = {
            "model": self.model,
            "revision": self.revision,
            "sha": self.sha,
            "parameters": self.parameters,
            "weights_bytes": self.weights_bytes,
            "parameters_source": self.parameters_source,
        }
        data.update({f"total:{key}": totals.get(key) for key in keys})
        for name in names:
            gpu = fits.get(name)
            data[f"fits:{name}"] = gpu.fits if gpu else None
            data[f"gpus_needed:{name}"] = gpu.gpus_needed if gpu else None
        data.update(
            cached=self.cached,
            requests=self.requests,
            bytes=self.bytes,
            seconds=round(self.seconds, 3),
            error=self.error,
        )
        return data


# ---------------------------------------------------------------------------------------------
# The model list


def read_model_list(text: str) -> list[tuple[str, str | None]]:
    """`org/name` or `org/name@revision` per line; blank lines and `#` comments are skipped.

    Ids are not validated here: a bad one becomes an error row when it is scanned. A model listed
    twice (same revision) is scanned once.
    """
    models: list[tuple[str, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    for line in text.splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        model, at, revision = entry.partition("@")
        item = (model.strip(), revision.strip() or None) if at else (entry, None)
        if item not in seen:
            seen.add(item)
            models.append(item)
    return models


def scenario_key(mode: str, dtype: str | None) -> str:
    """The column name of one scenario: "inference", "inference:int4", "training:bf16"."""
    return mode if dtype is None else f"{mode}:{dtype}"


def scenario_keys(options: RunOptions) -> tuple[str, ...]:
    """Every scenario column a scan with these options can fill, in report.scenarios' order."""
    from .report import WHAT_IF_PRECISIONS, trainable

    modes = ("inference", "training") if options.mode == "both" else (options.mode,)
    keys: list[str] = []
    for mode in modes:
        if options.mode == "both" and not trainable(options, mode):
            continue
        keys.append(scenario_key(mode, options.dtype))
        if options.dtype is None and mode == "inference":
            keys.extend(scenario_key(mode, p) for p in WHAT_IF_PRECISIONS)
    return tuple(keys)


def gpu_names(options: RunOptions) -> tuple[str, ...]:
    """The GPUs each row is held against (--gpu/--gpu-memory, else the default set)."""
    from .report import resolve_gpus

    return tuple(g.name for g in resolve_gpus(options.gpus, options.gpu_memory))


# ---------------------------------------------------------------------------------------------
# Scanning


def scan(
    models: Iterable[tuple[str, str | None]],
    options: RunOptions,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    refresh: bool = False,
    token: str | None = None,
    on_result: Callable[[ScanRow], None] | None = None,
    worker_processes: bool = False,
) -> Iterator[ScanRow]:
    """Read and estimate every model, `concurrency` at a time; yield rows in completion order.

    A model whose row for these options is cached (same commit, same hubvram code) is answered at
    once, without a request. `on_result` is called with each row (in the caller's thread) just
    before it is yielded. Closing the generator, or an exception such as KeyboardInterrupt while
    it waits, stops submitting and cancels the models not yet started; those in flight stop at
    their next request, body chunk or retry wait (a decode already in a worker runs out, < 0.5 s)
    and are dropped.

    `worker_processes=True` decodes DeepSeek-size answers in spawned processes (workers.py), as
    `hubvram scan` does. Python's spawn imports the caller's main module in each worker, so only
    pass it from a script whose work sits under `if __name__ == "__main__":`.
    """
    from .report import resolve_gpus

    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1..{MAX_CONCURRENCY}, not {concurrency}")
    gpus = resolve_gpus(options.gpus, options.gpu_memory)  # an unknown --gpu fails before any request
    rows = RowCache(options, gpus)
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
            job = (model, revision, options, gpus, index, token, refresh, inner_pool, rows, decoders, stop)
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
    gpus: tuple[Gpu, ...],
    index: int = 0,
    token: str | None = None,
    refresh: bool = False,
    pool: ThreadPoolExecutor | None = None,
    rows: RowCache | None = None,
    decoders: DecoderPool | None = None,
    stop: threading.Event | None = None,
) -> ScanRow:
    """One model's row; every failure becomes an error row (never an exception)."""
    from .facts import facts_from_snapshot
    from .hub import load_snapshot

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
        )
        row = rows.get(model, revision, snapshot.sha, index) if rows and snapshot.cached else None
        if row is None:
            row = row_from_facts(facts_from_snapshot(snapshot), model, revision, index, options, gpus)
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
        message = str(exc)
    except Exception as exc:  # a bug on one model must not end a scan of hundreds
        message = f"internal error: {type(exc).__name__}: {exc}"
    return ScanRow(
        model=model,
        revision=revision,
        index=index,
        seconds=time.perf_counter() - start,
        error=" ".join(message.split()) or "unknown error",
    )


def row_from_facts(
    facts: ModelFacts,
    model: str,
    revision: str | None,
    index: int,
    options: RunOptions,
    gpus: tuple[Gpu, ...],
) -> ScanRow:
    """Totals of every scenario and the fit of the first one on each GPU (named as the input named it).

    The same scenarios and estimates as `hubvram MODEL` (report.scenarios, estimate.estimate), without
    its per-GPU search for the largest batch and context: that search costs ~10 ms of CPU per model
    and a scan row shows neither.
    """
    from .estimate import estimate
    from .fit import fit
    from .report import require_transformer, scenarios

    require_transformer(facts)
    estimates = [estimate(facts, scenario) for scenario in scenarios(facts, options)]
    fits: tuple[GpuFit, ...] = ()
    if estimates:
        first = estimates[0]
        shared = min(first.replicated_bytes, first.total)
        fits = tuple(
            GpuFit(gpu.name, *_placed(fit(first.total, gpu, replicated_bytes=shared))) for gpu in gpus
        )
    return ScanRow(
        model=model,
        revision=revision,
        index=index,
        sha=facts.sha,
        parameters=facts.parameters.total,
        weights_bytes=facts.weights_bytes,
        parameters_source=facts.parameters.source,
        totals=_totals(estimates, options),
        gpus=fits,
    )


def _totals(estimates: list[Estimate], options: RunOptions) -> tuple[tuple[str, int], ...]:
    """Each estimate's total under its column: a mode's first estimate is the asked-for scenario (named
    by --dtype, even when report.scenarios trains FP8/GPTQ weights dequantized), the others what-ifs."""
    totals: list[tuple[str, int]] = []
    for e in estimates:
        asked = all(e.options.mode != key.split(":")[0] for key, _ in totals)
        totals.append((scenario_key(e.options.mode, options.dtype if asked else e.options.dtype), e.total))
    return tuple(totals)


def _placed(f: Fit) -> tuple[bool, int | None]:
    return f.fits, f.gpus_needed


def in_input_order(rows: Iterable[ScanRow]) -> list[ScanRow]:
    return sorted(rows, key=lambda row: row.index)


# ---------------------------------------------------------------------------------------------
# Rows cached by commit


class RowCache:
    """Finished rows keyed by repo, commit sha, the options and GPUs asked for, and hubvram's code.

    Beside hubvram's snapshot cache (cache.py, same TTL for branches): a rescan of unchanged repos
    then costs one small file read per model, not a header re-parse and an estimate. The key holds
    a hash of the modules that compute a row, so a changed estimator never serves an old number.
    Rows of local directories and failed rows are never cached.
    """

    def __init__(self, options: RunOptions, gpus: tuple[Gpu, ...]) -> None:
        from .cache import cache_root

        # Every option but the output format and the GPU names (the GPUs count by name and memory).
        asked = {k: v for k, v in asdict(options).items() if k not in ("fmt", "gpus", "gpu_memory")}
        placed = [[gpu.name, gpu.memory_bytes] for gpu in gpus]
        key = json.dumps([ROW_FORMAT, _code_fingerprint(), asked, placed], sort_keys=True, default=repr)
        self.digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        self.root = cache_root() / "scan-rows"

    def lookup(self, model: str, revision: str | None, index: int) -> ScanRow | None:
        """The row of the commit the revision names, if that ref is fresh in the snapshot cache."""
        from .cache import cached_sha
        from .hub import _looks_local

        if _looks_local(model) or "/" not in model:
            return None
        sha = cached_sha(model, revision)
        return self.get(model, revision, sha, index) if sha else None

    def get(self, model: str, revision: str | None, sha: str | None, index: int) -> ScanRow | None:
        from .cache import _read_json

        record = _read_json(self._path(model, sha)) if sha else None
        if not record or record.get("sha") != sha:
            return None
        try:
            return ScanRow(
                model=model,
                revision=revision,
                index=index,
                sha=sha,
                parameters=int(record["parameters"]),
                weights_bytes=int(record["weights_bytes"]),
                parameters_source=str(record["parameters_source"]),
                totals=tuple((str(k), int(v)) for k, v in record["totals"]),
                gpus=tuple(
                    GpuFit(str(n), bool(f), None if g is None else int(g)) for n, f, g in record["gpus"]
                ),
                cached=True,
            )
        except (KeyError, TypeError, ValueError):  # a damaged entry is recomputed, never trusted
            return None

    def store(self, row: ScanRow) -> None:
        from .cache import _write_json

        if row.error or not row.sha or row.parameters is None or row.weights_bytes is None:
            return
        record = {
            "sha": row.sha,
            "parameters": row.parameters,
            "weights_bytes": row.weights_bytes,
            "parameters_source": row.parameters_source,
            "totals": [list(pair) for pair in row.totals],
            "gpus": [[g.name, g.fits, g.gpus_needed] for g in row.gpus],
        }
        _write_json(self._path(row.model, row.sha), record)

    def _path(self, model: str, sha: str) -> Path:
        return self.root / ("models--" + model.replace("/", "--")) / f"{sha}-{self.digest}.json"


ROW_FORMAT = 1
# The modules whose code decides a row's numbers (the fingerprint changes when any of them does).
_ROW_CODE = (
    *("hub.py", "header.py", "facts.py", "estimate.py", "fit.py", "gpus.py", "report.py", "scan.py"),
    "data/gpus.tsv",
)


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    from . import __version__

    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    for name in _ROW_CODE:
        try:
            digest.update(name.encode() + b"\0" + (package / name).read_bytes())
        except OSError:
            digest.update(name.encode() + b"\0missing")
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Output


def render_rows(rows: list[ScanRow], options: RunOptions, fmt: str) -> str:
    """Rows as a table, markdown, CSV or JSON (JSONL is written row by row by the CLI)."""
    keys, names = scenario_keys(options), gpu_names(options)
    keys += tuple(dict.fromkeys(key for row in rows for key, _ in row.totals if key not in keys))
    if fmt == "json":
        return json.dumps([row.to_dict(keys, names) for row in rows], indent=2)
    if fmt == "jsonl":
        return "\n".join(jsonl_line(row, keys, names) for row in rows)
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = list(ScanRow(model="").to_dict(keys, names))
        writer.writerow(columns)
        for row in rows:
            data = row.to_dict(keys, names)
            writer.writerow(["" if data[c] is None else data[c] for c in columns])
        return buffer.getvalue().rstrip("\n")
    return _table(rows, keys, names, "github" if fmt == "markdown" else "simple")


def jsonl_line(row: ScanRow, keys: Iterable[str], names: Iterable[str]) -> str:
    return json.dumps(row.to_dict(keys, names), separators=(",", ":"))


def _table(rows: list[ScanRow], keys: tuple[str, ...], names: tuple[str, ...], tablefmt: str) -> str:
    from tabulate import tabulate

    from .render import gib

    first = keys[0] if keys else ""
    headers = ["model", "parameters", "weights", *keys, *(f"{n} ({first})" for n in names), "error"]
    table = []
    for row in rows:
        totals = dict(row.totals)
        fits = {g.name: g for g in row.gpus}
        model = row.model if row.revision is None else f"{row.model}@{row.revision}"
        cells = [model, "" if row.parameters is None else f"{row.parameters:,}"]
        cells.append("" if row.weights_bytes is None else gib(row.weights_bytes))
        cells += [gib(totals[k]) if k in totals else "" for k in keys]
        cells += [_fit_cell(fits.get(n)) for n in names]
        cells.append(row.error or "")
        table.append(cells)
    if not any(row.error for row in rows):
        headers.pop()
        table = [cells[:-1] for cells in table]
    note = "fits: on one card; Nx: cards needed when split; -: not even on 64"
    return tabulate(table, headers=headers, tablefmt=tablefmt, disable_numparse=True) + "\n" + note


def _fit_cell(fit: GpuFit | None) -> str:
    if fit is None:
        return ""
    if fit.fits:
        return "fits"
    return f"{fit.gpus_needed}x" if fit.gpus_needed else "-"


# ---------------------------------------------------------------------------------------------
# Resuming a JSONL output


def read_done(lines: Iterable[str]) -> tuple[list[str], set[tuple[str, str | None]]]:
    """The lines of an earlier JSONL output worth keeping, and the models they answered.

    Rows that succeeded are kept and their models skipped; error rows are dropped so that the
    model is tried again, and so is a line cut short (a scan killed mid-write).
    """
    kept: list[str] = []
    done: set[tuple[str, str | None]] = set()
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("model"), str) or data.get("error"):
            continue
        revision = data.get("revision")
        kept.append(line.rstrip("\n"))
        done.add((data["model"], revision if isinstance(revision, str) else None))
    return kept, done
