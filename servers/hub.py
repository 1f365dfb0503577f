"""Per-server runtime state: the broker, counters, live connections and shutdown."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from core import (
    DEFAULT_NAMESPACE,
    JSON,
    Broker,
    CloseReason,
    ConfigError,
    Event,
    Forbidden,
    MemoryBroker,
    Namespace,
    RateLimited,
    RtbenchError,
    ServerConfig,
    Stats,
    Subscription,
    TooManyConnections,
    Unauthorized,
    UnknownNamespace,
    __version__,
)
from core.auth import ANONYMOUS, Grant, TokenVerifier
from core.budget import Budget
from core.decoding import check_depth, filter_keys
from core.ratelimit import BucketTable

log = logging.getLogger("rtbench.server")
lifecycle = logging.getLogger("rtbench.lifecycle")


def create_broker(
    url: str,
    config: ServerConfig,
    stats: Stats,
    namespace: str = DEFAULT_NAMESPACE,
    budget: Budget | None = None,
) -> Broker:
    if url == "memory":
        return MemoryBroker(config.limits, stats, budget=budget)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from servers.redis_broker import RedisBroker

        return RedisBroker(url, config.limits, stats, namespace)
    raise ConfigError(f"expected --broker memory or redis://HOST:PORT/DB, got {url!r}")


GC_YOUNG_THRESHOLD = 10_000
"""Objects the young generation may grow by before a collection (CPython's default: 700).
Serving makes no reference cycles (`tests/test_freed.py` holds that), so each young collection
walks live requests and finds nothing: at 700, a tenth of a long-poll server's CPU (py-spy,
100 × 50/s). What a rare cycle leaves waits at most for `memory_trim_seconds`' full collection."""


class Space:
    """One namespace at run time: its own broker (rooms and ids), auth, quotas and buckets."""

    def __init__(self, policy: Namespace, broker: Broker, config: ServerConfig) -> None:
        self.policy = policy
        self.name = policy.name
        self.broker = broker
        self.limits = config.limits
        self.verifier = TokenVerifier(config.auth) if policy.auth else None
        self.max_message_bytes = policy.max_message_bytes or config.limits.max_message_bytes
        self.connections = 0
        self.publish_buckets = (
            BucketTable(policy.publish_per_second, policy.publish_burst)
            if policy.publish_per_second
            else None
        )

    def grant(self, token: str | None) -> Grant:
        """Who the client is here: anyone in an open namespace, else what its token says."""
        return ANONYMOUS if self.verifier is None else self.verifier.verify(token)

    def admit(self, grant: Grant, action: str, room: str) -> None:
        """Before a subscription or publish: rights for this room, and room for one more."""
        grant.check(action, self.name, room)
        if action == "subscribe":
            self.check_capacity()

    def check_capacity(self) -> None:
        if self.connections >= self.policy.max_connections:
            raise TooManyConnections(
                f"expected at most {self.policy.max_connections} connections in namespace "
                f"{self.name!r}, got one more"
            )

    def check_publish_rate(self, client: str) -> None:
        if self.publish_buckets is not None:
            self.publish_buckets.check(client, time.monotonic(), "publishes")

    def accept(self, data: JSON) -> JSON:
        """Validation before broadcast: nesting depth, then the namespace's key filter."""
        check_depth(data, self.limits.max_json_depth)
        return filter_keys(data, self.policy.data_keys, self.policy.extra_keys)

    async def publish(self, room: str, data: JSON, exclude: Subscription | None = None) -> Event:
        return await self.broker.publish(room, self.accept(data), exclude=exclude)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6"
        ).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


TRIM = _malloc_trim()


