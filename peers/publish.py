"""The publish API every peer shares with rtbench's servers: `POST /rooms/{room}/events`,
`GET /rooms/{room}`, `/healthz` and a small `/status`, as one Starlette app.

Per-room ids are assigned here, gap-free, so the driver judges peers exactly as it judges our
servers (every event once, in order). Publishing pays the same path as ours (a raw-ASGI
endpoint dispatched before Starlette's routing, `servers.hot`); only the fan-out differs.
"""

from __future__ import annotations

import abc
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Lifespan

from core import JSON, Limits, RtbenchError, __version__, validate_room
from core.decoding import parse_publish
from core.urls import route_templates
from servers.app import read_body
from servers.asgi import Receive, Scope, Send, error_body, header, send_json
from servers.hot import HotPaths

Member = TypeVar("Member")
Deliver = Callable[[str, dict[str, JSON]], Awaitable[None]]
"""Fan one event object `{"id", "room", "data"}` out to the subscribers of a room."""


class Rooms:
    """Per-room gap-free ids and what `/status` reports."""

    def __init__(self, transport: str, connections: Callable[[], dict[str, int]]) -> None:
        self.transport = transport
        self.connections = connections
        self.last_ids: dict[str, int] = {}
        self.published = 0
        self.started = time.monotonic()

    def next_event(self, room: str, data: JSON) -> dict[str, JSON]:
        event_id = self.last_ids[room] = self.last_ids.get(room, 0) + 1
        self.published += 1
        return {"id": event_id, "room": room, "data": data}

    def status(self) -> dict[str, Any]:
        by_room = self.connections()
        return {
            "transport": self.transport,
            "version": __version__,
            "peer": True,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "connections": {"total": sum(by_room.values()), "by_room": by_room},
            "events": {"published": self.published},
        }


def publish_app(
    rooms: Rooms, deliver: Deliver, limits: Limits, lifespan: Lifespan[Starlette] | None = None
) -> Starlette:
    async def publish(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            room = validate_room(scope["path_params"]["room"])
            body = await read_body(scope, receive, limits.max_message_bytes)
            content_type = header(scope, b"content-type")
            data = parse_publish(body, content_type, limits.max_message_bytes)
        except RtbenchError as exc:
            await send_json(send, exc.status_code, error_body(exc))
            return
        except ClientDisconnect:
            return
        event = rooms.next_event(room, data)
        await deliver(room, event)
        await send_json(send, 201, b'{"id":%d}' % event["id"])

    async def room_info(request: Request) -> Response:
        try:
            room = validate_room(request.path_params["room"])
        except RtbenchError as exc:
            return JSONResponse({"error": exc.message, "kind": exc.kind}, exc.status_code)
        subscribers = rooms.connections().get(room, 0)
        last_id = rooms.last_ids.get(room, 0)
        return JSONResponse({"room": room, "last_id": last_id, "subscribers": subscribers})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def status(request: Request) -> Response:
        return Response(json.dumps(rooms.status(), indent=2), media_type="application/json")

    routes = [
        Route(route_templates("events")[0], publish, methods=["POST"]),
        Route(route_templates()[0], room_info, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
    ]
    hot = {("POST", "events"): publish}
    return Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(HotPaths, routes=hot)]
    )


class WebSocketPeer(abc.ABC, Generic[Member]):
    """A WebSocket peer: subscribers at `/rooms/{room}/ws` on its own server, the publish API
    on a second port of the same process and loop (`publish_url` in the ready line)."""

    name: str

    def __init__(self, host: str, port: int, limits: Limits) -> None:
        self.host, self.port = host, port
        self.subscribers: dict[str, set[Member]] = {}
        self.rooms = Rooms(self.name, self.connections)
        self.url = ""
        self.server: Any = None
        self.app = publish_app(self.rooms, self.deliver, limits, lifespan=self.lifespan)
        self.max_size = limits.max_message_bytes

    def connections(self) -> dict[str, int]:
        return {room: len(members) for room, members in self.subscribers.items() if members}

    @abc.abstractmethod
    async def deliver(self, room: str, event: dict[str, JSON]) -> None: ...

    @abc.abstractmethod
    async def listen(self) -> Any:
        """Start the WebSocket server on (host, port); return it (an `asyncio.Server`-like)."""

    @abc.abstractmethod
    def stop(self) -> None: ...

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.server = await self.listen()
        host, port = next(iter(self.server.sockets)).getsockname()[:2]
        self.url = f"http://{host}:{port}"
        try:
            yield
        finally:
            self.stop()
            await self.server.wait_closed()

    def ready_fields(self, publish_url: str) -> dict[str, Any]:
        port = int(self.url.rsplit(":", 1)[1])
        return {"transport": self.name, "url": self.url, "port": port, "publish_url": publish_url}
