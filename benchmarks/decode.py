"""Decode and check time per MB of the largest safetensors-metadata answers: json, orjson, msgspec.

    python benchmarks/decode.py            # prints a table (benchmarks/scan.py --write adds it to SCAN.md)

The answers are what the fake Hub (hubvram.testing) serves for the heaviest fixture repos: the Hub's
one-request safetensors-metadata route, {"index": ..., "headers": {shard: header}}. For each, in one run
(the best of --repeat, the garbage collector paused as hubvram pauses it):

  decode only       json.loads, orjson.loads, msgspec.json.decode (untyped) and msgspec typed decoding
                    into hubvram's records (fast_headers._Answer);
  decode + check    what hubvram does with an answer: json + the reference parser's per-tensor checks
                    (safetensors.sharded_files(fast=False), hubvram before the fast path), the same checks
                    after orjson or msgspec untyped, and hubvram now (sharded_files: msgspec typed + checks
                    by column + the summary);
  whole answer      all the CPU an answer costs a scan, before header summaries (the reference parse in
                    the worker, every tensor marshalled back, counted one at a time, every tensor in
                    the cache record) and now (fast parse, summaries back, counted, summary record);
  cache record      bytes of the cached record of the answer's files, before (every tensor as a row) and
                    now (summary_cache.file_record).

orjson is measured when installed (pip install orjson); hubvram depends on msgspec only.
"""

from __future__ import annotations

import argparse
import gc
import json
import marshal
import math
import statistics
import sys
import time
from collections.abc import Callable
from operator import truediv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubvram.fetch import fast_headers, workers  # noqa: E402
from hubvram.fetch.safetensors import parse_header_document, sharded_files  # noqa: E402
from hubvram.fetch.safetensors_types import TensorInfo  # noqa: E402
from hubvram.fetch.summary_cache import file_record  # noqa: E402
from hubvram.model import counting  # noqa: E402
from hubvram.model.config import read_architecture  # noqa: E402
from hubvram.model.counting import count_parameters  # noqa: E402
from hubvram.testing.repos import parse_safetensors_header  # noqa: E402

FIXTURES = ROOT / "fixtures" / "hub"
_new_tuple = tuple.__new__
HEAVY = (
    "deepseek-ai/DeepSeek-V3",
    "Qwen/Qwen3-Next-80B-A3B-Instruct",
    "Qwen/Qwen3-30B-A3B",
    "baidu/ERNIE-4.5-21B-A3B-PT",
)


def answer(repo: str) -> bytes:
    """The safetensors-metadata answer the fake Hub serves for a fixture repo (app.safetensors_metadata)."""
    files = FIXTURES / repo / "files"
    index = json.loads((files / "model.safetensors.index.json").read_text())
    headers = {}
    for shard in sorted(set(index["weight_map"].values())):
        headers[shard] = parse_safetensors_header((files / f"{shard}.header").read_bytes())
    rest = {k: v for k, v in index.items() if k != "weight_map"}
    return json.dumps({"index": rest, "headers": headers}, separators=(",", ":")).encode()


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(times)


def checked_after(loads: Callable[[bytes], object]) -> Callable[[bytes], object]:
    """Another decoder, then the reference parser's per-tensor checks (as sharded_files(fast=False))."""

    def run(raw: bytes) -> object:
        headers = loads(raw)["headers"]
        return [parse_header_document(h, s) for s, h in sorted(headers.items())]

    return run


def ways() -> dict[str, Callable[[bytes], object]]:
    import msgspec

    found: dict[str, Callable[[bytes], object]] = {"json": lambda raw: json.loads(raw.decode("utf-8"))}
    try:
        import orjson

        found["orjson"] = orjson.loads
    except ImportError:
        pass
    found["msgspec"] = msgspec.json.decode
    found["msgspec typed"] = fast_headers._ANSWER.decode
    table = {f"decode: {name}": fn for name, fn in found.items()}
    table["decode + check: json + per-tensor checks (before)"] = lambda raw: sharded_files(raw, fast=False)
    for name in ("orjson", "msgspec"):
        if name in found:
            table[f"decode + check: {name} + per-tensor checks"] = checked_after(found[name])
    table["decode + check: msgspec typed + column checks (now)"] = sharded_files
    return table


def whole_before(raw: bytes, arch: object) -> object:
    """What an answer cost before header summaries: the reference parse in the worker, every tensor
    marshalled back and rebuilt, counted one at a time, and every tensor written to the cache."""
    files = sharded_files(raw, fast=False)
    payload = marshal.dumps(
        [(f.filename, f.header_bytes, f.metadata, [tuple(t) for t in f.tensors]) for f in files]
    )
    tensors = [_new_tuple(TensorInfo, t) for *_, rows in marshal.loads(payload) for t in rows]
    count_every_tensor(tensors, arch)
    return json.dumps(
        [[f.filename, f.header_bytes, dict(f.metadata), f.tensors] for f in files], separators=(",", ":")
    )