class Hub:
    """Everything the routes of one server share."""

    def __init__(self, transport: str, config: ServerConfig, broker: Broker | None = None) -> None:
        self.transport = transport
        self.config = config
        self.limits = config.limits
        self.stats = Stats()
        self.memory_trims = 0
        """Times freed memory was handed back to the system (`memory_trim_seconds`)."""
        self.memory_trim_ms = 0.0
        """How long the last one held the event loop: the collection and the trim."""
        self.budget = Budget(config.limits.memory_budget_bytes)
        """One memory budget for the resume buffers of every namespace (memory broker)."""
        self.spaces: dict[str, Space] = {}
        for name, policy in config.namespaces.items():
            own = broker if broker is not None and name == DEFAULT_NAMESPACE else None
            made = own or create_broker(config.broker, config, self.stats, name, self.budget)
            self.spaces[name] = Space(policy, made, config)
        self.default = self.spaces[DEFAULT_NAMESPACE]
        self.broker = self.default.broker
        self.origins = frozenset(config.allowed_origins)
        self.started_at = time.monotonic()
        self.shutting_down = False
        self._live: dict[int, tuple[Subscription, Space, str]] = {}
        self._by_address: Counter[str] = Counter()

    def space(self, name: str | None) -> Space:
        if name is None:
            return self.default
        found = self.spaces.get(name)
        if found is None:
            raise UnknownNamespace(
                f"expected a namespace among {', '.join(sorted(self.spaces))}, got {name[:64]!r}"
            )
        return found

    def check_capacity(self, address: str) -> None:
        """Room for one more subscriber connection, on the server and from this address."""
        limits = self.limits
        if len(self._live) >= limits.max_connections:
            raise TooManyConnections(
                f"expected at most {limits.max_connections} connections on this server, "
                "got one more"
            )
        if self._by_address[address] >= limits.max_connections_per_address:
            raise TooManyConnections(
                f"expected at most {limits.max_connections_per_address} connections from one "
                f"address, got one more from {address}"
            )

    def opened(self, subscription: Subscription, space: Space, **fields: Any) -> None:
        """Count a subscriber connection in, or refuse it (TooManyConnections). The caps are
        checked at the handshake already, but a subscribe to a backplane awaits: handshakes
        admitted together would pass them all. Here the check and the count are one step."""
        address = str(fields.get("address", ""))
        self.check_capacity(address)
        space.check_capacity()
        self._live[subscription.id] = (subscription, space, address)
        self._by_address[address] += 1
        space.connections += 1
        self.stats.connections_opened += 1
        if log.isEnabledFor(logging.INFO):  # a poll a delivery: no record built for nothing
            log.info(
                "connect",
                extra={
                    "conn": subscription.id,
                    "transport": self.transport,
                    "namespace": space.name,
                    **fields,
                },
            )
        if self.shutting_down:
            subscription.close(CloseReason.SHUTDOWN)

    def closed(self, subscription: Subscription, **fields: Any) -> None:
        entry = self._live.pop(subscription.id, None)
        if entry is None:
            return
        _, space, address = entry
        space.connections -= 1
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]
        reason = subscription.close_reason or CloseReason.CLIENT_LEFT
        self.stats.connections_closed += 1
        self.stats.closes[reason.value] += 1
        if log.isEnabledFor(logging.INFO):
            log.info(
                "disconnect",
                extra={
                    "conn": subscription.id,
                    "transport": self.transport,
                    "namespace": space.name,
                    "reason": reason.value,
                    **fields,
                },
            )

    def refused(self, exc: RtbenchError, **fields: Any) -> None:
        """Count and log one refused request, frame or connection."""
        self.stats.errors[exc.kind] += 1
        self.stats.errors_window.add(time.time())
        extra: dict[str, Any] = {"kind": exc.kind, "error": exc.message, "status": exc.status_code}
        if isinstance(exc, Unauthorized | Forbidden):
            self.stats.auth_failures[exc.reason] += 1
            extra["reason"] = exc.reason
        elif isinstance(exc, RateLimited):
            self.stats.rate_limited[str(fields.get("limited", "publish"))] += 1
        log.warning("refused", extra={**extra, **fields})

    def begin_shutdown(self) -> None:
        """Close every live subscription so streams end and held polls answer now."""
        if self.shutting_down:
            return
        self.shutting_down = True
        lifecycle.info("shutdown", extra={"connections": len(self._live)})
        for subscription, _, _ in list(self._live.values()):
            subscription.close(CloseReason.SHUTDOWN)

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        for space in self.spaces.values():
            await space.broker.start()  # cluster mode: listen to the backplane before serving
        gc.freeze()  # modules, app, config: never garbage, never walked again by a collection
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        trimming = (
            asyncio.create_task(self.trim_memory(self.config.memory_trim_seconds))
            if self.config.memory_trim_seconds
            else None
        )
        reclaiming = asyncio.create_task(self.reclaim_idle_rooms())
        try:
            yield
        finally:
            reclaiming.cancel()
            if trimming is not None:
                trimming.cancel()
            self.begin_shutdown()
            for space in self.spaces.values():
                await space.broker.close()

    async def reclaim_idle_rooms(self) -> None:
        """A room is reclaimed between one and 1.25 idle periods after its last use."""
        every = max(0.1, min(60.0, self.limits.room_idle_seconds / 4))
        while True:
            await asyncio.sleep(every)
            for space in self.spaces.values():
                try:
                    await space.broker.reclaim_idle()
                except RtbenchError as exc:  # the backplane is away: try again next time
                    log.warning("room reclaim failed", extra={"error": exc.message})

    async def trim_memory(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            started = time.perf_counter()
            gc.collect()
            if TRIM is not None:
                TRIM(0)
            self.memory_trim_ms = round((time.perf_counter() - started) * 1000, 2)
            self.memory_trims += 1

    def summary(self) -> dict[str, JSON]:
        """`/status` for anyone: whether it serves, and how busy it is, in O(1); no room, no
        namespace, no address, no broker URL."""
        stats = self.stats
        now = time.time()
        return {
            "detail": False,
            "transport": self.transport,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "connections": {"total": len(self._live)},
            "events": {
                "published": stats.published,
                "per_minute": stats.published_window.total(now),
            },
            "errors_per_minute": stats.errors_window.total(now),
            "broker": {"kind": self.broker.kind, "ok": bool(self.broker.health().get("ok"))},
            "shutting_down": self.shutting_down,
        }

    def status(self) -> dict[str, JSON]:
        """`/status` for the operator: every room, namespace, error and memory figure."""
        stats = self.stats
        now = time.time()
        return {
            "detail": True,
            "transport": self.transport,
            "version": __version__,
            "fanout": self.config.fanout,
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "connections": {
                "total": len(self._live),
                "by_room": self.broker.subscribers_by_room(),
                "by_namespace": {name: space.connections for name, space in self.spaces.items()},
                "opened": stats.connections_opened,
                "closed": stats.connections_closed,
                "closes_by_reason": dict(stats.closes),
            },
            "events": {
                "published": stats.published,
                "delivered": stats.delivered,
                "delivered_direct": stats.delivered_direct,
                "dropped_subscribers": stats.dropped_subscribers,
                "reclaimed_rooms": stats.reclaimed_rooms,
                "per_minute": stats.published_window.total(now),
            },
            "delivery_latency_ms": stats.delivery_latency.percentiles_ms(),
            "errors": dict(stats.errors),
            "errors_per_minute": stats.errors_window.total(now),
            "auth_failures": dict(stats.auth_failures),
            "rate_limited": dict(stats.rate_limited),
            "namespaces": {
                name: {
                    "auth": space.policy.auth,
                    "connections": space.connections,
                    "max_connections": space.policy.max_connections,
                    "rooms": space.broker.subscribers_by_room()
                    if name != DEFAULT_NAMESPACE
                    else {},
                }
                for name, space in self.spaces.items()
            },
            "broker": self.broker.health(),
            "memory": {
                **self.budget.status(),
                # Objects Python holds (pymalloc blocks): it grows with a leak of objects, not
                # with what the allocator keeps of freed memory (which RSS counts).
                "python_allocated_blocks": sys.getallocatedblocks(),
                # Objects only the cyclic collector could free (they were in reference
                # cycles): a connection that is freed the moment it closes adds none.
                "cyclic_gc_freed": sum(generation["collected"] for generation in gc.get_stats()),
                "trims": self.memory_trims,
                "last_trim_ms": self.memory_trim_ms,
            },
            "tasks": len(asyncio.all_tasks()),
            "shutting_down": self.shutting_down,
        }
