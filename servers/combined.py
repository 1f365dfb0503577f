"""One server speaking all three subscribe transports over one hub: what the browser demo needs.

The subscribe routes of long polling, SSE and WebSocket do not overlap, so they can share one app,
one broker and one id sequence; the three panels of the demo then show the same events.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from servers.hot import HotRoutes
from servers.hub import Hub
from servers.longpoll import LongPollTransport
from servers.protocol import RequestTaker
from servers.sse import SSETransport
from servers.transport import Transport
from servers.ws import WebSocketTransport


class CombinedTransport(Transport):
    name = "all"
    parts: tuple[type[Transport], ...] = (LongPollTransport, SSETransport, WebSocketTransport)

    def routes(self, hub: Hub) -> list[BaseRoute]:
        return [route for part in self.parts for route in part().routes(hub)]

    def hot_routes(self, hub: Hub) -> HotRoutes:
        return {key: route for part in self.parts for key, route in part().hot_routes(hub).items()}

    def taker(self, hub: Hub) -> RequestTaker | None:
        return LongPollTransport().taker(hub)  # the only requests a protocol answers: polls
