"""The GPU catalog: which devices hubvram knows, and how many bytes one process can use on each.

The catalog is package data (`hubvram/data/gpus.tsv`); every row says how its usable figure was
derived and where the reported total was seen. A size the user types (`--gpu-memory 24GiB`)
becomes a custom Gpu through `parse_size`.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import UnknownGpu, UsageError

# Short list for the default fit table: the cards people own (8/12/16/24/32 GB), a base and a Pro Mac, one
# data-centre card; `--gpu all` holds a model against the whole catalog.
DEFAULT_GPU_NAMES: tuple[str, ...] = (
    "RTX 4060",  # 8 GB
    "RTX 3060 12GB",
    "RTX 4060 Ti 16GB",
    "RTX 4090",  # 24 GB
    "RTX 5090",  # 32 GB
    "Apple M4 16GB",  # a base Mac
    "Apple M4 Pro 24GB",  # a Pro Mac
    "H100 80GB",  # one data-centre card
)

# Largest size parse_size accepts: 100 TB (decimal), far above any single accelerator.
MAX_SIZE_BYTES = 100 * 10**12

# Units: decimal SI prefixes for "kB/MB/GB/TB", binary for "KiB/MiB/GiB/TiB", and binary for the bare
# "K/M/G/T" letters, as nvidia-smi and `docker --memory` users mean them ("80g" = 80 GiB).
_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
    "t": 2**40,
}
_SIZE_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-zA-Z]*)\s*$")

# Words that name the vendor or product line but not the device; dropped before matching.
_NOISE_WORDS = ("nvidia", "geforce", "tesla", "amd", "instinct", "radeon", "apple", "rtx")


@dataclass(frozen=True)
class Gpu:
    """One device a model can be placed on. memory_bytes is what one process can allocate."""

    name: str
    vendor: str
    kind: str  # consumer | workstation | datacenter | apple | custom
    memory_bytes: int  # usable: reported total minus the driver reserve (CUDA context not taken out)
    reported_bytes: int  # what nvidia-smi / rocm-smi report (Apple: installed RAM)
    note: str = ""  # how memory_bytes was derived
    source: str = ""  # where reported_bytes was seen; starts with "unverified" when it was not
    aliases: tuple[str, ...] = ()
    # Serving figures (peaks; gpus.tsv header says how each was read). None = unknown (a --gpu-memory card).
    bandwidth_bytes_per_s: int | None = None  # vendor peak memory bandwidth, decimal bytes/s
    fp16_dense_flops: int | None = None  # dense FP16/BF16 matrix FLOP/s, no 2:4 sparsity, FP32 accumulate
    fp8_dense_flops: int | None = None  # dense FP8 matrix FLOP/s; 0 = the part has no FP8 units
    bf16: bool | None = None  # bf16 runs natively at the FP16 rate (Ampere+, CDNA2+)
    arch: str | None = None  # Volta, Turing, Ampere, Ada, Hopper, Blackwell, CDNA2, CDNA3, Apple M2/M3/M4
    specs_source: str = ""  # where bandwidth and FLOPs come from

    @property
    def has_fp8(self) -> bool:
        """FP8 matrix units (Ada, Hopper, Blackwell, CDNA3); False when unknown."""
        return bool(self.fp8_dense_flops)

    @property
    def verified(self) -> bool:
        return not self.source.lower().startswith("unverified")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "kind": self.kind,
            "memory_bytes": self.memory_bytes,
            "reported_bytes": self.reported_bytes,
            "note": self.note,
            "source": self.source,
            "bandwidth_bytes_per_s": self.bandwidth_bytes_per_s,
            "fp16_dense_flops": self.fp16_dense_flops,
            "fp8_dense_flops": self.fp8_dense_flops,
            "bf16": self.bf16,
            "arch": self.arch,
            "specs_source": self.specs_source,
        }


def _normalize(name: str) -> str:
    """Matching key: lower case, vendor words dropped, only letters and digits, "gb" -> "g"."""
    key = name.lower()
    for word in _NOISE_WORDS:
        key = re.sub(rf"\b{word}", " ", key)  # left edge only, so "rtx4090" -> "4090"
    key = re.sub(r"[^a-z0-9]", "", key)
    return key.replace("gb", "g")


@lru_cache(maxsize=1)
def load_catalog() -> tuple[Gpu, ...]:
    """Every GPU in hubvram/data/gpus.tsv, in file order (read once per process)."""
    text = resources.files("hubvram").joinpath("data/gpus.tsv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    gpus = []
    for row in csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t", quoting=csv.QUOTE_NONE):
        aliases = tuple(a.strip() for a in row["aliases"].split(",") if a.strip())
        gpus.append(
            Gpu(
                name=row["name"],
                vendor=row["vendor"],
                kind=row["kind"],
                memory_bytes=int(row["usable_bytes"]),
                reported_bytes=int(row["reported_bytes"]),
                note=row["usable_basis"],
                source=row["source"],
                aliases=aliases,
                bandwidth_bytes_per_s=_count(row, "bandwidth_bytes_per_s"),
                fp16_dense_flops=_count(row, "fp16_dense_flops"),
                fp8_dense_flops=_count(row, "fp8_dense_flops"),
                bf16=_yes_no(row, "bf16"),
                arch=row["arch"].strip() or None,
                specs_source=row["specs_source"].strip(),
            )
        )
    return tuple(gpus)


def _count(row: dict[str, str], column: str) -> int | None:
    """A non-negative integer column of gpus.tsv; empty = unknown (None)."""
    text = (row.get(column) or "").strip()
    if not text:
        return None
    value = int(text)
    if value < 0:
        raise ValueError(f"gpus.tsv: {row['name']}: {column} is negative")
    return value


def _yes_no(row: dict[str, str], column: str) -> bool | None:
    text = (row.get(column) or "").strip().lower()
    if text in ("yes", "no"):
        return text == "yes"
    if not text:
        return None
    raise ValueError(f"gpus.tsv: {row['name']}: {column} is {text!r}, not yes or no")


@lru_cache(maxsize=1)
def _index() -> dict[str, Gpu]:
    """Normalized name or alias -> Gpu. Canonical names win over aliases on a clash."""
    index: dict[str, Gpu] = {}
    catalog = load_catalog()
    for gpu in catalog:
        for alias in gpu.aliases:
            index.setdefault(_normalize(alias), gpu)
    for gpu in catalog:
        index[_normalize(gpu.name)] = gpu
    return index


def find_gpu(name: str) -> Gpu:
    """The catalog GPU a user means by `name`, forgiving case, spacing, dashes and vendor words.

    A name that leaves out only the memory size ("4060 Ti", "M3 Max 128") matches when exactly one
    size exists; when several do ("A100", "M3 Max") the error lists them.
    """
    key = _normalize(name)
    index = _index()
    if key in index:
        return index[key]
    if key:
        # Only a memory-size suffix may be left out: "a100" + "80g", "m3max128" + "g".
        sized = {
            gpu.name: gpu
            for alias, gpu in index.items()
            if alias.startswith(key) and re.fullmatch(r"\d*g", alias[len(key) :])
        }
        if len(sized) == 1:
            return next(iter(sized.values()))
        if len(sized) > 1:
            ordered = tuple(sorted(sized, key=lambda n: sized[n].memory_bytes))
            raise UnknownGpu(
                f"GPU '{name}' is ambiguous: {', '.join(ordered)}; name the size",
                name=name,
                candidates=ordered,
                ambiguous=True,
            )
    close = difflib.get_close_matches(key, list(index), n=6, cutoff=0.5)
    suggestions = list(dict.fromkeys(index[k].name for k in close))[:3]
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else " (not in the catalog)"
    raise UnknownGpu(f"unknown GPU '{name}'{hint}", name=name, candidates=tuple(suggestions))


def default_gpus() -> tuple[Gpu, ...]:
    """The representative cards of the default fit table, smallest first."""
    return tuple(find_gpu(name) for name in DEFAULT_GPU_NAMES)


def parse_size(text: str | int, *, bare_unit: str = "") -> int:
    """Bytes in a size the user typed: "24GiB", "24GB", "24 gb", "80g", "25769803776".

    GB/MB/... are decimal (1e9), GiB/MiB/... binary (2**30), a bare K/M/G/T binary (nvidia-smi
    habit), a bare number is in `bare_unit` (default bytes; --gpu-memory says GB).
    """
    if isinstance(text, bool):
        raise UsageError(f"invalid size {text!r}; give a size such as 24GiB, 24GB or 80g")
    if isinstance(text, int):
        value, unit = Decimal(text), ""
    else:
        match = _SIZE_RE.match(text)
        if not match or match.group(2).lower() not in _UNITS:
            raise UsageError(f"invalid size '{text}'; give a size such as 24GiB, 24GB, 80g or a byte count")
        try:
            value = Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the regex admits only numbers
            raise UsageError(f"invalid size '{text}'; give a size such as 24GiB") from None
        unit = match.group(2).lower() or bare_unit
    size = value * _UNITS[unit]
    if size <= 0:
        raise UsageError(f"size '{text}' must be positive; give a size such as 24GiB")
    if unit in ("", "b") and size != size.to_integral_value():
        raise UsageError(f"size '{text}' is not a whole number of bytes; add a unit such as GiB")
    if size > MAX_SIZE_BYTES:
        raise UsageError(f"size '{text}' is over 100 TB, too large for one GPU; check the unit")
    return int(size)  # int() drops the fraction of a byte: "22.2GiB" -> 23837068492


def custom_gpu(memory: str | int) -> Gpu:
    """A GPU the catalog does not list, from --gpu-memory; the size is used as is (no reserve taken out).

    A bare number is GB (`--gpu-memory 24` is a 24 GB card, what people mean), an int is bytes.
    """
    if isinstance(memory, str) and memory.strip() and memory.strip()[-1].isdigit():
        size = parse_size(memory, bare_unit="gb")
        label = f"{memory.strip()} GB"
    else:
        size = parse_size(memory)
        label = memory.strip() if isinstance(memory, str) else f"{memory} B"
    return Gpu(
        name=f"custom ({label})",
        vendor="custom",
        kind="custom",
        memory_bytes=size,
        reported_bytes=size,
        note="given with --gpu-memory; used as is, no driver reserve taken out",
        source="user",
        # bandwidth, FLOPs, bf16 and arch stay None: a size says nothing about the chip
    )


def resolve_gpus(names: tuple[str, ...] = (), memories: tuple[str, ...] = ()) -> tuple[Gpu, ...]:
    """The GPUs a run is held against: the named ones and the sized ones, else the default set."""
    if any(name.strip().lower() == "all" for name in names):
        return load_catalog() + tuple(custom_gpu(size) for size in memories)
    chosen = tuple(find_gpu(name) for name in names) + tuple(custom_gpu(size) for size in memories)
    return chosen or default_gpus()
