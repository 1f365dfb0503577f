"""Measuring primitives: latency histograms, process CPU and memory from /proc."""

from __future__ import annotations

import os
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from record import LatencySummary

# 1 µs … 60 s at 3 significant digits: every latency we keep, from loopback to overload.
LOWEST_US = 1
HIGHEST_US = 60_000_000
DIGITS = 3

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def in_range(microseconds: float) -> int:
    """A latency as the histogram keeps it: whole µs, within its range."""
    return int(min(max(microseconds, LOWEST_US), HIGHEST_US))


def record_us(histogram: HdrHistogram, microseconds: float) -> None:
    histogram.record_value(in_range(microseconds))


class Samples:
    """Latencies (µs) kept raw as they arrive and counted into an HdrHistogram when read.

    A histogram's `record_value` costs about a microsecond of Python per sample, an append a few
    tens of nanoseconds: the driver's own CPU per message is a figure of every step, and the
    less it spends, the later it saturates. At most `bound` samples wait (8 bytes each)."""

    __slots__ = ("_histogram", "_pending", "bound")

    def __init__(self, bound: int = 1 << 20) -> None:
        self._histogram = new_histogram()
        self._pending = array("q")
        self.bound = bound

    def add(self, microseconds: int) -> None:
        self._pending.append(microseconds)
        if len(self._pending) >= self.bound:
            self.histogram()

    def histogram(self) -> HdrHistogram:
        """Every sample so far, counted (the same histogram as `record_us` one by one)."""
        for value, count in Counter(self._pending).items():
            self._histogram.record_value(in_range(value), count)
        del self._pending[:]
        return self._histogram


def encode(histogram: HdrHistogram) -> str:
    return str(histogram.encode().decode("ascii"))


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded.encode("ascii"))


def merge(encoded: list[str]) -> HdrHistogram:
    total = new_histogram()
    for item in encoded:
        total.add(decode(item))
    return total


def summary(histogram: HdrHistogram) -> LatencySummary:
    """Percentiles in µs from the raw samples the histogram holds (None when it is empty)."""
    count = histogram.get_total_count()
    if count == 0:
        return LatencySummary(count=0, p50=None, p90=None, p99=None, p99_9=None, max=None,
                              min=None, mean=None)  # fmt: skip
    at = histogram.get_value_at_percentile
    return LatencySummary(
        count=count,
        p50=at(PERCENTILES["p50"]),
        p90=at(PERCENTILES["p90"]),
        p99=at(PERCENTILES["p99"]),
        p99_9=at(PERCENTILES["p99_9"]),
        max=histogram.get_max_value(),
        min=histogram.get_min_value(),
        mean=round(histogram.get_mean_value(), 1),
    )


_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcessSample:
    cpu_ns: int
    """Time on a CPU so far, nanoseconds: the sum of every live thread's schedstat run time
    (/proc/<pid>/task/*/schedstat). /proc/<pid>/stat's 10 ms ticks are too coarse for a
    publisher's or an idle connection's share of a few seconds."""
    rss_bytes: int

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_ns / 1e9


def schedstat_ns(pid: int) -> int | None:
    """Run time of every live thread of `pid` in ns, or None if the process is gone."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between listdir and open: its time is gone with it
    return total


def ticks_seconds(pid: int) -> float | None:
    """user + system time of `pid` from /proc/<pid>/stat (10 ms ticks): the cross-check."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the parenthesised command name (which may contain spaces).
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def open_fds(pid: int) -> int | None:
    """How many file descriptors `pid` holds (sockets included), or None if it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def sample_process(pid: int) -> ProcessSample | None:
    """CPU and resident memory of `pid`, or None if it is gone."""
    cpu_ns = schedstat_ns(pid)
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            statm = f.read().split()
    except OSError:
        return None
    if cpu_ns is None:
        return None
    return ProcessSample(cpu_ns, int(statm[1]) * _PAGE)


def total_samples(samples: Iterable[ProcessSample | None]) -> ProcessSample | None:
    """CPU and RSS summed over processes, or None if any was gone (a partial sum misleads)."""
    found = list(samples)
    if not found or any(s is None for s in found):
        return None
    present = [s for s in found if s is not None]
    return ProcessSample(sum(s.cpu_ns for s in present), sum(s.rss_bytes for s in present))


def sample_processes(pids: Iterable[int]) -> ProcessSample | None:
    return total_samples(sample_process(pid) for pid in pids)


@dataclass(frozen=True, slots=True)
class CoreSample:
    """Per CPU, busy and total jiffies from /proc/stat: everything that ran there, kernel
    softirq work for loopback included, whoever it was done for."""

    busy: dict[int, int]
    total: dict[int, int]


def sample_cores() -> CoreSample:
    busy: dict[int, int] = {}
    total: dict[int, int] = {}
    with open("/proc/stat", "rb") as f:
        for line in f:
            if not line.startswith(b"cpu") or line.startswith(b"cpu "):
                continue
            name, *values = line.split()
            numbers = [int(v) for v in values]
            cpu = int(name[3:])
            idle = numbers[3] + (numbers[4] if len(numbers) > 4 else 0)  # idle + iowait
            total[cpu] = sum(numbers[:8])  # guest time is already counted in user
            busy[cpu] = total[cpu] - idle
    return CoreSample(busy, total)


def core_busy(before: CoreSample, after: CoreSample) -> dict[str, float]:
    """Fraction of each CPU that was busy between two samples."""
    out = {}
    for cpu, total in after.total.items():
        elapsed = total - before.total.get(cpu, total)
        if elapsed > 0:
            out[str(cpu)] = round((after.busy[cpu] - before.busy.get(cpu, 0)) / elapsed, 3)
    return out
