"""`python -m hubvram.testing --root fixtures/hub --port 8765`: the fake Hub alone (benchmarks, demos)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .server import HubServer


def main(argv: Iterable[str] | None = None) -> int:
    default_root = Path(__file__).resolve().parent.parent / "fixtures" / "hub"
    parser = argparse.ArgumentParser(description="Serve fixture repos as a fake Hugging Face Hub.")
    parser.add_argument("--root", default=str(default_root), help="folder of <org>/<name>/repo.json repos")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before each answer")
    args = parser.parse_args(list(argv) if argv is not None else None)

    server = HubServer(args.root, latency=args.latency, host=args.host, port=args.port)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    url = server.start()
    print(f"HF_ENDPOINT={url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
