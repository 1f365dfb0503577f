"""The measuring primitives behind every CPU and utilisation figure, checked against the kernel's
own coarser counters, and the pure figure functions on cases whose answer is known."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from scenarios import figures
from scenarios.measure import (
    ProcessSample,
    core_busy,
    sample_cores,
    sample_process,
    schedstat_ns,
    ticks_seconds,
)

BUSY = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"


def test_schedstat_nanoseconds_agree_with_proc_stat_ticks_on_a_busy_child() -> None:
    child = subprocess.Popen([sys.executable, "-c", BUSY + "time.sleep(5)"])
    try:
        deadline = time.monotonic() + 10
        ns = ticks = 0.0
        while time.monotonic() < deadline and (schedstat_ns(child.pid) or 0) < 0.6e9:
            time.sleep(0.05)
        time.sleep(0.2)  # the busy loop is over: both counters are still
        ns, ticks = (schedstat_ns(child.pid) or 0) / 1e9, ticks_seconds(child.pid) or 0.0
        assert ns > 0.6, f"expected the child to burn 0.6 s of CPU, got {ns:.3f} s"
        # Ticks are 10 ms apart and sampled at tick boundaries: agree within 3 ticks + 3 %.
        assert abs(ns - ticks) <= 0.03 + 0.03 * ns, f"schedstat {ns:.4f} s vs ticks {ticks:.4f} s"
        sample = sample_process(child.pid)
        assert sample is not None and sample.cpu_ns >= ns * 1e9 and sample.rss_bytes > 0
    finally:
        child.kill()
        child.wait()
    assert schedstat_ns(child.pid) is None and sample_process(child.pid) is None


def test_per_cpu_busy_fractions_see_a_busy_process() -> None:
    before = sample_cores()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    busy = core_busy(before, sample_cores())
    assert busy and all(0.0 <= fraction <= 1.0 for fraction in busy.values())
    assert max(busy.values()) > 0.5, busy


def sample(cpu_ms: float) -> ProcessSample:
    return ProcessSample(int(cpu_ms * 1e6), 0)


def test_utilisation_flags_each_saturated_core_by_its_threshold() -> None:
    quiet = figures.utilisation((sample(0), sample(500)), (sample(0), sample(600)), 1.0, 1, 1, {})
    assert (quiet["server_core"], quiet["driver_core"]) == (0.5, 0.6)
    assert quiet["saturated_because"] is None
    server = figures.utilisation((sample(0), sample(850)), (sample(0), sample(100)), 1.0, 1, 1, {})
    assert server["saturated_because"] == "server core 85% busy (> 80%)"
    driver = figures.utilisation((sample(0), sample(100)), (sample(0), sample(1500)), 2.0, 1, 1, {})
    assert driver["driver_core"] == 0.75
    assert driver["saturated_because"] == "driver core 75% busy (> 70%)"
    # Two CPUs pinned: the busy fraction is per CPU.
    two = figures.utilisation((sample(0), sample(1600)), (None, None), 1.0, 2, 1, {})
    assert two["server_core"] == 0.8 and two["driver_core"] is None


def test_degraded_reasons_say_what_happened_and_nothing_else() -> None:
    assert figures.degraded_reasons(50, 44.2, 0, 0, True, 0, 0, 0) == [
        "publisher reached 44.2 of 50/s"
    ]
    assert figures.degraded_reasons(50, 49.0, 0, 0, True, 0, 0, 0) == []
    assert figures.degraded_reasons(50, 50, 3, 1, False, 2, 0, 1) == [
        "3 lost",
        "1 duplicated",
        "subscribers had not received the last event when the drain ended",
        "2 subscriber error(s)",
        "1 failed reconnect(s)",
    ]


def test_cpu_per_item_is_none_without_both_samples_or_items() -> None:
    assert figures.cpu_us_per(sample(0), sample(1), 10) == 100.0
    assert figures.cpu_us_per(None, sample(1), 10) is None
    assert figures.cpu_us_per(sample(0), sample(1), 0) is None


def test_soak_slope_is_least_squares_after_the_warm_up() -> None:
    mib = 2**20
    # 100 MiB during the warm-up, then growing 1 MiB per minute: 60 MiB/h.
    samples: list[list[float]] = [
        [t, 100 * mib if t < 60 else (200 + (t - 60) / 60) * mib, 40] for t in range(0, 600, 5)
    ]
    found = figures.soak(samples, 60)
    assert found["rss_slope_mib_per_hour"] == pytest.approx(60, abs=0.01)
    assert found["fds_min"] == found["fds_max"] == 40
    assert figures.soak(samples[:2], 0)["rss_slope_mib_per_hour"] is None


def test_soak_separates_python_objects_from_rss() -> None:
    """RSS may grow while the blocks Python holds stay flat (the allocator keeps freed memory);
    a leak of objects shows in the blocks' slope."""
    mib = 2**20
    flat: list[list[float | None]] = [
        [t, (100 + t / 60) * mib, 40, 50_000.0] for t in range(0, 600, 5)
    ]
    found = figures.soak(flat, 60)
    assert found["rss_slope_mib_per_hour"] == pytest.approx(60, abs=0.01)
    assert found["python_blocks_slope_per_hour"] == 0
    leaking: list[list[float | None]] = [[t, 100 * mib, 40, 50_000.0 + t] for t in range(0, 600, 5)]
    found = figures.soak(leaking, 60)
    assert found["python_blocks_slope_per_hour"] == 3600
    assert found["python_blocks_first"] == 50_060 and found["python_blocks_last"] == 50_595
    unknown: list[list[float | None]] = [[t, 100 * mib, 40, None] for t in range(0, 600, 5)]
    assert "python_blocks_slope_per_hour" not in figures.soak(unknown, 60)


