"""`python -m hubvram`: the same as the `hubvram` command."""

from __future__ import annotations

from .cli import main

main()
