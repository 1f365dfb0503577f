"""Server-Sent Events: `GET /rooms/{room}/sse`, resume by `Last-Event-ID` or `?after=`."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from core import Item, RtbenchError
from core.urls import SUBSCRIBE
from core.wire import sse
from servers.asgi import Receive, Scope, Send, header, parse_after, query, room_of, wait_disconnect
from servers.hub import Hub
from servers.transport import Endpoint, Transport, room_paths

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]
# nginx buffers proxied responses unless told otherwise; a buffered stream is no stream.
UNBUFFERED = [*HEADERS, (b"x-accel-buffering", b"no")]


class SSEEndpoint(Endpoint):
    transport = "sse"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        try:
            room = room_of(scope)
            # A reconnecting EventSource keeps its first URL; Last-Event-ID must win over ?after.
            last_event_id = header(scope, b"last-event-id")
            if last_event_id is not None:
                after = parse_after(last_event_id.strip(), "Last-Event-ID")
            else:
                after = parse_after(query(scope).get("after"))
            space, grant = self.admit(scope, room)
            connection = self.stream(space, grant, send, room, scope)
            await space.broker.subscribe(connection.subscription, room, after)
            await connection.open()
        except RtbenchError as exc:
            await self.refuse(send, scope, exc)
            return

        async def write(items: list[Item]) -> None:
            await connection.send(
                {
                    "type": "http.response.body",
                    "body": b"".join(map(sse.encode, items)),
                    "more_body": True,
                }
            )
            self.count_delivered(items)

        async def ping() -> None:
            await connection.send(
                {"type": "http.response.body", "body": sse.PING, "more_body": True}
            )

        headers = UNBUFFERED if hub.config.heartbeat.sse_proxy_buffering_off else HEADERS

        async def pump() -> None:
            await connection.send(
                {"type": "http.response.start", "status": 200, "headers": headers}
            )
            retry = sse.encode_retry(hub.config.heartbeat.sse_retry_ms)
            await connection.send({"type": "http.response.body", "body": retry, "more_body": True})
            self.go_direct(scope, connection.subscription, sse.chunk)
            await connection.pump(write, ping, hub.config.heartbeat.sse_ping_seconds)

        await connection.run(pump, lambda: wait_disconnect(receive))
        await connection.send_final({"type": "http.response.body", "body": b"", "more_body": False})


class SSETransport(Transport):
    name = "sse"

    def routes(self, hub: Hub) -> list[BaseRoute]:
        endpoint = SSEEndpoint(hub)
        return [Route(path, endpoint, methods=["GET"]) for path in room_paths(SUBSCRIBE[self.name])]
