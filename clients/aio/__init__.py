"""asyncio clients, one subscriber per transport behind one interface.

async with subscribe("sse", "http://127.0.0.1:8000", "lobby") as sub:
    async for item in sub:      # core.Event or core.Gap
        ...
"""

from __future__ import annotations

from typing import Any

from clients.aio.base import Subscriber, SubscriberClosed
from clients.aio.errors import RequestRefused
from clients.aio.longpoll import PollSubscriber
from clients.aio.publisher import Publisher
from clients.aio.reconnect import Reconnecting
from clients.aio.sse import SSESubscriber
from clients.aio.ws import OperationFailed, WSSubscriber

SUBSCRIBERS: dict[str, type[Subscriber]] = {
    "longpoll": PollSubscriber,
    "sse": SSESubscriber,
    "ws": WSSubscriber,
}


def subscribe(
    transport: str, base_url: str, room: str, after: int | None = None, **options: Any
) -> Subscriber:
    try:
        cls = SUBSCRIBERS[transport]
    except KeyError:
        raise ValueError(
            f"expected a transport among {', '.join(SUBSCRIBERS)}, got {transport!r}"
        ) from None
    return cls(base_url, room, after, **options)


__all__ = [
    "SUBSCRIBERS",
    "OperationFailed",
    "Publisher",
    "Reconnecting",
    "RequestRefused",
    "Subscriber",
    "SubscriberClosed",
    "subscribe",
]
