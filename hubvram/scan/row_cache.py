"""Finished scan rows kept by repo, commit, options and hubvram's code: a rescan of unchanged repos reads
one small file per model, the repo's cache file (no request, no header re-parse, no estimate)."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..fetch.cache import put, read_model, sha_in, update_model
from ..fetch.load import looks_local
from ..gpus import Gpu
from ..report import RunOptions
from .rows import GpuFit, ScanRow

ROW_FORMAT = 4  # 4: the serving columns beside each GPU's fit


class RowCache:
    """Finished rows keyed by repo, commit sha, the options and GPUs asked for, and hubvram's code.

    In hubvram's cache file of the repo, beside its snapshots (fetch/cache.py, same TTL for branches): a
    rescan of unchanged repos then costs one small file read per model, not a header re-parse and an
    estimate. The key holds
    a hash of the modules that compute a row, so a changed estimator never serves an old number.
    Rows of local directories and failed rows are never cached.
    """

    def __init__(self, options: RunOptions, gpus: tuple[Gpu, ...]) -> None:
        # Every option but the GPUs, which count by name and memory.
        asked = {k: v for k, v in asdict(options).items() if k != "gpus"}
        placed = [[gpu.name, gpu.memory_bytes] for gpu in gpus]
        key = json.dumps([ROW_FORMAT, _code_fingerprint(), asked, placed], sort_keys=True, default=repr)
        self.digest = hashlib.sha256(key.encode()).hexdigest()[:24]

    def lookup(self, model: str, revision: str | None, index: int) -> ScanRow | None:
        """The row of the commit the revision names, if that ref is fresh in the snapshot cache."""
        if looks_local(model) or "/" not in model:
            return None
        record = read_model(model)
        sha = sha_in(record, revision)
        return self._row(record, model, revision, sha, index) if sha else None

    def get(self, model: str, revision: str | None, sha: str | None, index: int) -> ScanRow | None:
        return self._row(read_model(model), model, revision, sha, index) if sha else None

    def _row(
        self, cached: dict | None, model: str, revision: str | None, sha: str, index: int
    ) -> ScanRow | None:
        record = (cached or {}).get("rows", {}).get(self._key(sha))
        if not isinstance(record, dict) or record.get("sha") != sha:
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
                format=str(record["format"]),
                totals=tuple((str(k), int(v)) for k, v in record["totals"]),
                gpus=tuple(
                    GpuFit(str(n), bool(f), None if g is None else int(g), tuple(map(_number, served)))
                    for n, f, g, served in record["gpus"]
                ),
                cached=True,
            )
        except (KeyError, TypeError, ValueError):  # a damaged entry is recomputed, never trusted
            return None

    def store(self, row: ScanRow) -> None:
        if row.error or not row.sha or row.parameters is None or row.weights_bytes is None:
            return
        record = {
            "sha": row.sha,
            "parameters": row.parameters,
            "weights_bytes": row.weights_bytes,
            "parameters_source": row.parameters_source,
            "format": row.format,
            "totals": [list(pair) for pair in row.totals],
            "gpus": [[g.name, g.fits, g.gpus_needed, list(g.serving)] for g in row.gpus],
        }
        update_model(row.model, lambda cached: put(cached["rows"], self._key(row.sha), record))

    def _key(self, sha: str) -> str:
        return f"{sha}-{self.digest}"  # in the repo's cache file, beside its snapshots (fetch/cache.py)


def _number(value: object) -> float | int | None:
    """A cached serving value: a number or nothing (anything else is a damaged entry)."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise ValueError(f"not a number: {value!r}")


@functools.lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """A hash of every file of the installed package (code and data): any change, a moved file
    included, gives new keys, so a changed estimator never serves an old number."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".tsv") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
