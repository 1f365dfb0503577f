"""Measuring primitives: latency histograms, process CPU and memory from /proc."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

# 1 µs … 60 s at 3 significant digits, as DESIGN.md fixes for every latency we keep.
LOWEST_US = 1
HIGHEST_US = 60_000_000
DIGITS = 3

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record_us(histogram: HdrHistogram, microseconds: float) -> None:
    histogram.record_value(int(min(max(microseconds, LOWEST_US), HIGHEST_US)))


def encode(histogram: HdrHistogram) -> str:
    return str(histogram.encode().decode("ascii"))


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def merge(encoded: list[str]) -> HdrHistogram:
    total = new_histogram()
    for item in encoded:
        total.add(decode(item))
    return total


def summary(histogram: HdrHistogram) -> dict[str, Any]:
    """Percentiles in µs from the raw samples the histogram holds (None when it is empty)."""
    count = histogram.get_total_count()
    if count == 0:
        return {"count": 0, **{k: None for k in PERCENTILES}, "max": None, "mean": None}
    values = {k: histogram.get_value_at_percentile(p) for k, p in PERCENTILES.items()}
    return {
        "count": count,
        **values,
        "max": histogram.get_max_value(),
        "min": histogram.get_min_value(),
        "mean": round(histogram.get_mean_value(), 1),
    }


_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcessSample:
    cpu_seconds: float
    """user + system time of the process so far."""
    rss_bytes: int


def sample_process(pid: int) -> ProcessSample | None:
    """CPU and resident memory of `pid`, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/statm", "rb") as f:
            statm = f.read().split()
    except OSError:
        return None
    # Fields after the parenthesised command name (which may contain spaces).
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return ProcessSample((utime + stime) / _TICKS, int(statm[1]) * _PAGE)


def total_samples(samples: Iterable[ProcessSample | None]) -> ProcessSample | None:
    """CPU and RSS summed over processes, or None if any was gone (a partial sum misleads)."""
    found = list(samples)
    if not found or any(s is None for s in found):
        return None
    present = [s for s in found if s is not None]
    return ProcessSample(sum(s.cpu_seconds for s in present), sum(s.rss_bytes for s in present))


def sample_processes(pids: Iterable[int]) -> ProcessSample | None:
    return total_samples(sample_process(pid) for pid in pids)
