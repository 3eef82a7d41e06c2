"""A GGUF repo's variants: one per quantization (a single .gguf, or every part of a split one).

Names come from the file names (Q4_K_M, IQ4_XS, UD-Q4_K_XL, BF16), as TheBloke's, bartowski's and
unsloth's repos write them; `mmproj-*` projector files are vision/audio encoders, not variants.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass

from ..errors import UsageError
from ..errors import printable as _short
from . import gguf_types as gt

# The variant read when none is asked for: the quantization people download most (Q4_K_M, then its
# neighbours), so the detailed estimate is the one most users run; failing those, the smallest.
PREFERRED_VARIANTS = ("Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS", "Q5_K_M", "Q8_0", "Q6_K", "BF16", "F16")


@dataclass(frozen=True)
class GgufVariant:
    """One quantization of a repo's model: a single .gguf, or every part of a split one."""

    name: str  # normalised label (Q4_K_M, IQ4_XS, BF16, UD-Q4_K_XL) or, failing one, the file stem
    files: tuple[str, ...]  # in part order
    missing: tuple[int, ...] = ()  # 1-based numbers of split parts the repo lacks
    size: int | None = None  # total bytes, when the caller gave sizes

    @property
    def complete(self) -> bool:
        return not self.missing


_SPLIT = re.compile(r"^(?P<base>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_QUANT = re.compile(  # a quant label between separators; quant names contain underscores themselves
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q[1-8]_(?:K(?:_(?:XXS|XS|XL|S|M|L))?|[01](?:_[48]_[48])?|XXS|XS|NL|XL|S|M|L)"
    r"|BF16|FP16|FP32|F16|F32|MXFP4(?:_MOE)?|NVFP4|TQ[12]_0))(?![A-Za-z0-9])",
    re.IGNORECASE,
)


def is_projector(path: str) -> bool:
    """A multimodal projector (mmproj-*.gguf): a vision/audio encoder, not a variant of the model."""
    return "mmproj" in posixpath.basename(path).lower()


def gguf_variants(paths: Sequence[str], sizes: Mapping[str, int] | None = None) -> list[GgufVariant]:
    """Group a repo's .gguf paths into variants, smallest first (by bytes if sizes are given)."""
    groups: dict[tuple[str, str, int], dict[int, str]] = {}
    for path in paths:
        if not path.lower().endswith(".gguf") or is_projector(path):
            continue
        folder, base = posixpath.split(path)
        split = _SPLIT.match(base)
        key = (folder, split["base"], int(split["count"])) if split else (folder, base[:-5], 0)
        groups.setdefault(key, {})[int(split["no"]) if split else 0] = path
    found = []
    for (folder, stem, count), parts in groups.items():
        labels = _QUANT.findall(posixpath.join(folder, stem))
        name = _label(labels[-1]) if labels else stem
        missing = tuple(n for n in range(1, count + 1) if n not in parts)
        files = tuple(parts[n] for n in sorted(parts))
        size = sum(sizes.get(f, 0) for f in files) if sizes is not None else None
        found.append(GgufVariant(name, files, missing, size))
    found.sort(key=lambda v: ((v.size, v.name) if sizes is not None else _size_rank(v.name)) + v.files[:1])
    names = [v.name.upper() for v in found]  # a label twice (two folders): name them by path
    return [
        v if names.count(v.name.upper()) == 1 else GgufVariant(_stem(v.files[0]), *astuple(v)[1:])
        for v in found
    ]


def gguf_projectors(paths: Sequence[str]) -> list[str]:
    """The repo's projector files, reported beside (never among) the variants."""
    return sorted(p for p in paths if p.lower().endswith(".gguf") and is_projector(p))


def pick_variant(variants: Sequence[GgufVariant], name: str | None) -> GgufVariant:
    """The variant named (case-insensitive), the only one when none is named, or a UsageError."""
    listing = ", ".join(v.name for v in variants) or "none"
    if name is None and len(variants) == 1:
        chosen = variants[0]
    elif name is None:
        raise UsageError(f"this repo has {len(variants)} GGUF variants ({listing}): pick one with --variant")
    else:
        chosen = next((v for v in variants if v.name.upper() == name.strip().upper()), None)
        if chosen is None:
            raise UsageError(f"no GGUF variant '{_short(name)}' in this repo; it has: {listing}")
    if chosen.missing:
        raise UsageError(
            f"GGUF variant {chosen.name} lacks split part(s) {', '.join(map(str, chosen.missing))}"
        )
    return chosen


def _label(text: str) -> str:
    label = text.upper()
    return {"FP16": "F16", "FP32": "F32"}.get(label, label)


def _stem(path: str) -> str:
    split = _SPLIT.match(posixpath.basename(path))
    return posixpath.join(posixpath.dirname(path), split["base"]) if split else path[:-5]


def _size_rank(name: str) -> tuple[float, int, str]:
    """Order labels by the bits per weight of the ggml type behind them, then by mix size (S < M < L)."""
    label = name.upper().removeprefix("UD-")
    mix = label.rpartition("_")[2]
    if "_K_" in label:  # a K-quant mix: Q4_K_M is mostly Q4_K
        base = label.partition("_K_")[0] + "_K"
    else:
        base = gt.MIX_BASE.get(label, label)
    code = gt.GGML_TYPE_BY_NAME.get(base)
    bits = gt.GGML_TYPES[code].bits_per_weight if code is not None else math.inf
    return bits, gt.MIX_RANK.get(mix, 3), name


def default_variant(variants: Sequence[GgufVariant]) -> GgufVariant | None:
    """The complete variant read when --variant is not given (see PREFERRED_VARIANTS)."""
    complete = [v for v in variants if v.complete]
    for name in PREFERRED_VARIANTS:
        found = next((v for v in complete if v.name.upper() == name), None)
        if found is not None:
            return found
    return complete[0] if complete else None
