"""The GPU catalog, name lookup and size parsing. Expected numbers are worked out in the comments."""

from __future__ import annotations

import pytest

from hubvram.cli.errors import cli_message
from hubvram.errors import UnknownGpu, UsageError
from hubvram.gpus import Gpu, custom_gpu, default_gpus, find_gpu, load_catalog, parse_size
from hubvram.gpus.catalog import DEFAULT_GPU_NAMES

GiB = 2**30
MiB = 2**20


# --- catalog invariants -----------------------------------------------------------------------------


def test_catalog_rows_are_sane():
    catalog = load_catalog()
    assert len(catalog) >= 30
    names = [gpu.name for gpu in catalog]
    assert len(names) == len(set(names))
    for gpu in catalog:
        assert isinstance(gpu.memory_bytes, int) and isinstance(gpu.reported_bytes, int)
        assert 0 < gpu.memory_bytes <= gpu.reported_bytes, gpu.name
        assert gpu.source and gpu.note, gpu.name
        assert gpu.vendor in {"NVIDIA", "AMD", "Apple"}
        assert gpu.kind in {"consumer", "workstation", "datacenter", "apple"}


def test_catalog_is_cached_and_every_name_finds_itself():
    assert load_catalog() is load_catalog()
    for gpu in load_catalog():
        assert find_gpu(gpu.name) is gpu
        for alias in gpu.aliases:
            assert find_gpu(alias) is gpu, alias


@pytest.mark.parametrize(
    "name, usable, reported",
    [
        # RTX 4090: deviceQuery 24081 MiB of nvidia-smi's 24564 MiB.
        ("RTX 4090", 25_250_627_584, 24564 * MiB),
        # H100 SXM: torch total_memory 81082 MiB of 81559 MiB.
        ("H100 80GB", 81082 * MiB, 85_520_809_984),
        # H200: 143771 MiB total - 700 MiB reserved.
        ("H200", 143071 * MiB, 150_754_820_096),
        # RTX 3060 12GB: 12288 MiB - 483 MiB fallback GDDR reserve = 11805 MiB.
        ("RTX 3060 12GB", 11805 * MiB, 12 * GiB),
        # T4: ECC already out of 15360 MiB (16384 * 15/16); torch total 14.75 GiB = 15104 MiB.
        ("T4", 15104 * MiB, 15360 * MiB),
        # MI300X: HIP total = rocm-smi total, 192 GiB - 320 MiB.
        ("MI300X", 192 * GiB - 320 * MiB, 205_822_885_888),
        # MI250X: one GCD, 64 GiB - 16 MiB (65520 MiB), not the 128 GB of the package.
        ("MI250X (1 GCD)", 65520 * MiB, 68_702_699_520),
    ],
)
def test_known_figures(name, usable, reported):
    gpu = find_gpu(name)
    assert (gpu.memory_bytes, gpu.reported_bytes) == (usable, reported)


@pytest.mark.parametrize(
    "name, ram_gib, usable",
    [
        ("Apple M2 Max 32GB", 32, 22_906_492_245),  # 2/3 * 32 GiB = 21845.33 MiB (ollama#434), floored
        ("Apple M2 Max 96GB", 96, 72 * GiB),  # 3/4 * 96 GiB = 73728 MiB (llama.cpp#3213)
        ("Apple M3 Max 36GB", 36, 27 * GiB),  # 3/4 * 36 GiB = 28991029248 B
        ("Apple M3 Max 128GB", 128, 96 * GiB),  # 3/4 * 128 GiB
        ("Apple M4 Max 64GB", 64, 48 * GiB),
        ("Apple M2 Ultra 192GB", 192, 144 * GiB),  # Rapid-MLX#183: 144 GB working set
    ],
)
def test_apple_working_set(name, ram_gib, usable):
    gpu = find_gpu(name)
    assert gpu.reported_bytes == ram_gib * GiB
    assert gpu.memory_bytes == usable


def test_every_apple_row_is_two_thirds_or_three_quarters():
    apple = [gpu for gpu in load_catalog() if gpu.kind == "apple"]
    assert len(apple) == 17  # M4 16GB, M4 Pro 24GB, M2 Max x3, M3 Max x5, M4 Max x4, M2 Ultra x3
    for gpu in apple:
        ram = gpu.reported_bytes
        expected = ram * 2 // 3 if ram <= 32 * GiB else ram * 3 // 4
        assert gpu.memory_bytes == expected, gpu.name


def test_unverified_rows_are_marked():
    mi325x = find_gpu("MI325X")
    assert not mi325x.verified
    assert mi325x.source.startswith("unverified")
    # MI325X, and the RTX 4060's 8188 MiB (what 8 GB GeForce cards report, not seen for this one)
    assert sorted(gpu.name for gpu in load_catalog() if not gpu.verified) == ["MI325X", "RTX 4060"]


