"""The fetch stage: read a repo's config and weight headers (Hub, hubvram's cache, or a local directory).

load.py         entry point: load_snapshot(model) -> RepoSnapshot
snapshot.py     RepoSnapshot (what was read) and ReadCounter (what it cost)
layout.py       which files a repo's layout needs (single file, shards, .bin, components)
hub.py          the read strategy for a Hub repo (HubReader)
http.py         HTTP through huggingface_hub's session: retries, bounds, cancellation
local.py        the same files from a local directory
safetensors.py  safetensors headers, parsed and checked (one reader module per weight format)
fast_headers.py the same parse, fast (msgspec, checks by column), or left to safetensors.py
safetensors_types.py  a parsed header: its tensors and its summary (what the estimate needs)
cache.py        what was read, kept by repo and commit (summary_cache.py: headers' summaries)
workers.py      worker processes that decode very large answers during scans
decode.py       JSON decoding shared by the readers
limits.py       every cap and timeout
"""

from __future__ import annotations
