"""Fit arithmetic. Every expected number is worked out by hand in the comment beside it."""

from __future__ import annotations

import itertools

import pytest

from hubvram.errors import UsageError
from hubvram.gpus import Fit, Gpu, custom_gpu, find_gpu, fit, gpus_needed, largest_fitting, per_gpu_bytes

GB = 10**9
GiB = 2**30


def card(memory: int) -> Gpu:
    return Gpu(name="test", vendor="test", kind="custom", memory_bytes=memory, reported_bytes=memory)


def test_7b_fp16_on_a_4090_fits_with_headroom():
    # RTX 4090 usable 25,250,627,584 B; 13.5 GB needed -> 25,250,627,584 - 13,500,000,000 = 11,750,627,584.
    result = fit(13_500_000_000, find_gpu("RTX 4090"))
    assert result.fits
    assert result.gpus_needed == 1
    assert result.headroom_bytes == 11_750_627_584
    assert result.per_gpu_bytes == 13_500_000_000
    assert result.shortfall_bytes == 0
    assert result.to_dict() == {
        "fits": True,
        "gpus_needed": 1,
        "headroom_bytes": 11_750_627_584,
        "per_gpu_bytes": 13_500_000_000,
    }


def test_40gb_on_24gb_cards_with_1gb_replicated_needs_two():
    # shardable 39 GB over n cards + 1 GB each <= 24 GB -> 39/n <= 23 -> n = 2; 19.5 + 1 = 20.5 GB each.
    result = fit(40 * GB, custom_gpu("24GB"), replicated_bytes=1 * GB)
    assert not result.fits
    assert result.gpus_needed == 2
    assert result.per_gpu_bytes == 20_500_000_000
    assert result.headroom_bytes == -16 * GB  # 24 - 40 GB on a single card
    assert result.shortfall_bytes == 16 * GB


def test_70b_fp16_on_h100s():
    # H100 usable 81082 MiB = 85,020,639,232 B. 140 GB with 2 GiB replicated:
    # shardable 140e9 - 2,147,483,648 = 137,852,516,352; per card room 85,020,639,232 - 2,147,483,648
    # = 82,873,155,584 -> n = ceil(1.663...) = 2; each 68,926,258,176 + 2,147,483,648 = 71,073,741,824.
    result = fit(140 * GB, find_gpu("H100"), replicated_bytes=2 * GiB)
    assert (result.fits, result.gpus_needed, result.per_gpu_bytes) == (False, 2, 71_073_741_824)
    assert result.headroom_bytes == 85_020_639_232 - 140 * GB


def test_replication_can_need_more_cards_than_plain_division():
    # 100 on cards of 30 with 10 replicated: 90/n + 10 <= 30 -> n >= 4.5 -> 5 (plain 100/30 would say 4).
    assert gpus_needed(100, 30, replicated_bytes=10) == 5
    assert per_gpu_bytes(100, 5, replicated_bytes=10) == 28  # 18 + 10
    assert per_gpu_bytes(100, 4, replicated_bytes=10) == 33  # ceil(22.5) + 10 = 33 > 30


def test_boundaries():
    assert fit(24 * GB, card(24 * GB)).fits  # exactly full fits
    over = fit(24 * GB + 1, card(24 * GB))
    assert (over.fits, over.gpus_needed, over.headroom_bytes) == (False, 2, -1)
    assert over.per_gpu_bytes == 12 * GB + 1  # ceil((24e9 + 1) / 2)
    empty = fit(0, card(1))
    assert (empty.fits, empty.gpus_needed, empty.per_gpu_bytes) == (True, 1, 0)


def test_replicated_part_alone_too_big():
    # 30 replicated on a 24-byte card never fits, however many cards.
    result = fit(50, card(24), replicated_bytes=30)
    assert (result.fits, result.gpus_needed, result.per_gpu_bytes) == (False, None, None)
    # replicated exactly fills the card: only a zero shard would fit
    assert gpus_needed(30, 30, replicated_bytes=30) == 1
    assert gpus_needed(31, 30, replicated_bytes=30) is None


def test_max_gpus():
    # 1000 GB on 24 GB cards: ceil(1000/24) = 42 cards of ceil(1000e9/42) = 23,809,523,810 B.
    assert fit(1000 * GB, card(24 * GB)).gpus_needed == 42
    assert fit(1000 * GB, card(24 * GB)).per_gpu_bytes == 23_809_523_810
    capped = fit(1000 * GB, card(24 * GB), max_gpus=8)
    assert (capped.gpus_needed, capped.per_gpu_bytes) == (None, None)
    assert fit(1000 * GB, card(24 * GB), max_gpus=42).gpus_needed == 42
    with pytest.raises(UsageError):
        fit(1, card(1), max_gpus=0)
    with pytest.raises(ValueError):
        fit(10, card(100), replicated_bytes=11)


def test_closed_form_matches_brute_force():
    for total, replicated, memory in itertools.product(range(0, 40), range(0, 12), range(1, 15)):
        if replicated > total:
            continue
        brute = next(
            (n for n in range(1, 65) if -(-(total - replicated) // n) + replicated <= memory),
            None,
        )
        assert gpus_needed(total, memory, replicated_bytes=replicated) == brute, (total, replicated, memory)


def test_fit_is_frozen():
    result = fit(1, card(2))
    assert isinstance(result, Fit)
    with pytest.raises(AttributeError):
        result.fits = False  # type: ignore[misc]


# --- largest_fitting ------------------------------------------------------------------------------------


def test_largest_batch():
    # 1000 fixed + 300 per item within 10,000: 300 b <= 9000 -> b = 30.
    assert largest_fitting(lambda b: 1000 + 300 * b, 10_000) == 30


def test_largest_context_on_a_4090():
    # 14 GB weights + 131,072 B per token (Llama-2-7B fp16 KV: 2 * 32 layers * 4096 * 2 B) within
    # 25,250,627,584 B: (25,250,627,584 - 14e9) / 131,072 = 85,835.47 -> 85,835 tokens.
    assert largest_fitting(lambda t: 14 * GB + 131_072 * t, 25_250_627_584) == 85_835


def test_largest_fitting_none_and_cap():
    assert largest_fitting(lambda b: 100 * b, 50) is None  # even lo = 1 needs 100
    assert largest_fitting(lambda b: 0, 1, hi=1000) == 1000  # everything fits: the cap comes back
    assert largest_fitting(lambda b: b, 10, lo=10, hi=10) == 10
    assert largest_fitting(lambda b: b, 10, lo=0) == 10
    with pytest.raises(ValueError):
        largest_fitting(lambda b: b, 10, lo=5, hi=4)


def test_largest_fitting_bounded_calls_and_exact():
    for limit in [1, 2, 3, 7, 8, 9, 1000, 4097, 2**24 - 1, 2**24]:
        calls = []

        def need(v: int, calls=calls) -> int:
            calls.append(v)
            return v

        assert largest_fitting(need, limit) == limit
        assert len(calls) <= 2 * 24 + 2  # doubling then bisection over [1, 2**24]
        assert len(calls) == len(set(calls))  # no value asked twice