def whole_now(raw: bytes, arch: object) -> object:
    """The same now: the worker's decode and summaries, rebuilt, counted, and the cache record."""
    _, payload = workers._decode_in_worker(raw)
    files = workers._files_from_marshal(payload)
    count_parameters(files, arch)
    return json.dumps([file_record(f) for f in files], separators=(",", ":"))


def count_every_tensor(tensors: list, arch) -> dict[str, int]:
    """count_parameters as it was (model/counting.py before summaries): one tensor at a time."""
    params: dict[str, int] = {}
    duplicates = counting._tied_duplicates(tensors, arch)
    mlx = counting.mlx_quantization(arch) is not None
    for tensor in tensors:
        name, dtype, shape, start, end = tensor
        numel = math.prod(shape)
        if counting._is_buffer(name, shape) or name in duplicates:
            continue
        if counting._is_quant_aux(name) or (mlx and name.endswith(".biases")):
            continue
        label, count = (
            (dtype, numel) if dtype not in counting.PACKED_DTYPES else counting._unpacked(tensor, arch)
        )
        params[label] = params.get(label, 0) + count
    return params


def measure(repeat: int = 5) -> list[str]:
    answers = {repo: answer(repo) for repo in HEAVY if (FIXTURES / repo).is_dir()}
    total_mb = sum(len(raw) for raw in answers.values()) / 1e6
    table = [
        "| way | " + " | ".join(answers) + " | ms per MB (all) |",
        "|---|" + "---:|" * (len(answers) + 1),
        "| answer MB | " + " | ".join(f"{len(r) / 1e6:.1f}" for r in answers.values()) + " | |",
    ]
    per_mb: dict[str, float] = {}
    for name, fn in ways().items():
        seconds = [best_of(lambda raw=raw, fn=fn: fn(raw), repeat) for raw in answers.values()]
        per_mb[name] = sum(seconds) * 1000 / total_mb
        cells = " | ".join(f"{s * 1000:.0f} ms" for s in seconds)
        table.append(f"| {name} | {cells} | {per_mb[name]:.1f} |")
    archs = {
        repo: read_architecture(json.loads((FIXTURES / repo / "files" / "config.json").read_text()))
        for repo in answers
    }
    whole: dict[str, float] = {}
    for name, fn in (("before", whole_before), ("now", whole_now)):
        seconds = [
            best_of(lambda raw=raw, arch=archs[repo], fn=fn: fn(raw, arch), repeat)
            for repo, raw in answers.items()
        ]
        whole[name] = sum(seconds) * 1000 / total_mb
        cells = " | ".join(f"{s * 1000:.0f} ms" for s in seconds)
        what = (
            "reference parse, every tensor back from the worker, counted and cached"
            if name == "before"
            else "fast parse, summaries back, counted and cached"
        )
        table.append(f"| whole answer, {name}: {what} | {cells} | {whole[name]:.1f} |")
    before, after = [], []
    for raw in answers.values():
        files = sharded_files(raw, fast=False)
        rows = [[f.filename, f.header_bytes, dict(f.metadata), f.tensors] for f in files]
        before.append(len(json.dumps(rows, separators=(",", ":"))))
        after.append(len(json.dumps([file_record(f) for f in files], separators=(",", ":"))))
    table.append("| cache record before (every tensor) | " + " | ".join(f"{b:,} B" for b in before) + " | |")
    table.append("| cache record now (summaries) | " + " | ".join(f"{a:,} B" for a in after) + " | |")
    old = per_mb["decode + check: json + per-tensor checks (before)"]
    new = per_mb["decode + check: msgspec typed + column checks (now)"]
    notes = [
        f"- decode + check, all {len(answers)} answers ({total_mb:.1f} MB): {old:.1f} ms/MB before (json + "
        f"per-tensor checks), {new:.1f} ms/MB now (msgspec typed + column checks): {old / new:.1f}x; best of "
        f"{repeat}, garbage collector paused, one process, one run",
        f"- an answer's whole CPU (decode, check, worker hand-back, count, cache record): "
        f"{whole['before']:.1f} ms/MB before, {whole['now']:.1f} ms/MB now "
        f"({whole['before'] / whole['now']:.1f}x)",
        f"- cache records {statistics.median(map(truediv, before, after)):,.0f}x smaller (median of answers)",
    ]
    return table + [""] + notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print("\n".join(measure(args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
