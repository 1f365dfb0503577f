"""How the orchestrator and its worker processes talk: one JSON object per line.

Workers write events on stdout and read commands on stdin; anything else they print goes to
stderr. Keeping it to lines of JSON makes every exchange inspectable by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, TypeVar, cast, get_origin, get_type_hints

from record import BrowserLatency, ConnectionLimit, CrossOrigin, LatencySummary, SseReconnection


class DriverReady(TypedDict):
    """Every subscriber tried: how many are connected; with `--clock`, the publisher host's
    clock against this one (`scenarios.load.clock`)."""

    event: Literal["ready"]
    connected: int
    failed: int
    errors: list[str]
    seconds: float
    clock_offset_ns: NotRequired[int]
    clock_uncertainty_ns: NotRequired[int]


class ClockReady(TypedDict):
    """The publisher host's clock answers (`scenarios.load.clock`)."""

    event: Literal["clock"]
    address: str


class Measuring(TypedDict):
    """The warm-up is over: the measured window opens at `seq`."""

    event: Literal["measuring"]
    seq: int


class Published(TypedDict):
    """What was published in a step: by the publisher, or by a chat's members."""

    published: int
    last_id: int | None
    warmup: int
    measured: int
    achieved_rate: float | None
    """Events per second over the measured phase, from the first send to the last answer."""
    lag: LatencySummary
    lag_histogram: str
    errors: dict[str, int]
    acknowledgement_histogram: NotRequired[str]
    """From each measured message's scheduled send to its acknowledgement (a chat's members)."""


class PublisherResult(Published):
    event: Literal["result"]
    first_id: int | None


class DriverResult(TypedDict):
    """What a driver's subscribers received, after the drain; bytes as counted by the kernel
    (`tcp_*`, None where TCP_INFO is not available) and by the application."""

    event: Literal["result"]
    subscribers: int
    complete: bool
    delivered: int
    lost: int
    expected: int
    duplicated: int
    reordered: int
    gap_notices: int
    measured: int
    unmeasurable: int
    histogram: str
    app_bytes_in: int
    app_bytes_out: int
    tcp_bytes_in: int | None
    tcp_bytes_out: int | None
    tcp_segments_out: int | None
    tcp_segments_in: int | None
    polls: int
    errors: list[str]
    error_count: int
    reconnects: int
    reconnect_failures: list[str]
    """The first five."""
    reconnect_failure_count: int
    timeline: dict[str, Any]
    published: NotRequired[Published]
    """A chat's: its members published."""


class ProxyReady(TypedDict):
    """The delay proxy listens (`scenarios.load.delayproxy`)."""

    event: Literal["ready"]
    url: str
    port: int
    delay_ms: float


class BrowserReady(TypedDict):
    """The browser worker launched Chromium."""

    event: Literal["ready"]
    chromium: str
    version: str


class BrowserResult(TypedDict):
    """What the browser worker measured (`scenarios.load.browser`); with `--limit-only`, no
    cross-origin or reconnection part."""

    event: Literal["result"]
    chromium_version: str
    protocol: str
    latency: BrowserLatency
    connection_limit: ConnectionLimit
    cross_origin: NotRequired[CrossOrigin]
    sse_reconnection: NotRequired[SseReconnection]


Message = TypeVar("Message", bound=Mapping[str, Any])


class UnexpectedMessage(ValueError):
    pass


def event_name(kind: type[Mapping[str, Any]]) -> str:
    """The `event` a message type carries (its `Literal`)."""
    name: str = get_type_hints(kind)["event"].__args__[0]
    return name


def parse(kind: type[Message], message: Mapping[str, Any]) -> Message:
    """`message` as a `kind`, once its keys are those `kind` declares."""
    # From the hints, not `__required_keys__`: postponed annotations hide `NotRequired` from it.
    hints = get_type_hints(kind, include_extras=True)
    required = {key for key, hint in hints.items() if get_origin(hint) is not NotRequired}
    declared = set(hints)
    missing, unknown = sorted(required - message.keys()), sorted(message.keys() - declared)
    if missing or unknown:
        raise UnexpectedMessage(
            f"expected a {kind.__name__} message, got one missing {missing} and with {unknown}"
        )
    return cast(Message, message)


def emit(message: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def commands() -> asyncio.StreamReader:
    """stdin as an asyncio stream of command lines."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def raise_open_files_limit() -> int:
    """Lift the soft open-files limit to the hard one: a connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def use_fast_loop() -> str:
    """uvloop when installed (as uvicorn itself uses), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def pin(cpus: set[int] | None) -> list[int]:
    if cpus:
        os.sched_setaffinity(0, cpus)
    return sorted(os.sched_getaffinity(0))
