"""What the serving estimates need to know about a GPU, as a structural type.

The estimator stage comes before the GPU stage (README, Architecture), so it does not import
``hubvram.gpus``: ``gpus.catalog.Gpu`` (a catalog card, or a ``--gpu-memory`` one with the speed figures
None) matches this protocol by its fields, and so does any object with these attributes.
"""

from __future__ import annotations

from typing import Protocol


class Device(Protocol):
    @property
    def name(self) -> str: ...  # vLLM's batch defaults look at it ("a100")

    @property
    def kind(self) -> str: ...  # consumer | workstation | datacenter | apple | custom

    @property
    def memory_bytes(self) -> int: ...  # what one process can allocate: cudaMemGetInfo's total

    @property
    def bandwidth_bytes_per_s(self) -> int | None: ...  # peak memory bandwidth; None = unknown

    @property
    def fp16_dense_flops(self) -> int | None: ...  # dense FP16/BF16 matrix peak; None = unknown

    @property
    def fp8_dense_flops(self) -> int | None: ...  # dense FP8 matrix peak; 0 = no FP8 units, None = unknown

    @property
    def arch(self) -> str | None: ...  # Hopper, Blackwell, ... (vLLM's MLA backend depends on it)
