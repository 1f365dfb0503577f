"""A subscriber that survives disconnects: reconnects with backoff and resumes by id.

Each reconnect asks for exactly what followed the last event seen (`after`, which SSE sends
as `Last-Event-ID`), so a drop costs latency, never events; events the server no longer
buffers arrive as an explicit gap notice. Duplicates (possible only if a server replays) are
skipped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.exceptions import WebSocketException

from clients.aio.base import Subscriber
from clients.aio.errors import RequestRefused
from clients.aio.publisher import Publisher
from core import Delivery, Event, Gap, ProtocolError
from core.backoff import Backoff

log = logging.getLogger("rtbench.client")

RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    httpx.TransportError,
    WebSocketException,
    ProtocolError,
    TimeoutError,
)


class Reconnecting:
    """`async for item in Reconnecting(...)`: every event of the room once, in order."""

    def __init__(
        self,
        transport: str,
        base_url: str,
        room: str,
        after: int | None = None,
        *,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        rng: random.Random | None = None,
        **options: Any,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.room = room
        self.last_id = after
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()
        self.options = options
        self.connects = 0
        self.duplicates = 0
        self.gaps: list[Gap] = []
        self.subscriber: Subscriber | None = None
        self.connected = asyncio.Event()

    async def _cursor(self) -> int:
        """Without a cursor, pin one now so nothing published from here on can be missed."""
        if self.last_id is None:
            publisher = Publisher(self.base_url, token=self.options.get("token"))
            try:
                self.last_id = await publisher.last_id(self.room)
            finally:
                await publisher.aclose()
        return self.last_id

    def disconnect(self) -> None:
        """Drop the current connection (as a network failure would); iteration reconnects."""
        if self.subscriber is not None:
            asyncio.get_running_loop().create_task(self.subscriber.close())

    async def __aiter__(self) -> AsyncIterator[Delivery]:
        from clients.aio import subscribe

        failures = 0
        while True:
            try:
                after = await self._cursor()
                async with subscribe(
                    self.transport, self.base_url, self.room, after, **self.options
                ) as subscriber:
                    self.subscriber = subscriber
                    self.connects += 1
                    self.connected.set()
                    async for item in subscriber:
                        failures = 0
                        if isinstance(item, Event):
                            if self.last_id is not None and item.id <= self.last_id:
                                self.duplicates += 1
                                continue
                            self.last_id = item.id
                        else:
                            self.gaps.append(item)
                            if item.reset:
                                self.last_id = 0
                        yield item
                    reason = subscriber.closed_reason
            except RequestRefused as exc:
                if exc.status < 500:
                    raise  # the request itself is wrong: retrying cannot help
                reason = str(exc)
            except RETRYABLE as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self.subscriber = None
                self.connected.clear()
            if self.max_attempts is not None and failures >= self.max_attempts:
                raise ConnectionError(f"gave up after {failures} attempts: {reason}")
            delay = self.backoff.delay(failures, self.rng)
            log.info("reconnect", extra={"after": self.last_id, "delay": delay, "reason": reason})
            failures += 1
            await asyncio.sleep(delay)