def test_to_dict():
    gpu = find_gpu("4090")
    assert gpu.to_dict() == {
        "name": "RTX 4090",
        "vendor": "NVIDIA",
        "kind": "consumer",
        "memory_bytes": 25_250_627_584,
        "reported_bytes": 25_757_220_864,
        "note": gpu.note,
        "source": "https://github.com/RLinf/RLinf/issues/255 (nvidia-smi 24564 MiB)",
        # Ada whitepaper, Appendix A: 1008 GB/s, FP16 tensor with FP32 accumulate 165.2 dense, FP8 330.3 dense
        "bandwidth_bytes_per_s": 1_008_000_000_000,
        "fp16_dense_flops": 165_200_000_000_000,
        "fp8_dense_flops": 330_300_000_000_000,
        "bf16": True,
        "arch": "Ada",
        "specs_source": gpu.specs_source,
    }
    assert gpu.specs_source.startswith("NVIDIA Ada GPU Architecture whitepaper")


# --- serving columns ----------------------------------------------------------------------------------


def test_every_catalog_row_has_typed_serving_figures():
    for gpu in load_catalog():
        assert isinstance(gpu.bandwidth_bytes_per_s, int) and gpu.bandwidth_bytes_per_s > 10**11, gpu.name
        assert isinstance(gpu.fp16_dense_flops, int) and gpu.fp16_dense_flops > 10**12, gpu.name
        assert isinstance(gpu.fp8_dense_flops, int) and gpu.fp8_dense_flops >= 0, gpu.name
        assert isinstance(gpu.bf16, bool) and gpu.arch and gpu.specs_source, gpu.name
        # where FP8 exists it runs at twice the FP16 rate (L40S datasheet: 362.05 vs 733, 2.02x)
        if gpu.fp8_dense_flops:
            assert abs(gpu.fp8_dense_flops / gpu.fp16_dense_flops - 2) < 0.03, gpu.name


@pytest.mark.parametrize(
    "name, bandwidth, fp16, fp8, bf16, arch",
    [
        # H100 SXM datasheet: 3.35 TB/s, 1979 / 3958 TFLOPS with sparsity -> 989.4 / 1978.9 dense
        ("H100 80GB", 3_350_000_000_000, 989_400_000_000_000, 1_978_900_000_000_000, True, "Hopper"),
        # A100 80GB SXM datasheet: 2039 GB/s, 312 TFLOPS dense BF16, no FP8 units
        ("A100 80GB", 2_039_000_000_000, 312_000_000_000_000, 0, True, "Ampere"),
        # T4 datasheet: 320 GB/s, 65 TFLOPS mixed precision, no bf16 tensor path, no FP8
        ("T4", 320_000_000_000, 65_000_000_000_000, 0, False, "Turing"),
    ],
)
def test_serving_figures(name, bandwidth, fp16, fp8, bf16, arch):
    gpu = find_gpu(name)
    assert (gpu.bandwidth_bytes_per_s, gpu.fp16_dense_flops, gpu.fp8_dense_flops) == (bandwidth, fp16, fp8)
    assert (gpu.bf16, gpu.arch, gpu.has_fp8) == (bf16, arch, fp8 > 0)


def test_custom_gpu_has_unknown_serving_figures():
    gpu = custom_gpu("24GiB")
    assert gpu.bandwidth_bytes_per_s is None and gpu.fp16_dense_flops is None and gpu.fp8_dense_flops is None
    assert gpu.bf16 is None and gpu.arch is None and not gpu.has_fp8
    data = gpu.to_dict()
    assert data["bandwidth_bytes_per_s"] is None and data["fp16_dense_flops"] is None


# --- lookup ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, canonical",
    [
        ("3060", "RTX 3060 12GB"),
        ("RTX 3060", "RTX 3060 12GB"),
        ("4090", "RTX 4090"),
        ("RTX 4090", "RTX 4090"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("rtx4090", "RTX 4090"),
        ("rtx-5090", "RTX 5090"),
        ("nvidia l4", "L4"),
        ("L40S", "L40S"),
        ("l40s", "L40S"),
        ("A100-40G", "A100 40GB"),
        ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
        ("A100-80G", "A100 80GB"),
        ("a100 80gb", "A100 80GB"),
        ("A100_80GB", "A100 80GB"),
        ("H100", "H100 80GB"),
        ("h100-sxm", "H100 80GB"),
        ("NVIDIA H100 80GB HBM3", "H100 80GB"),
        ("H100 PCIe", "H100 PCIe"),  # its own row since the catalog has bandwidth: no longer the SXM card
        ("h200", "H200"),
        ("NVIDIA B200", "B200"),
        ("MI300X", "MI300X"),
        ("AMD Instinct MI300X", "MI300X"),
        ("M3 Max 128GB", "Apple M3 Max 128GB"),
        ("apple m3-max-128", "Apple M3 Max 128GB"),
        ("4060 Ti", "RTX 4060 Ti 16GB"),  # only the size left out, and only one size exists
        ("Tesla T4", "T4"),
        ("A10", "A10"),
        ("MI250X", "MI250X (1 GCD)"),
    ],
)
def test_find_gpu_forgiving(typed, canonical):
    assert find_gpu(typed).name == canonical


