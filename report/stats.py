"""Spread over repeats, and the one rule every comparison in the report obeys.

A figure measured in n repeats is its median with an interval: the 95 % bootstrap interval of
the median when n ≥ 5, min–max when n is smaller (a bootstrap of 3 values says nothing the
range does not).

**The rule** (benchstat's test with asv's practical threshold): two sets of per-repeat values
differ when a two-sided Mann–Whitney U test, exact and with ties at mid-ranks, gives
p < 0.05 *and* the larger median exceeds the smaller by more than 10 %. Otherwise they are the
same at this noise. Figures counted rather than sampled (lines of code, handshake outcomes,
events a page could read) carry no noise: for them the threshold alone decides. Four repeats a
side are the fewest from which the test can reach p < 0.05.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

RATIO = 0.10
"""Below this relative difference of medians, two figures are the same for the report."""
BOOTSTRAP_FROM = 5
RESAMPLES = 2000

Direction = Literal["higher", "lower", "same"]


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float
    n: int
    method: Literal["bootstrap 95 %", "min–max", "single run"]

    @property
    def half_width(self) -> float:
        """Half the interval relative to the median, as a fraction (0.05 = ± 5 %)."""
        if self.median == 0:
            return 0.0
        return (self.high - self.low) / 2 / abs(self.median)


def spread(values: Sequence[float], seed: int = 0) -> Spread | None:
    """Median and interval of repeat values; None without any value."""
    data = sorted(values)
    if not data:
        return None
    median = statistics.median(data)
    if len(data) == 1:
        return Spread(median, median, median, 1, "single run")
    if len(data) < BOOTSTRAP_FROM:
        return Spread(median, data[0], data[-1], len(data), "min–max")
    rng = random.Random(seed)  # a report drawn twice from one run reads the same
    medians = sorted(statistics.median(rng.choices(data, k=len(data))) for _ in range(RESAMPLES))
    low = medians[int(0.025 * RESAMPLES)]
    high = medians[int(0.975 * RESAMPLES) - 1]
    return Spread(median, low, high, len(data), "bootstrap 95 %")


ALPHA = 0.05
"""The test's level: below it, a difference of medians is not the repeats' noise."""

MIN_REPEATS = 4
"""The fewest repeats a side from which the test can call two figures different at all
(2 / C(8, 4) = 0.029 < ALPHA; with three a side the smallest p is 0.1)."""

RULE = (
    "two sets of per-repeat values differ when a two-sided exact Mann–Whitney U test gives "
    "p < 0.05 and their medians are more than 10 % apart (counted figures: the 10 % alone)"
)


@dataclass(frozen=True, slots=True)
class Difference:
    """How one set of per-repeat values stands against another by the rule."""

    direction: Direction
    p: float | None
    """The test's two-sided p-value; None for counted figures, which carry no noise."""
    ratio: float | None
    """Median of a ÷ median of b; None where b's median is 0."""


def beyond_threshold(a: float, b: float) -> bool:
    """The larger of two medians exceeds the smaller by more than RATIO (0 against non-zero
    always does)."""
    low, high = sorted((abs(a), abs(b)))
    if high == 0:
        return False
    return low == 0 or high / low > 1 + RATIO


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Exact two-sided p-value of the Mann–Whitney U test, ties taking mid-ranks: the share of
    all splits of the pooled values into groups of len(a) and len(b) whose rank sum lies at
    least as far from its mean as a's does."""
    pooled = sorted([*a, *b])
    n, total = len(a), len(a) + len(b)
    # Mid-ranks, doubled so that every rank is an integer.
    rank2: dict[float, int] = {}
    index = 0
    while index < total:
        end = index
        while end + 1 < total and pooled[end + 1] == pooled[index]:
            end += 1
        rank2[pooled[index]] = index + end + 2
        index = end + 1
    ranks = [rank2[v] for v in pooled]
    observed = sum(rank2[v] for v in a)
    mean = n * (total + 1)  # doubled, as the ranks are
    # ways[k][s]: how many subsets of k of the pooled values have doubled rank sum s.
    ways: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(n)]
    for rank in ranks:
        for k in range(n, 0, -1):
            for partial, count in ways[k - 1].items():
                ways[k][partial + rank] = ways[k].get(partial + rank, 0) + count
    splits = sum(ways[n].values())
    extreme = sum(c for s, c in ways[n].items() if abs(s - mean) >= abs(observed - mean))
    return extreme / splits


def judge(a: Sequence[float], b: Sequence[float], counted: bool = False) -> Difference:
    """Is `a` higher, lower or the same as `b` by the rule?"""
    if not a or not b:
        raise ValueError(f"expected values on both sides, got {len(a)} and {len(b)}")
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = ma / mb if mb else None
    p = None if counted else mann_whitney_p(a, b)
    if not beyond_threshold(ma, mb) or (p is not None and p >= ALPHA):
        return Difference("same", p, ratio)
    return Difference("higher" if ma > mb else "lower", p, ratio)
