"""The Starlette app every transport shares: publish, health, status; the transport adds its
subscribe route."""

from __future__ import annotations

import json
import math

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import PayloadTooLarge, RateLimited, RtbenchError, ServerConfig, validate_room
from core.payload import check_size, parse_publish
from servers import demo, metrics
from servers.hub import Hub
from servers.transport import Transport, client_address, room_paths, token_of


def create_app(transport: Transport, config: ServerConfig, hub: Hub | None = None) -> Starlette:
    hub = hub if hub is not None else Hub(transport.name, config)

    def refuse(request: Request, exc: RtbenchError) -> Response:
        limited = "publish" if isinstance(exc, RateLimited) else None
        hub.refused(exc, transport="http", path=request.url.path, limited=limited)
        headers = (
            {"retry-after": str(max(1, math.ceil(exc.retry_after)))}
            if isinstance(exc, RateLimited)
            else None
        )
        return JSONResponse(
            {"error": exc.message, "kind": exc.kind}, exc.status_code, headers=headers
        )

    async def publish(request: Request) -> Response:
        try:
            room = validate_room(request.path_params["room"])
            space = hub.space(request.path_params.get("namespace"))
            space.admit(space.grant(token_of(request.scope)), "publish", room)
            space.check_publish_rate(client_address(request.scope))
            body = await read_body(request, space.max_message_bytes)
            data = parse_publish(body, request.headers.get("content-type"), space.max_message_bytes)
            event = await space.publish(room, data)
        except RtbenchError as exc:
            return refuse(request, exc)
        except ClientDisconnect:
            return Response(status_code=400)
        return Response(b'{"id":%d}' % event.id, 201, media_type="application/json")

    async def room_info(request: Request) -> Response:
        try:
            room = validate_room(request.path_params["room"])
            space = hub.space(request.path_params.get("namespace"))
            # Reading a room's cursor needs the right to subscribe, not a connection slot.
            space.grant(token_of(request.scope)).check("subscribe", space.name, room)
            last_id = await space.broker.last_id(room)
        except RtbenchError as exc:
            return refuse(request, exc)
        subscribers = space.broker.subscribers_by_room().get(room, 0)
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
        *(Route(path, publish, methods=["POST"]) for path in room_paths("events")),
        *(Route(path, room_info, methods=["GET"]) for path in room_paths()),
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
