"""The results contract: the typed shape of a run's `results.json`, and its version.

`scenarios` writes it and `report` reads it; this package imports neither, and neither reaches
the other through it (`tests/test_layering.py`). `results.schema.json` beside this module
describes the same file for other readers; `record.files` validates against it.
"""

from __future__ import annotations

from typing import Any, TypedDict

SCHEMA = "rtbench.results"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Version 1 had no utilisation figures; the report reads it and says so where it matters."""


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


class LockState(TypedDict):
    """The environment against requirements.lock (`software.lock`); `sha256` and `matches` are
    None where no lock lay beside the code, as in an installed wheel."""

    file: str
    sha256: str | None
    matches: bool | None
    differences: list[str]


def describe_lock(software: Software) -> str:
    """One sentence on the run's environment against the lock, for the summary and the report."""
    state: LockState | None = software.get("lock")
    if state is None:
        return "the run did not record its environment against requirements.lock"
    if state["sha256"] is None:
        return "no requirements.lock beside the code: the environment was not checked against it"
    short = state["sha256"][:12]
    if state["matches"]:
        return f"installed from requirements.lock (sha256 {short}), every version as locked"
    found = state["differences"]
    shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    return (
        f"not the locked environment: {len(found)} package(s) differ from requirements.lock "
        f"(sha256 {short}): {shown}"
    )


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


class StepResult(TypedDict, total=False):
    """One step. Every step has the first seven keys; the rest depend on its scenario. Writing
    a key that is not declared here fails (`validate_step`), so a typo cannot pass unseen."""

    id: str
    scenario: str
    transport: str
    repeat: int
    params: dict[str, Any]
    status: str
    """ok, degraded (figures as measured, `degraded_because` says why) or failed (`error`)."""
    wall_seconds: float
    error: str
    degraded_because: str | None
    note: str
    # Delivery (broadcast, baseline, churn, chat, storm, soak, cluster, proxy, delay).
    nominal_rate: float
    achieved_rate: float | None
    kept_up: bool
    published: int
    publish_errors: dict[str, int]
    expected: int
    delivered: int
    lost: int
    duplicated: int
    reordered: int
    gap_notices: int
    drained: bool
    reconnects: int
    reconnect_failures: list[str]
    server_dropped: dict[str, int] | None
    """Subscribers the server dropped in the step, by reason (`slow_subscriber`,
    `stalled_subscriber`), from its `/status`; None where the server does not say."""
    subscriber_errors: list[str]
    polls: int | None
    deliveries_of_accepted: float
    # Latency and cost.
    latency_us: LatencySummary
    publisher_lag_us: LatencySummary
    acknowledgement_us: LatencySummary
    """A chat's, when each message waited for its acknowledgement: from its scheduled send."""
    histogram_file: str
    timeline_file: str
    bytes_per_message: BytesPerMessage
    server_cpu_us_per_message: float | None
    driver_cpu_us_per_message: float | None
    publisher_cpu_us_per_event: float | None
    process_cpu_us_per_message: dict[str, float | None]
    server_rss_bytes: int | None
    driver_processes: int
    utilisation: Utilisation
    soak: Soak
    storm: Storm
    cluster: Cluster
    missed_other_nodes: int
    """Cluster without a backplane: deliveries a subscriber missed because another node took the
    publish."""
    # Knee: the offered-load sweep, one step-like point per rate.
    points: list[StepResult]
    rate: float
    """Of a knee point: the publish rate it offered."""
    max_sustainable_rate: float | None
    max_sustainable_deliveries_per_second: float | None
    capacity_is_lower_bound: bool
    bound_by: str
    """What ended the sweep: the server, the load generator or the sweep's maximum."""
    stopped_because: str
    # Idle connections.
    requested: int
    connected: int
    errors: list[str]
    connect_seconds: float
    held_by_server: int
    server_rss_before_bytes: int | None
    server_rss_after_bytes: int | None
    rss_per_connection_bytes: int | None
    driver_rss_bytes: int | None
    server_cpu_us_per_connection: float | None
    # Locust.
    clients: str
    driver: str
    locust_exit_code: int
    locust_processes: int
    locust_workers: int
    locust_results_file: str
    # Proxies (nginx) and network delay.
    nginx: str
    handshake_status: int
    handshake_passed: bool
    heartbeat_seconds: float
    read_timeout_seconds: float
    watched_seconds: float
    streams: list[IdleStream]
    proxy_cpu_us_per_chunk: float | None
    rtt_ms: float
    time_to_first_event_ms: list[float]
    time_to_first_event_median_ms: float | None
    resume_ms: list[float]
    resume_median_ms: float | None
    burst_latency_ms_by_place: list[float | None]
    burst_first_median_ms: float | None
    burst_rest_ms: list[float | None]
    burst_rest_median_ms: float | None
    # Browser (Chromium).
    chromium_version: str
    protocol: str
    latency: BrowserLatency
    connection_limit: ConnectionLimit
    cross_origin: CrossOrigin
    sse_reconnection: dict[str, Any]
    """`stream_max_seconds`, then by each `retry:` in ms (`"1000"`): what EventSource's own
    reconnection delivered, lost and took."""
    recovery_code_lines: dict[str, int]


STEP_KEYS = frozenset(StepResult.__annotations__)


class ProfileRecord(TypedDict):
    name: str
    description: str
    definition: dict[str, Any]
    """The profile's TOML as read: what the run was asked to do, in the user's own keys."""


class Machine(TypedDict, total=False):
    """Where the run was measured. Runs before topology was recorded lack its three keys."""

    cpu_model: str
    cores: int | None
    memory_bytes: int
    kernel: str
    os: str
    hostname: str
    clock_ticks_per_second: int
    virtual_machine: bool
    thread_siblings: dict[str, str]
    """Each CPU's hyper-thread siblings, as the kernel lists them (`0-1`, `2`)."""
    cpus_sharing_a_core: list[str]


class GitState(TypedDict):
    commit: str | None
    dirty: bool | None
    """Uncommitted changes to tracked files: the figures are not the commit's alone."""


class Software(TypedDict, total=False):
    python: str
    implementation: str
    packages: dict[str, str | None]
    """The versions that decide the figures (uvicorn, starlette, …); None: not installed."""
    distributions: dict[str, str]
    """Every installed distribution, by name."""
    lock: LockState | None
    git: GitState


class PinningRecord(TypedDict):
    server_cpus: list[int]
    driver_cpus: list[int]
    publisher_cpus: list[int]
    shared: bool
    """Servers and load shared a CPU: figures include contention."""


class Settings(TypedDict, total=False):
    saturation: dict[str, float]
    """Past these core utilisations a step is saturated (`server`, `driver`, `kept_up`)."""
    broker: str
    tls: bool
    driver: str


class Results(TypedDict):
    schema: str
    schema_version: int
    run_id: str
    created: str
    command: str
    profile: ProfileRecord
    machine: Machine
    software: Software
    pinning: PinningRecord
    settings: Settings
    client_code_lines: dict[str, int]
    steps: list[StepResult]
