"""The picows peer: a Cython WebSocket server whose `send` writes a frame synchronously.

The model is picows' own broadcast example (`examples/broadcast_server.py`): a set of
listeners, and a loop that calls `transport.send` on each. No ASGI, no queues, no resume
buffer: with the bare websockets peer, the floor of WebSocket fan-out from Python. Subscribers
connect to `/rooms/{room}/ws` on the main port; publishing is the shared publish API, served by
uvicorn on a second port of the same process and event loop (`publish_url` in the ready line).
"""

from __future__ import annotations

from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from core import JSON, RtbenchError, jsonc, validate_room
from core.wire import ws
from peers.publish import WebSocketPeer

PREFIX, SUFFIX = b"/rooms/", b"/ws"


class Subscriber(WSListener):
    def __init__(self, members: set[Subscriber]) -> None:
        self.members = members
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.members.add(self)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.members.discard(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class PicowsPeer(WebSocketPeer[Subscriber]):
    name = "picows"

    async def deliver(self, room: str, event: dict[str, JSON]) -> None:
        members = self.subscribers.get(room)
        if not members:
            return
        data = event["data"]
        if isinstance(data, bytes):  # a binary event: one binary frame, as our server sends
            kind, message = WSMsgType.BINARY, ws.encode_binary_event(event["id"], room, data)
        else:
            kind, message = WSMsgType.TEXT, jsonc.dumps(event)
        for member in members:
            if member.transport is not None:
                member.transport.send(kind, message)

    def listener(self, request: WSUpgradeRequest) -> Subscriber | None:
        """A subscriber of the room in the path; None: picows answers 404."""
        path = request.path.partition(b"?")[0]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        try:
            room = validate_room(path[len(PREFIX) : -len(SUFFIX)].decode())
        except (RtbenchError, UnicodeDecodeError):
            return None
        return Subscriber(self.subscribers.setdefault(room, set()))

    async def listen(self) -> Any:
        return await ws_create_server(
            self.listener, self.host, self.port, max_frame_size=self.max_size
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for members in self.subscribers.values():
                for member in list(members):
                    if member.transport is not None:
                        member.transport.disconnect()
