"""What a transport is to the app: a name and the subscribe routes it adds."""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence

from starlette.routing import BaseRoute

from core import Event, Item, RtbenchError
from servers.asgi import Scope, Send, error_body, send_json
from servers.hub import Hub


class Transport(abc.ABC):
    name: str

    @abc.abstractmethod
    def routes(self, hub: Hub) -> list[BaseRoute]: ...


class Endpoint:
    """Base of the raw-ASGI subscribe endpoints: holds the hub, reports refusals."""

    transport: str

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def refuse(self, send: Send, scope: Scope, exc: RtbenchError) -> None:
        self.hub.error(exc.kind, exc.message, transport=self.transport, path=scope.get("path"))
        await send_json(send, exc.status_code, error_body(exc))

    def count_delivered(self, items: Sequence[Item]) -> None:
        """Count the events written and the server's own delivery latency for `/status`."""
        stats = self.hub.stats
        now = time.time_ns()
        for item in items:
            if isinstance(item, Event):
                stats.delivered += 1
                stats.delivery_latency.offer(item.ts_ns, now)
