"""The Socket.IO peer: python-socketio's ASGI server under uvicorn, with the Socket.IO model.

- Rooms: a client names its room in the connect query (`?room=lobby`, one round trip less, what
  the driver uses) or joins later with the `join` event (`enter_room`), and leaves with `leave`.
- Broadcast: `POST /rooms/{room}/events` emits `event` to the room (`emit(..., to=room)`); a
  client's own `publish` event does the same, with `except_self` mapped to `skip_sid` (Socket.IO's
  `socket.to(room).emit`), and is acknowledged with the event's id (a Socket.IO ack).
- Namespaces: `/` is open; `/admin` has its own connect handler, which refuses a client whose
  `auth` does not carry the admin token.

Every event is the same object as on rtbench's servers: `{"id", "room", "data"}`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import socketio

from core import JSON, Limits, RtbenchError, validate_room
from peers.publish import Rooms, publish_app


class SocketIOPeer:
    def __init__(
        self, transport: str, admin_token: str, limits: Limits, ping_interval: float = 25.0
    ) -> None:
        self.sio = socketio.AsyncServer(
            ping_interval=ping_interval,
            async_mode="asgi",
            transports=["polling", "websocket"],
            cors_allowed_origins=[],
            max_http_buffer_size=limits.max_message_bytes,
        )
        self.admin_token = admin_token
        self.rooms = Rooms(transport, self.connections)
        self.members: dict[str, int] = {}
        self.stopping: asyncio.Task[None] | None = None
        sio = self.sio
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("join", self.join)
        sio.on("leave", self.leave)
        sio.on("publish", self.publish)
        sio.on("connect", self.admin_connect, namespace="/admin")
        sio.on("status", self.admin_status, namespace="/admin")
        self.app = socketio.ASGIApp(sio, other_asgi_app=publish_app(self.rooms, self.emit, limits))

    def connections(self) -> dict[str, int]:
        return {room: n for room, n in self.members.items() if n}

    async def emit(self, room: str, event: dict[str, JSON], skip_sid: str | None = None) -> None:
        await self.sio.emit("event", event, to=room, skip_sid=skip_sid)

    async def enter(self, sid: str, room: str) -> None:
        await self.sio.enter_room(sid, room)
        self.members[room] = self.members.get(room, 0) + 1

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        asked = parse_qs(environ.get("QUERY_STRING", "")).get("room", [])
        try:
            rooms = [validate_room(room) for room in asked]
        except RtbenchError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        for room in rooms:
            await self.enter(sid, room)

    async def disconnect(self, sid: str, reason: str = "") -> None:
        for room in self.sio.rooms(sid):
            if room != sid and room in self.members:
                self.members[room] -= 1

    async def join(self, sid: str, room: Any) -> dict[str, JSON]:
        try:
            room = validate_room(room if isinstance(room, str) else "")
        except RtbenchError as exc:
            return {"op": "error", "error": exc.message}
        if room not in self.sio.rooms(sid):
            await self.enter(sid, room)
        return {"op": "joined", "room": room}

    async def leave(self, sid: str, room: Any) -> dict[str, JSON]:
        if isinstance(room, str) and room in self.sio.rooms(sid) and room != sid:
            await self.sio.leave_room(sid, room)
            self.members[room] -= 1
        return {"op": "left", "room": room}

    async def publish(self, sid: str, message: Any) -> dict[str, JSON]:
        if not isinstance(message, dict) or "data" not in message:
            return {"op": "error", "error": f'expected {{"room", "data"}}, got {message!r:.80}'}
        try:
            room = validate_room(message.get("room", ""))
        except RtbenchError as exc:
            return {"op": "error", "error": exc.message}
        event = self.rooms.next_event(room, message["data"])
        await self.emit(room, event, skip_sid=sid if message.get("except_self") else None)
        return {"op": "ack", "id": event["id"]}

    async def admin_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not self.admin_token or token != self.admin_token:
            raise socketio.exceptions.ConnectionRefusedError("expected auth {token}, got none")

    async def admin_status(self, sid: str, *args: Any) -> dict[str, Any]:
        return self.rooms.status()

    def stop(self) -> None:
        """Disconnect every client, so uvicorn's graceful shutdown has nothing to wait for."""
        self.stopping = asyncio.ensure_future(self.sio.shutdown())
