"""The model stage: what a repo's config and headers say, as ModelFacts (types, config, counts, families)."""

from __future__ import annotations

from .build import facts_from_snapshot
from .config import read_architecture
from .facts import Architecture, ModelFacts, ParameterCount

__all__ = ["Architecture", "ModelFacts", "ParameterCount", "facts_from_snapshot", "read_architecture"]
