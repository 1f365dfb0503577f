"""The figures a step is made of: latency, bytes, CPU, and the records of one aspect each (a
soak, a storm, a cluster, a link, a browser's checks), which the results of `record.steps`
combine."""

from __future__ import annotations

from typing import TypedDict


class LatencySummary(TypedDict):
    """Microseconds, from every raw sample of the step (HdrHistogram, 3 digits)."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    p99_9: float | None
    max: float | None
    min: float | None
    mean: float | None


class Utilisation(TypedDict, total=False):
    """CPU seconds of each side's pinned processes ÷ wall seconds ÷ CPUs over the measured
    window, every CPU's busy fraction from /proc/stat, and why the step counts as saturated
    (None when it does not)."""

    server_core: float | None
    driver_core: float | None
    cpus_busy: dict[str, float]
    window_seconds: float
    saturated_because: str | None


class BytesPerMessage(TypedDict, total=False):
    down: float | None
    up: float | None
    payload: int
    source: str
    total_down: int
    total_up: int
    app_down: int
    down_split: dict[str, float]
    segments_down: float | None
    segments_up: float | None
    ip_tcp_header_bytes_per_segment: int


class Soak(TypedDict, total=False):
    """`samples`: [seconds since the window opened, server RSS bytes, server open fds, Python's
    allocated blocks in the server, objects its cyclic collector has freed so far (both None
    where `/status` did not answer; earlier results lack the last)]."""

    sample_seconds: float
    warmup_seconds: float
    samples: list[list[float | None]]
    steady_seconds: float
    rss_slope_mib_per_hour: float | None
    rss_first_mib: float | None
    rss_last_mib: float | None
    rss_max_mib: float | None
    fds_min: int | None
    fds_max: int | None
    python_blocks_slope_per_hour: int
    """Of the blocks Python's allocator holds (`sys.getallocatedblocks()` via `/status`)."""
    python_blocks_slope_share_per_hour: float
    python_blocks_first: int
    python_blocks_last: int
    cyclic_gc_freed_per_hour: int
    """Objects only the cyclic collector could free (they were in reference cycles), per hour
    after the warm-up: what a closed connection leaves behind if it is not freed at once."""


class Storm(TypedDict, total=False):
    subscribers: int
    within_seconds: float
    timeline_bucket: int
    p99_before_us: float | None
    p99_worst_us: float | None
    recovery_seconds: float | None
    """Until p99 is back to its level before the storm; None: not within the window."""


class Cluster(TypedDict):
    nodes: int
    broker: str
    load_balancer: bool


class Link(TypedDict):
    """The link between the load hosts and the rest (`network.links`), as it was set."""

    profile: str
    down_kbit: int | None
    up_kbit: int | None
    loss: float
    """Per packet, in each direction."""
    rtt_ms: float
    load_hosts: int


class BrowserLatency(TypedDict, total=False):
    """Subscribers in Chromium pages; CPU of every Chromium process above its idle rate."""

    expected: int
    delivered: int
    lost: int
    duplicated: int
    subscribers: int
    rate: float
    seconds: float
    latency_us: LatencySummary
    histogram: str
    browser_cpu_us_per_message: float
    browser_cpu_us_per_message_with_idle: float
    browser_idle_cpu_share: float
    browser_processes: int


class IdleStream(TypedDict):
    """One idle stream through nginx (`proxy_idle`): closed by the proxy, or still open."""

    nginx: str
    heartbeat: bool
    handshake_status: int
    closed_after_seconds: float | None


class ConnectionLimit(TypedDict):
    """One page's subscribers to one origin (`browser`): who received, who stalled, and the
    first event each stalled one got after two receiving ones closed."""

    streams: int
    receiving: int
    stalled: int
    closed: int
    stalled_received_after_close: int
    stall_ms: list[float]
    after_close_ms: list[float]
    watched_seconds: float


class CrossOriginOutcome(TypedDict):
    outcome: str
    events_read: int
    events_published: int
    close_code: int | None


class CrossOrigin(TypedDict, total=False):
    """What a page of another origin read from each server (`browser`)."""

    page_origin: str
    default: CrossOriginOutcome
    no_origin_check: CrossOriginOutcome
    origin_checked: CrossOriginOutcome


class Counted(TypedDict):
    """Events every subscriber of a measurement should have had, and what they had."""

    expected: int
    delivered: int
    lost: int
    duplicated: int


class RetryOutcome(Counted):
    """What EventSource's own reconnection delivered with one `retry:` value."""

    reconnects: int
    reconnect_ms: list[float]
    reconnect_median_ms: float | None


class SseReconnection(TypedDict):
    """EventSource left to reconnect by itself, each stream ended after `stream_max_seconds`."""

    stream_max_seconds: float
    by_retry_ms: dict[str, RetryOutcome]
    """By the `retry:` the server sent, in ms (`"1000"`)."""
