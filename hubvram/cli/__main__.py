"""`python -m hubvram.cli`: the same as the `hubvram` command."""

from __future__ import annotations

from . import main

main()
