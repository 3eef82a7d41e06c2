"""Benchmark `hubvram scan` against a plain huggingface_hub loop, on a local Hub with injected latency.

    python benchmarks/scan.py                      # >= 100 models, 50 ms per request, prints a table
    python benchmarks/scan.py --write benchmarks/SCAN.md

It builds a temporary Hub root of at least --models repos by copying the generated fixture repos
(hubvram.testing layout, the header-heavy MoE repos included) under new ids and commit shas,
single-file and sharded, starts the fake Hub (hubvram.testing) on loopback with --latency seconds before
every answer, has it build each sharded model's one-request safetensors-metadata answer and hash every
file once before the clock starts (the Hub serves both from what it stored at upload:
hub_root.prebuild_server_state), and in the same run times:

  a. `hubvram scan` with a cold cache (fresh HF_HOME), as a subprocess (interpreter start included),
     COLD_RUNS times, the median reported (one scan's time varies by ~10% on cores shared with others);
  b. the peers' way: a sequential loop of huggingface_hub `get_safetensors_metadata` plus
     `hf_hub_download("config.json")` per model, as a subprocess too (its time is taken inside it);
  c. the same `hubvram scan` again, answered from hubvram's cache;

then `hubvram --help`, one `hubvram MODEL` and one `hubvram MODEL` of a header-heavy model (cold cache,
subprocess; the latter beside its floor: start-up + two round trips + the decode of its answer), and the
bytes the cold scan left in hubvram's cache; last, with the server stopped, it times decoding and
checking the largest safetensors-metadata answers (benchmarks/decode.py: json, orjson, msgspec; before
and now). Requests and bytes come from the server's own records (response body bytes written to
sockets). The minimum is what holds the answer: config.json + the shard index + the safetensors headers
(8 + N bytes each). Targets (issue 4, and the header-heavy one: >= 25x the loop) are checked and printed
PASS/FAIL; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "hub"
sys.path.insert(0, str(ROOT))

from decode import answer as metadata_answer  # noqa: E402
from decode import best_of  # noqa: E402
from decode import measure as measure_decode  # noqa: E402
from hub_root import (  # noqa: E402
    build_root,
    per_model_requests,
    plain_sources,
    prebuild_server_state,
)

from hubvram.fetch.cache import MAX_RECORD_BYTES, MAX_ROWS, MAX_SNAPSHOTS  # noqa: E402
from hubvram.testing import HubServer  # noqa: E402
from hubvram.testing.handler import Handler  # noqa: E402

# The test server writes a response's headers and body in two sends; with Nagle's algorithm on, the
# body waits for the client's delayed ACK of the headers (40 ms on Linux) on every reused keep-alive
# connection, turning 50 ms of latency into ~92 ms per request for every client measured here. The
# Hub's CDN does not do that: send each response at once.
Handler.disable_nagle_algorithm = True

COLD_RUNS = 3
HEAVY_SINGLE = "Qwen/Qwen3-Next-80B-A3B-Instruct"  # the `hubvram MODEL` timed for a header-heavy model
# What `hubvram MODEL` imports before its first request: its start-up, timed apart
MODEL_IMPORTS = (
    "import hubvram.cli.commands, hubvram.fetch.load, hubvram.fetch.hub, hubvram.model, hubvram.report, "
    "hubvram.render, huggingface_hub.utils, httpx2"
)
SUMMARY = re.compile(r"scanned (\d+), failed (\d+), cached (\d+) in ([\d.]+) s")


@dataclass
class Run:
    name: str
    models: int
    wall_s: float  # what the user waits, interpreter start included for subprocesses
    work_s: float  # the scan's own time (its summary line) or the loop's time
    requests: int
    bytes: int
    header_bytes: int  # bytes of ranged GETs of .safetensors files and of safetensors-metadata answers
    failed: int = 0

    @property
    def models_per_s(self) -> float:
        return self.models / self.work_s if self.work_s else float("inf")


def tally(server: HubServer, name: str, models: int, wall: float, work: float, failed: int = 0) -> Run:
    records = server.requests
    header = sum(
        r.bytes_sent for r in records if r.path.endswith(".safetensors") or "/safetensors-metadata/" in r.path
    )
    return Run(name, models, wall, work, len(records), sum(r.bytes_sent for r in records), header, failed)


# ---------------------------------------------------------------------------------------------
# The three ways


def hubvram_command() -> list[str]:
    """hubvram from the pinned copy of the package (see pin_code), as `python -m` runs it."""
    return [sys.executable, "-m", "hubvram.cli"]


def pin_code(work: Path) -> Path:
    """One copy of hubvram/ for every run: an edit of the source tree while the benchmark runs (which
    would also, rightly, invalidate the scan's cached rows) cannot mix two versions. Byte-compiled, as
    pip install leaves a package: with PYTHONDONTWRITEBYTECODE set (as here), every run would otherwise
    compile hubvram from source again (~0.05 s per process)."""
    import compileall

    target = work / "code"
    shutil.copytree(ROOT / "hubvram", target / "hubvram", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(target / "hubvram", quiet=1)
    return target


def child_env(endpoint: str, hf_home: Path, code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        PYTHONPATH=str(code),
    )
    return env


def run_scan(
    server: HubServer, name: str, listing: Path, out: Path, env: dict, concurrency: int
) -> tuple[Run, str]:
    server.reset(reread_repos=False)  # the repos do not change between runs
    command = [*hubvram_command(), "scan", str(listing), "--output", str(out), "--format", "jsonl"]
    command += ["--gpu", "RTX 4090", "--concurrency", str(concurrency)]
    start = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, cwd=env["PYTHONPATH"]
    )
    wall = time.perf_counter() - start
    server.wait_idle(5.0)
    summary = SUMMARY.search(done.stderr)
    if summary is None:
        raise SystemExit(f"{name}: no summary line; exit {done.returncode}\n{done.stderr[-2000:]}")
    scanned, failed = int(summary[1]), int(summary[2])
    return tally(server, name, scanned, wall, float(summary[4]), failed), done.stderr.strip()


def run_loop(server: HubServer, listing: Path, env: dict) -> Run:
    """The peers' way, as a subprocess like the scan (so neither shares the server's GIL)."""
    server.reset(reread_repos=False)  # the repos do not change between runs
    start = time.perf_counter()
    command = [sys.executable, str(Path(__file__).resolve()), "--loop-child", str(listing)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    server.wait_idle(5.0)
    if done.returncode != 0:
        raise SystemExit(f"loop: exit {done.returncode}\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return tally(server, "huggingface_hub loop", result["models"], wall, result["seconds"], result["failed"])


def loop_child(listing: Path) -> int:
    """What a user's script with huggingface_hub does: one model after the other."""
    from huggingface_hub import get_safetensors_metadata, hf_hub_download

    models = listing.read_text().split()
    failed = 0
    start = time.perf_counter()
    for model in models:
        try:
            get_safetensors_metadata(model)
            hf_hub_download(model, "config.json")
        except Exception as exc:  # count, don't stop: the same rule as the scan
            failed += 1
            print(f"loop: {model}: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(json.dumps({"models": len(models), "failed": failed, "seconds": time.perf_counter() - start}))
    return 0


def time_command(command: list[str], env: dict, repeat: int, fresh_home: Path | None = None) -> float:
    """Median wall time of `repeat` runs (each with a fresh HF_HOME when fresh_home is given)."""
    times = []
    for i in range(repeat):
        if fresh_home is not None:
            env = {**env, "HF_HOME": str(fresh_home / f"run{i}")}
        start = time.perf_counter()
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, cwd=env["PYTHONPATH"]
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-1000:]}")
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=100, help="repos to serve and scan (at least)")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="seconds the server waits before each answer"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", type=Path, help="also write the table to this markdown file")
    parser.add_argument(
        "--append", action="store_true", help="add to the --write file instead of replacing it"
    )
    parser.add_argument("--skip", metavar="REGEX", help="leave out the fixture repos whose id matches")
    parser.add_argument("--loop-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop_child:
        return loop_child(args.loop_child)

    work = Path(tempfile.mkdtemp(prefix="hubvram-bench-"))
    try:
        sources = plain_sources(args.skip)
        code = pin_code(work)
        if not any(s.sharded for s in sources) or not any(not s.sharded for s in sources):
            raise SystemExit(
                "fixtures/hub needs both single-file and sharded repos: run fixtures/build_fixtures.py"
            )
        models = build_root(work / "hub", sources, args.models)
        ids = list(models)
        listing = work / "models.txt"
        listing.write_text("\n".join(ids) + "\n")
        server = HubServer(work / "hub", latency=args.latency)
        endpoint = server.start()
        try:
            prebuild_server_state(endpoint, models)
            colds = []  # COLD_RUNS cold scans, each with a fresh cache: the median one is reported
            for i in range(COLD_RUNS):
                env = child_env(endpoint, work / f"hf-scan{i}", code)
                run, summary = run_scan(
                    server, "hubvram scan (cold)", listing, work / f"a{i}.jsonl", env, args.concurrency
                )
                colds.append((run.wall_s, i, run, summary, per_model_requests(server)))
            cold_walls = [wall for wall, *_ in colds]
            _, median_run, cold, cold_summary, cold_requests = sorted(colds)[COLD_RUNS // 2]
            env = child_env(endpoint, work / f"hf-scan{median_run}", code)
            loop = run_loop(server, listing, child_env(endpoint, work / "hf-loop", code))
            warm, warm_summary = run_scan(
                server, "hubvram scan (cached)", listing, work / "c.jsonl", env, args.concurrency
            )
            warm_safetensors = len(server.requests_to(r"\.safetensors$|/safetensors-metadata/"))
            help_s = time_command([*hubvram_command(), "--help"], env, repeat=5)
            single = next(m for m in ids if not models[m].sharded and m.startswith("Qwen-c0/"))
            server.reset(reread_repos=False)
            one_s = time_command([*hubvram_command(), single, "--gpu", "RTX 4090"], env, 3, work / "hf-one")
            heavy = next((m for m in ids if m.endswith(HEAVY_SINGLE.split("/")[1]) and "-c0/" in m), None)
            if heavy is not None:  # not when --skip left it out
                server.reset(reread_repos=False)
                command = [*hubvram_command(), heavy, "--gpu", "H100"]
                heavy_s = time_command(command, env, 3, work / "hf-heavy")
                imports_s = time_command([sys.executable, "-c", MODEL_IMPORTS], env, repeat=3)
        finally:
            server.stop()
        decode_lines = [] if args.skip else measure_decode()  # after the server stopped: nothing else runs
        cache_files = list((work / f"hf-scan{median_run}" / "hub" / "hubvram").glob("*.json"))
        cache_bytes = [f.stat().st_size for f in cache_files]
        from hubvram.fetch.safetensors import sharded_files

        if heavy is not None:
            heavy_answer = metadata_answer(HEAVY_SINGLE)
            heavy_decode = best_of(lambda: sharded_files(heavy_answer), 3)

        rows = [json.loads(line) for line in (work / f"a{median_run}.jsonl").read_text().splitlines()]
        cached_rows = [json.loads(line) for line in (work / "c.jsonl").read_text().splitlines()]
        errors = [f"{r['model']}: {r['error']}" for r in rows + cached_rows if r["error"]]
        errors += [  # a scan says one summary line on stderr, nothing else (no traceback, no warning)
            f"stderr of a scan: {text.splitlines()[-1]}"
            for text in [summary for *_, summary, _ in colds] + [warm_summary]
            if len(text.splitlines()) != 1
        ]
        by_source: dict[str, set] = defaultdict(set)
        for row in rows + cached_rows:
            by_source[row["model"].split("/", 1)[1] + str(models[row["model"]].min_bytes)].add(
                row["parameters"]
            )
        inconsistent = [k for k, counts in by_source.items() if len(counts) != 1]

        slowest = sorted(rows, key=lambda r: -r["seconds"])[:4]
        minimum = sum(models[m].min_bytes for m in ids)
        single_ids = [m for m in ids if not models[m].sharded]
        single_requests = [cold_requests.get(m, 0) for m in single_ids]
        sharded_requests = [cold_requests.get(m, 0) for m in ids if models[m].sharded]
        n = len(ids)

        table = [
            "| run | models | wall s | work s | models/s | requests/model | bytes/model | header bytes |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for run in (cold, loop, warm):
            table.append(
                f"| {run.name} | {run.models} | {run.wall_s:.2f} | {run.work_s:.3f} | {run.models_per_s:,.1f}"
                " "
                f"| {run.requests / n:.2f} | {run.bytes / n:,.0f} | {run.header_bytes:,} |"
            )
        table.append(f"| minimum (config + index + headers) | {n} | | | | | {minimum / n:,.0f} | |")
        details = [
            f"- {n} models ({len(single_ids)} single-file, {n - len(single_ids)} sharded) "
            f"from {len(sources)} fixture "
            f"repos, {args.latency * 1000:.0f} ms latency per request, concurrency {args.concurrency}",
            f"- requests per single-file model: max {max(single_requests)}, mean "
            f"{statistics.mean(single_requests):.2f}; per sharded model: max {max(sharded_requests)}, mean "
            f"{statistics.mean(sharded_requests):.2f}",
            f"- scan summaries: cold `{SUMMARY.search(cold_summary).group(0)}`; "
            f"cached `{SUMMARY.search(warm_summary).group(0)}`",
            "- slowest in the cold scan: "
            + ", ".join(f"{r['model']} {r['seconds']:.2f} s ({r['bytes']:,} B)" for r in slowest),
            "- wall s: what the user waits (subprocesses, interpreter start included); "
            "work s: the scan's own time from its summary line, the loop's time",
            f"- cold scan: the median of {COLD_RUNS} in this run, each with a fresh cache (walls "
            + ", ".join(f"{wall:.2f}" for wall in cold_walls)
            + " s): on shared cores one scan's time varies by ~10%",
            f"- cache after the cold scan: {len(cache_files)} files (one per repo), "
            f"{sum(cache_bytes) / len(cache_files):,.0f} B per model (largest {max(cache_bytes):,} B); a "
            f"10,000-model scan of such a list: {sum(cache_bytes) / len(cache_files) * 10_000 / 1e6:,.0f} MB "
            f"(each repo's file keeps at most {MAX_SNAPSHOTS} snapshots, {MAX_ROWS} rows and is never over "
            f"{MAX_RECORD_BYTES / 1e6:.0f} MB)",
        ]
        if heavy is not None:
            details.append(
                f"- `hubvram {heavy}` ({len(heavy_answer) / 1e6:.1f} MB of headers in one answer), cold "
                f"start: median {heavy_s:.3f} s = start-up {imports_s:.3f} s (interpreter, imports) + two "
                f"round trips {2 * args.latency:.3f} s + decode {heavy_decode:.3f} s + the rest "
                f"{heavy_s - imports_s - 2 * args.latency - heavy_decode:.3f} s (transfer, estimate, output)"
            )
        speedup = loop.work_s / cold.wall_s
        cache_speedup = cold.work_s / warm.work_s if warm.work_s else float("inf")
        ratio = cold.bytes / minimum
        targets = [
            (f"scan >= 25x faster than the loop (loop s / scan wall s = {speedup:.1f}x)", speedup >= 25),
            (f"scan bytes <= 1.25x the minimum ({ratio:.3f}x)", ratio <= 1.25),
            (f"requests per single-file model <= 3 (max {max(single_requests)})", max(single_requests) <= 3),
            (
                f"cached rescan >= 50x faster than the first (scan s {cold.work_s:.3f} / {warm.work_s:.3f} = "
                f"{cache_speedup:.0f}x) and zero header bytes "
                f"({warm.header_bytes}, {warm_safetensors} requests)",
                cache_speedup >= 50 and warm.header_bytes == 0 and warm_safetensors == 0,
            ),
            (f"`hubvram --help` < 0.3 s (median {help_s:.3f} s)", help_s < 0.3),
            (f"`hubvram {single}` < 1 s wall, cold start (median {one_s:.3f} s)", one_s < 1.0),
            (
                f"every row read, counts equal across copies, stderr one line ({len(errors)} errors)",
                not errors and not inconsistent,
            ),
        ]
        lines = (
            table + [""] + details + [""] + [f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in targets]
        )
        for line in errors[:10]:
            lines.append(f"  - {line}")
        if decode_lines:
            lines += ["", "Decode and check of the largest answers, same run (benchmarks/decode.py):", ""]
            lines += decode_lines
        print("\n".join(lines))
        if args.write:
            command = "python benchmarks/scan.py" + (f" --models {args.models}" if args.models != 100 else "")
            command += f" --skip '{args.skip}'" if args.skip else ""
            command += f" --write {args.write.as_posix()}" + (" --append" if args.append else "")
            section = f"## `{command}`\n\n" + "\n".join(lines) + "\n"
            if args.append and args.write.exists():
                args.write.write_text(args.write.read_text().rstrip("\n") + "\n\n" + section)
            else:
                intro = (
                    "# `hubvram scan` benchmark\n\nThe script's docstring says what each column means.\n\n"
                )
                args.write.write_text(intro + section)
        return 0 if all(ok for _, ok in targets) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
