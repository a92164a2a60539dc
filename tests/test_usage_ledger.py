"""GB-day arithmetic: the ledger's step function integrated exactly, and the pricing rule.

Units: GB = 10**9 bytes (as OpenAI bills), GB-day = 10**9 bytes held for 86,400 s.
"""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from fractions import Fraction

from retrievd.usage.pricing import PRESETS, Pricing
from retrievd.usage.storage import BYTE_SECONDS_PER_GB_DAY, DAY, GB, bucket_edges, elapsed, integrate


def brute_force(initial: int, changes: list[tuple[int, int]], edges: list[int], until: int) -> list[int]:
    """Second by second: the value at second t is the last change at or before t."""
    out = []
    for lo, hi in itertools.pairwise(edges):
        total = 0
        for t in range(lo, min(hi, until)):
            value = initial
            for at, after in changes:
                if at <= t:
                    value = after
            total += value
        out.append(total)
    return out


def test_a_gb_day_is_a_billion_bytes_for_a_day() -> None:
    assert GB == 1_000_000_000 and DAY == 86_400
    assert BYTE_SECONDS_PER_GB_DAY == 86_400_000_000_000
    [one] = integrate(GB, [], [0, DAY], until=DAY)
    assert Fraction(one, BYTE_SECONDS_PER_GB_DAY) == 1


def test_integration_matches_counting_every_second() -> None:
    rng = random.Random(7)
    for _ in range(200):
        edges = bucket_edges(rng.randrange(0, 50), rng.randrange(60, 400), rng.choice([7, 13, 60]))
        changes = sorted(
            (rng.randrange(edges[0] + 1, edges[-1] + 20), rng.randrange(0, 10**6))
            for _ in range(rng.randrange(0, 8))
        )
        changes = [c for c in changes if c[0] < edges[-1]]
        until = rng.randrange(edges[0], edges[-1] + 30)
        initial = rng.randrange(0, 10**6)
        assert integrate(initial, changes, edges, until) == brute_force(initial, changes, edges, until)


def test_changes_on_a_bucket_edge_belong_to_the_later_bucket() -> None:
    assert integrate(0, [(10, 5), (10, 7), (20, 0)], [0, 10, 20, 30], until=30) == [0, 70, 0]


def test_buckets_align_on_utc_days_and_nothing_accrues_after_now() -> None:
    edges = bucket_edges(DAY + 3600, 3 * DAY - 1, DAY)
    assert edges == [DAY, 2 * DAY, 3 * DAY]
    assert elapsed(edges, until=2 * DAY + 100) == [DAY, 100]
    assert integrate(1000, [], edges, until=2 * DAY + 100) == [1000 * DAY, 1000 * 100]


def test_the_default_price_is_ten_cents_per_gb_day_with_one_gb_free_per_project() -> None:
    standard = PRESETS["standard"]
    assert standard == Pricing(Decimal("0.10"), Decimal(1))
    assert standard.day_cost(3 * GB * DAY, DAY) == Fraction(2, 10)  # 3 GB all day: 2 GB-days billed
    assert standard.day_cost(9 * GB * DAY // 10, DAY) == 0  # under the allowance
    # 2 GB for half the day averages 1 GB: all of it free.
    assert standard.day_cost(2 * GB * DAY // 2, DAY) == 0
    # Halfway through today with 3 GB held: half of today's allowance is used up.
    assert standard.day_cost(3 * GB * DAY // 2, DAY // 2) == Fraction(1, 10)


def test_the_flat_preset_bills_every_byte_at_twenty_cents() -> None:
    flat = PRESETS["flat"]
    assert flat.day_cost(GB * DAY // 4, DAY) == Fraction(5, 100)
    assert flat.day_cost(1, DAY) == Fraction(1, 5 * BYTE_SECONDS_PER_GB_DAY)
