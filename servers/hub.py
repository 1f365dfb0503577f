"""Per-server runtime state: the broker, counters, live connections and shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from core import (
    JSON,
    Broker,
    CloseReason,
    ConfigError,
    Event,
    MemoryBroker,
    ServerConfig,
    Stats,
    Subscription,
    __version__,
)

log = logging.getLogger("rtbench.server")
lifecycle = logging.getLogger("rtbench.lifecycle")


def create_broker(url: str, config: ServerConfig, stats: Stats) -> Broker:
    if url == "memory":
        return MemoryBroker(config.limits, stats)
    if url.startswith("redis://"):
        raise ConfigError("expected --broker memory, got a redis:// URL: cluster mode comes later")
    raise ConfigError(f"expected --broker memory or redis://HOST:PORT/DB, got {url!r}")


class Hub:
    """Everything the routes of one server share."""

    def __init__(self, transport: str, config: ServerConfig, broker: Broker | None = None) -> None:
        self.transport = transport
        self.config = config
        self.limits = config.limits
        self.stats = Stats()
        self.broker = (
            broker if broker is not None else create_broker(config.broker, config, self.stats)
        )
        self.started_at = time.monotonic()
        self.shutting_down = False
        self._live: dict[int, Subscription] = {}

    async def publish(self, room: str, data: JSON, exclude: Subscription | None = None) -> Event:
        return await self.broker.publish(room, data, exclude=exclude)

    def opened(self, subscription: Subscription, **fields: Any) -> None:
        self._live[subscription.id] = subscription
        self.stats.connections_opened += 1
        log.info("connect", extra={"conn": subscription.id, "transport": self.transport, **fields})
        if self.shutting_down:
            subscription.close(CloseReason.SHUTDOWN)

    def closed(self, subscription: Subscription, **fields: Any) -> None:
        if self._live.pop(subscription.id, None) is None:
            return
        reason = subscription.close_reason or CloseReason.CLIENT_LEFT
        self.stats.connections_closed += 1
        self.stats.closes[reason.value] += 1
        log.info(
            "disconnect",
            extra={
                "conn": subscription.id,
                "transport": self.transport,
                "reason": reason.value,
                **fields,
            },
        )

    def error(self, kind: str, message: str, **fields: Any) -> None:
        self.stats.errors[kind] += 1
        log.warning("refused", extra={"kind": kind, "error": message, **fields})

    def begin_shutdown(self) -> None:
        """Close every live subscription so streams end and held polls answer now."""
        if self.shutting_down:
            return
        self.shutting_down = True
        lifecycle.info("shutdown", extra={"connections": len(self._live)})
        for subscription in list(self._live.values()):
            subscription.close(CloseReason.SHUTDOWN)

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.begin_shutdown()
            await self.broker.close()

    def status(self) -> dict[str, JSON]:
        stats = self.stats
        now = time.time()
        return {
            "transport": self.transport,
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "connections": {
                "total": len(self._live),
                "by_room": self.broker.subscribers_by_room(),
                "opened": stats.connections_opened,
                "closed": stats.connections_closed,
                "closes_by_reason": dict(stats.closes),
            },
            "events": {
                "published": stats.published,
                "delivered": stats.delivered,
                "dropped_subscribers": stats.dropped_subscribers,
                "per_minute": stats.published_window.total(now),
            },
            "delivery_latency_ms": stats.delivery_latency.percentiles_ms(),
            "errors": dict(stats.errors),
            "broker": self.broker.health(),
            "tasks": len(asyncio.all_tasks()),
            "shutting_down": self.shutting_down,
        }
