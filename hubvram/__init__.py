"""hubvram: how much GPU memory a Hugging Face Hub model needs, read from config.json and safetensors headers."""

from __future__ import annotations

__version__ = "0.1.0"