def test_soak_counts_what_only_the_cyclic_collector_freed_per_hour() -> None:
    mib = 2**20
    # 0 during the warm-up, then 10 objects a second in cycles: 36,000 an hour.
    samples: list[list[float | None]] = [
        [t, 100 * mib, 40, 50_000.0, 0.0 if t < 60 else 10.0 * (t - 60)] for t in range(0, 600, 5)
    ]
    assert figures.soak(samples, 60)["cyclic_gc_freed_per_hour"] == 36_000
    older: list[list[float | None]] = [[t, 100 * mib, 40, 50_000.0] for t in range(0, 600, 5)]
    assert "cyclic_gc_freed_per_hour" not in figures.soak(older, 60)


def test_breakdown_charges_each_sample_to_its_innermost_layer() -> None:
    from scenarios.tools.breakdown import breakdown

    raw = "\n".join([
        "run (uvloop/loop.pyx:1);publish (servers/app.py:40);"
        "MemoryBroker.publish (core/broker.py:130);direct (servers/transport.py:90);"
        "write_frame (servers/protocol.py:85);write (libc.so.6) 7",
        "run (uvloop/loop.pyx:1);fan_out (core/subscription.py:260);"
        "UVStream_write (loop.c:109949);UVStream__initiate_write (loop.c:107347) 3",
        "run (uvloop/loop.pyx:1);publish (servers/app.py:40);loads (core/jsonc.py:41) 2",
        "run (uvloop/loop.pyx:1);publish (servers/app.py:40);check (core/auth.py:59) 3",
        "run (uvloop/loop.pyx:1);route (starlette/routing.py:255) 4",
        "run (uvloop/loop.pyx:1);call_soon (_asynciomodule.c:367) 6",
        "run (uvloop/loop.pyx:1);uv__io_poll (linux.c:1);epoll_pwait (libc.so.6) 5",
        "main (<frozen runpy>:88) 1",
    ])  # fmt: skip
    assert breakdown(raw) == {
        "kernel write": 10, "framing": 2, "core": 3, "ASGI and HTTP": 4, "event loop": 6,
        "other": 1, "idle": 5,
    }  # fmt: skip
