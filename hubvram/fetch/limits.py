"""Every cap and timeout of the fetch stage, in one place (read at call time, so tests can lower them).

Anyone can upload a repo: each number bounds what one hostile file or server can make hubvram do.
"""

from __future__ import annotations

# -- what one model may make hubvram read
# Same cap as huggingface_hub.constants.SAFETENSORS_MAX_HEADER_LENGTH (and safetensors' own 100 MB is
# looser): a safetensors header beyond this is refused before a byte of it is requested.
MAX_HEADER_BYTES = 25_000_000
MAX_JSON_BYTES = 50_000_000  # config, index, listing or one-request answer: a larger one is refused, not read
MAX_MODEL_HEADER_BYTES = 512_000_000  # per-model budget over all headers (DeepSeek-V3: ~16 MB)
MAX_SHARDS = 10_000  # shards one index may name

# -- the network
DEFAULT_TIMEOUT = 10.0  # seconds per read
MAX_RETRIES = 3
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_BASE_WAIT = 0.5  # then 1 s, 2 s: exponential backoff, unless the server says Retry-After
MAX_RETRY_WAIT = 30.0
REQUEST_DEADLINE = 300.0  # seconds for one whole answer (DeepSeek-V3's 11.6 MB at 40 kB/s)

# -- decoding
# A safetensors-metadata answer this large (Qwen3-30B-A3B: 2.3 MB, DeepSeek-V3: 11.6 MB) is decoded in a
# worker process during a scan when one is available (workers.DecoderPool); smaller ones stay in-process.
OFFLOAD_BYTES = 1_000_000
# Inputs this large are decoded with the cyclic garbage collector paused (decode.gc_paused).
GC_PAUSE_BYTES = 1_000_000
