"""The bare `websockets` peer: the library's own asyncio server and `websockets.broadcast`.

No ASGI, no Starlette, no queues, no resume buffer, no validation of client frames: the lower
bound of what Python does for WebSocket fan-out. Subscribers connect to
`/rooms/{room}/ws` on the main port; publishing is the shared publish API, served by uvicorn on a
second port of the same process and event loop, announced as `publish_url` in the ready line.
"""

from __future__ import annotations

import websockets
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from core import JSON, RtbenchError, jsonc, validate_room
from core.wire import ws
from peers.publish import WebSocketPeer

PREFIX, SUFFIX = "/rooms/", "/ws"


class BareWebSocketPeer(WebSocketPeer[ServerConnection]):
    name = "bare-ws"

    async def deliver(self, room: str, event: dict[str, JSON]) -> None:
        members = self.subscribers.get(room)
        if members:
            data = event["data"]
            if isinstance(data, bytes):  # a binary event: one binary frame, as our server sends
                websockets.broadcast(members, ws.encode_binary_event(event["id"], room, data))
            else:
                websockets.broadcast(members, jsonc.dumps(event).decode())

    def room_of(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        room = path[len(PREFIX) : -len(SUFFIX)]
        try:
            if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
                raise RtbenchError(f"expected /rooms/{{room}}/ws, got {path[:80]!r}")
            validate_room(room)
        except RtbenchError as exc:
            return connection.respond(404, exc.message + "\n")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        room = connection.request.path.partition("?")[0][len(PREFIX) : -len(SUFFIX)]
        members = self.subscribers.setdefault(room, set())
        members.add(connection)
        try:
            await connection.wait_closed()
        finally:
            members.discard(connection)

    async def listen(self) -> Server:
        return await serve(
            self.handler,
            self.host,
            self.port,
            process_request=self.room_of,
            compression=None,
            max_size=self.max_size,
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.close(close_connections=True)
