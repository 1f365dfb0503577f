"""Spread over repeats and the one rule every comparison in the report obeys.

A figure measured in n repeats is its median with an interval: the 95 % bootstrap interval of
the median when n ≥ 5, min–max when n is smaller (a bootstrap of 3 values says nothing the
range does not). Two figures differ only when their intervals do not overlap *and* the ratio of
their medians exceeds 10 %; otherwise the difference is inside the noise of the run.
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


def compare(a: Spread, b: Spread) -> Direction:
    """Is `a` higher, lower or the same as `b` by the report's rule?"""
    overlap = a.low <= b.high and b.low <= a.high
    if overlap or b.median == 0 or a.median == 0:
        return "same"
    if a.median > b.median * (1 + RATIO):
        return "higher"
    if b.median > a.median * (1 + RATIO):
        return "lower"
    return "same"


def noise(*spreads: Spread) -> float:
    """The widest relative half-width among these figures: the run's noise where they were
    compared."""
    return max((s.half_width for s in spreads), default=0.0)


def judgeable(*spreads: Spread) -> bool:
    """A comparison needs repeats on both sides: one run says nothing about its noise."""
    return all(s.n >= 2 for s in spreads)
