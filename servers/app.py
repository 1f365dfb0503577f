"""The Starlette app every transport shares: publish, health, status; the transport adds its
subscribe route."""

from __future__ import annotations

import json

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import PayloadTooLarge, RtbenchError, ServerConfig, validate_room
from core.payload import check_size, parse_publish_body
from servers import demo, metrics
from servers.hub import Hub
from servers.transport import Transport


def create_app(transport: Transport, config: ServerConfig, hub: Hub | None = None) -> Starlette:
    hub = hub if hub is not None else Hub(transport.name, config)

    async def publish(request: Request) -> Response:
        try:
            room = request.path_params["room"]
            body = await read_body(request, hub.limits.max_message_bytes)
            data = parse_publish_body(body, hub.limits.max_message_bytes)
            event = await hub.publish(room, data)
        except RtbenchError as exc:
            hub.error(exc.kind, exc.message, transport="http", path=request.url.path)
            return JSONResponse({"error": exc.message, "kind": exc.kind}, exc.status_code)
        except ClientDisconnect:
            return Response(status_code=400)
        return Response(b'{"id":%d}' % event.id, 201, media_type="application/json")

    async def room_info(request: Request) -> Response:
        try:
            room = validate_room(request.path_params["room"])
            last_id = await hub.broker.last_id(room)
        except RtbenchError as exc:
            hub.error(exc.kind, exc.message, transport="http", path=request.url.path)
            return JSONResponse({"error": exc.message, "kind": exc.kind}, exc.status_code)
        subscribers = hub.broker.subscribers_by_room().get(room, 0)
        return JSONResponse({"room": room, "last_id": last_id, "subscribers": subscribers})

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def status(request: Request) -> Response:
        return Response(
            json.dumps(hub.status(), indent=2),
            media_type="application/json",
            headers={"cache-control": "no-store"},
        )

    registry = metrics.registry_for(hub)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/rooms/{room}/events", publish, methods=["POST"]),
        Route("/rooms/{room}", room_info, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        *transport.routes(hub),
        *demo.routes(),
    ]
    app = Starlette(routes=routes, lifespan=hub.lifespan)
    app.state.hub = hub
    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        check_size(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"expected a body of at most {limit} bytes, got more")
        chunks.append(chunk)
    return b"".join(chunks)
