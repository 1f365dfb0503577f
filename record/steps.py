"""One step of a results file: a header every step has, then the figures of its kind.

Each kind of `scenarios/kinds` writes one of the results below and says which in `result`, so
a reader narrows a `StepResult` by that key (`step["result"] == "knee"`) or takes a run's steps
of one result (`RecordedRun.deliveries`, `.knees`, …) and gets typed figures, never a bag of
every key. A kind whose figures fit an existing result reuses it. A kind with figures of its own
writes them as `scalars`, each declared with its label and unit (`Kind.figures`, copied into
the results file's `kinds`), and the report shows them with no change to this package; a kind
whose figures are not scalars adds its result here, to the union.
"""

from __future__ import annotations

from typing import Literal, NotRequired, Required, TypedDict, get_args, get_type_hints

from record.parts import (
    BrowserLatency,
    BytesPerMessage,
    Cluster,
    ConnectionLimit,
    CrossOrigin,
    IdleStream,
    LatencySummary,
    Link,
    Soak,
    SseReconnection,
    Storm,
    Utilisation,
)

Param = str | int | float | bool
Params = dict[str, Param]
"""A step's parameters as the profile set them: the kind's defaults with the profile's values."""


class StepHeader(TypedDict):
    """What the orchestrator knows of every step, whatever its kind."""

    id: str
    scenario: str
    """The kind's name (`scenarios.kinds.KINDS`)."""
    transport: str
    repeat: int
    params: Params
    wall_seconds: float


class Delivery(TypedDict, total=False):
    """Events published to subscribers and what reached them: the figures every kind that
    delivers shares (broadcast and its variants, chat, Locust, clusters, proxies, knee points)."""

    status: Required[str]
    """ok, degraded (figures as measured, `degraded_because` says why) or failed (`error`)."""
    degraded_because: str | None
    note: str
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
    latency_us: LatencySummary
    publisher_lag_us: LatencySummary
    histogram_file: str
    timeline_file: str
    bytes_per_message: BytesPerMessage
    server_cpu_us_per_message: float | None
    driver_cpu_us_per_message: float | None
    publisher_cpu_us_per_event: float | None
    process_cpu_us_per_message: dict[str, float | None]
    server_rss_bytes: int | None
    driver_processes: int
    clock_offsets_us: list[float]
    """Each driver host's clock against the publisher host's, added to its receive times
    (drivers on other hosts only: `scenarios.load.clock`)."""
    latency_uncertainty_us: float
    """The most a latency may be off for the clocks' offset: half the round trip of the
    exchange each offset came from, the largest of them."""
    utilisation: Utilisation


class LocustRun(TypedDict, total=False):
    """Of a step whose load Locust users made (`locust_chat`, `cluster_locust`)."""

    driver: str
    locust_exit_code: int
    locust_processes: int
    locust_workers: int
    locust_results_file: str


class Endurance(TypedDict, total=False):
    """Of a broadcast that sampled the server throughout (`soak`) or dropped every subscriber
    at once (`storm`)."""

    soak: Soak
    storm: Storm


class Acknowledged(TypedDict, total=False):
    acknowledgement_us: LatencySummary
    """A chat's, when each message waited for its acknowledgement: from its scheduled send."""


class AcrossNodes(TypedDict, total=False):
    cluster: Required[Cluster]
    deliveries_of_accepted: float
    missed_other_nodes: int
    """Without a backplane: deliveries a subscriber missed because another node took the
    publish."""


class OverLink(TypedDict, total=False):
    """Of a step whose subscribers were on other hosts, behind a link (`network`)."""

    link: Required[Link]
    retransmitted_segments: int
    """TCP segments the hosts sent again, over the step (the kernel's `RetransSegs` of every
    host's namespace, summed)."""
    sent_segments: int
    retransmissions_per_message: float | None
    """`retransmitted_segments` per delivered message."""
    outage_seconds: float
    """The load hosts' links were down this long in the measured window."""
    recovery_seconds: float
    """The longest latency minus the outage: how long after the link came back the last event
    the outage held arrived (TCP's retransmission backoff, a client's reconnect)."""


class Handshake(TypedDict):
    """A subscribe through nginx: what it answered."""

    nginx: str
    handshake_status: int
    handshake_passed: bool


class BroadcastFigures(Delivery, Endurance, total=False):
    """`broadcast`, `baseline`, `churn`, `soak` and `storm`."""

    result: Required[Literal["broadcast"]]


class ChatFigures(Delivery, Acknowledged, total=False):
    result: Required[Literal["chat"]]


class LocustFigures(Delivery, LocustRun, total=False):
    result: Required[Literal["locust"]]


class ClusterFigures(Delivery, LocustRun, AcrossNodes, total=False):
    """`cluster` (the lean driver) and `cluster_locust`."""

    result: Required[Literal["cluster"]]


class LinkFigures(Delivery, LocustRun, OverLink, total=False):
    """`network` (lean drivers) and `network_locust` (Locust distributed)."""

    result: Required[Literal["link"]]


class ProxyFigures(Delivery, Handshake, total=False):
    """The handshake through nginx, then (when it passed) the broadcast through it."""

    result: Required[Literal["proxy"]]