def test_every_default_gpu_resolves_by_its_short_name():
    assert [gpu.name for gpu in default_gpus()] == list(DEFAULT_GPU_NAMES)
    assert len(default_gpus()) == 8  # 8/12/16/24/32 GB cards, a base and a Pro Mac, one H100
    assert [gpu.memory_bytes > 7 * 2**30 for gpu in default_gpus()] == [True] * 8
    sizes = [gpu.memory_bytes for gpu in default_gpus()]
    assert all(isinstance(size, int) for size in sizes)


def test_unknown_gpu_suggests_the_closest_names():
    """The library's error names the closest cards as fields; the CLI adds the flag that helps."""
    with pytest.raises(UnknownGpu) as info:
        find_gpu("RTX 4900")
    assert str(info.value) == "unknown GPU 'RTX 4900'; did you mean RTX 4090, RTX 4080, RTX 4070?"
    assert info.value.name == "RTX 4900" and info.value.candidates == ("RTX 4090", "RTX 4080", "RTX 4070")
    assert cli_message(info.value) == (
        "unknown GPU 'RTX 4900'; did you mean RTX 4090, RTX 4080, RTX 4070? "
        "Otherwise give its memory with --gpu-memory (e.g. 24GiB)"
    )
    assert "\n" not in cli_message(info.value)


def test_unknown_gpu_without_a_close_name():
    with pytest.raises(UnknownGpu) as info:
        find_gpu("qqqqq zzz")
    assert str(info.value) == "unknown GPU 'qqqqq zzz' (not in the catalog)" and info.value.candidates == ()
    expected = "unknown GPU 'qqqqq zzz'; not in the catalog; give its memory with --gpu-memory (e.g. 24GiB)"
    assert cli_message(info.value) == expected


def test_l40_is_not_silently_an_l40s():
    with pytest.raises(UsageError, match="did you mean L40S"):
        find_gpu("L40")


def test_ambiguous_name_lists_the_sizes():
    with pytest.raises(UnknownGpu) as info:
        find_gpu("A100")
    assert str(info.value) == "GPU 'A100' is ambiguous: A100 40GB, A100 80GB; name the size"
    assert info.value.ambiguous and info.value.candidates == ("A100 40GB", "A100 80GB")
    assert cli_message(info.value) == (
        "GPU 'A100' is ambiguous: A100 40GB, A100 80GB; name the size, or pass --gpu-memory"
    )
    with pytest.raises(UsageError, match="Apple M3 Max 36GB, .*Apple M3 Max 128GB"):
        find_gpu("M3 Max")


# --- sizes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("24GiB", 24 * 2**30),  # 25769803776
        ("24GB", 24 * 10**9),
        ("24 gb", 24 * 10**9),
        ("24 GB ", 24 * 10**9),
        ("80g", 80 * 2**30),  # nvidia-smi users: G means GiB
        ("80G", 85_899_345_920),
        ("25769803776", 25_769_803_776),  # bare number = bytes
        ("1024b", 1024),
        ("512MiB", 512 * 2**20),
        ("512M", 536_870_912),
        ("16000MB", 16 * 10**9),
        ("1.5GiB", 1_610_612_736),
        ("22.2GiB", 23_837_068_492),  # 22.2 * 2**30 = 23837068492.8, fraction of a byte dropped
        ("2TB", 2 * 10**12),
        ("1TiB", 2**40),
        ("100TB", 10**14),  # the limit itself is allowed
        (25769803776, 25_769_803_776),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("0", "must be positive"),
        ("0GB", "must be positive"),
        ("-5GB", "must be positive"),
        ("101TB", "over 100 TB"),
        ("1PB", "invalid size"),
        ("abc", "invalid size"),
        ("", "invalid size"),
        ("24 GXB", "invalid size"),
        ("1.5", "not a whole number of bytes"),
        ("24 GB extra", "invalid size"),
        (-1, "must be positive"),
    ],
)
def test_parse_size_rejects(text, message):
    with pytest.raises(UsageError, match=message):
        parse_size(text)


def test_custom_gpu():
    gpu = custom_gpu("24GiB")
    assert isinstance(gpu, Gpu)
    assert gpu.name == "custom (24GiB)"
    assert gpu.memory_bytes == gpu.reported_bytes == 25_769_803_776
    assert gpu.kind == "custom"
    with pytest.raises(UsageError):
        custom_gpu("-3g")