class KneePoint(Delivery, total=False):
    rate: Required[float]
    """The publish rate this point offered."""


class KneeFigures(TypedDict):
    """The offered-load sweep, one point per rate."""

    result: Literal["knee"]
    status: str
    points: list[KneePoint]
    max_sustainable_rate: float | None
    max_sustainable_deliveries_per_second: float | None
    capacity_is_lower_bound: NotRequired[bool]
    """The sweep stopped before the server did (version 1 files lack it, and `bound_by`)."""
    bound_by: NotRequired[str]
    """What ended the sweep: the server, the load generator or the sweep's maximum."""
    stopped_because: str


class IdleFigures(TypedDict):
    """Idle connections held open: what each costs the server."""

    result: Literal["idle"]
    status: str
    requested: int
    connected: int
    errors: list[str]
    connect_seconds: float
    held_by_server: int
    server_rss_before_bytes: int | None
    server_rss_after_bytes: int | None
    rss_per_connection_bytes: int | None
    driver_rss_bytes: int | None
    server_cpu_us_per_connection: NotRequired[float | None]
    """To accept, check and hold each connection (version 1 files lack it)."""


class ProxyIdleFigures(TypedDict):
    """Idle streams through nginx, with and without heartbeats."""

    result: Literal["proxy_idle"]
    status: str
    heartbeat_seconds: float
    read_timeout_seconds: float
    watched_seconds: float
    streams: list[IdleStream]


class DelayFigures(TypedDict):
    """Through the delay proxy at one round-trip time."""

    result: Literal["delay"]
    status: str
    rtt_ms: float
    time_to_first_event_ms: list[float]
    time_to_first_event_median_ms: float | None
    resume_ms: list[float]
    resume_median_ms: float | None
    burst_latency_ms_by_place: list[float | None]
    burst_first_median_ms: float | None
    burst_rest_ms: list[float | None]
    burst_rest_median_ms: float | None
    proxy_cpu_us_per_chunk: float | None
    clients: str
    utilisation: Utilisation


class BrowserChecks(TypedDict, total=False):
    """What a page of another origin read, and EventSource's own reconnection: the checks
    the browser step runs where they apply."""

    cross_origin: CrossOrigin
    sse_reconnection: SseReconnection


class BrowserFigures(BrowserChecks):
    """Subscribers in headless Chromium."""

    result: Literal["browser"]
    status: str
    degraded_because: str | None
    chromium_version: str
    protocol: str
    latency: BrowserLatency
    latency_us: LatencySummary
    connection_limit: ConnectionLimit
    recovery_code_lines: dict[str, int]
    utilisation: Utilisation


Scalar = float | int | str | bool | None


class FigureRecord(TypedDict):
    """How a kind names one of its own figures: the report's column says `label (unit)`."""

    label: str
    unit: str


class KindRecord(TypedDict):
    """What one kind of the run measures, and the figures it declared (results file `kinds`)."""

    about: str
    figures: dict[str, FigureRecord]


class ScalarFigures(TypedDict):
    """A kind's own figures, each a number (or a word), named and united in the results file's
    `kinds`: what a kind adds without a result of its own here. The report shows them in a
    table of their kind (`report.sections.declared`)."""

    result: Literal["scalars"]
    status: str
    degraded_because: NotRequired[str | None]
    figures: dict[str, Scalar]
    utilisation: NotRequired[Utilisation]


class BroadcastStep(StepHeader, BroadcastFigures):
    pass


class ChatStep(StepHeader, ChatFigures):
    pass


class LocustStep(StepHeader, LocustFigures):
    pass


class ClusterStep(StepHeader, ClusterFigures):
    pass


class ProxyStep(StepHeader, ProxyFigures):
    pass


class LinkStep(StepHeader, LinkFigures):
    pass


class KneeStep(StepHeader, KneeFigures):
    pass


class IdleStep(StepHeader, IdleFigures):
    pass


class ProxyIdleStep(StepHeader, ProxyIdleFigures):
    pass


class DelayStep(StepHeader, DelayFigures):
    pass


class BrowserStep(StepHeader, BrowserFigures):
    pass


class ScalarStep(StepHeader, ScalarFigures):
    pass


class FailedStep(StepHeader):
    """A step that could not be measured: its error, and no figures."""

    result: Literal["failed"]
    status: Literal["failed"]
    error: str


DeliveryStep = BroadcastStep | ChatStep | LocustStep | ClusterStep | ProxyStep | LinkStep
"""The steps that carry `Delivery` figures, whichever kind wrote them."""
StepResult = (
    DeliveryStep
    | KneeStep
    | IdleStep
    | ProxyIdleStep
    | DelayStep
    | BrowserStep
    | ScalarStep
    | FailedStep
)


def _result_name(step: type) -> str:
    (name,) = get_args(get_type_hints(step)["result"])
    return str(name)


RESULTS = {_result_name(step): frozenset(step.__annotations__) for step in get_args(StepResult)}
"""Each result's name and the keys its steps may carry: what `record.files` validates."""
DELIVERING = frozenset(_result_name(step) for step in get_args(DeliveryStep))
"""The results that carry `Delivery` figures."""
