"""The Starlette app every transport shares: publish, health, status; the transport adds its
subscribe route."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import math

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import (
    Limits,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    RtbenchError,
    ServerConfig,
    validate_room,
)
from core.decoding import check_size, parse_publish
from servers import demo, metrics
from servers.asgi import Receive, Scope, Send, error_body, header, send_json
from servers.hot import HotPaths
from servers.hub import Hub
from servers.origins import SameOrigin
from servers.transport import (
    Transport,
    bearer_of,
    client_address,
    direct_respond,
    room_paths,
    token_of,
)

FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def status_detail(scope: Scope, config: ServerConfig) -> bool:
    """Whether this request may read `/status`'s detailed view: it carries the status token,
    or (when allowed) it comes from this host's loopback with no sign of a proxy in front,
    since through a proxy on this host every client would look local."""
    token, credentials = config.status_token.encode(), bearer_of(scope)
    if token and credentials is not None and hmac.compare_digest(credentials.encode(), token):
        return True
    if not config.status_detail_loopback:
        return False
    if any(name in FORWARDED for name, _ in scope["headers"]):
        return False
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:  # a Unix socket's peer
        return False


def create_app(transport: Transport, config: ServerConfig, hub: Hub | None = None) -> Starlette:
    hub = hub if hub is not None else Hub(transport.name, config)

    def refused(exc: RtbenchError, path: str | None) -> list[tuple[bytes, bytes]]:
        """Count a refused request; the headers its answer carries (Retry-After, when a rate
        limit refused it)."""
        limited = "publish" if isinstance(exc, RateLimited) else None
        hub.refused(exc, transport="http", path=path, limited=limited)
        if isinstance(exc, RateLimited):
            return [(b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode())]
        return []

    def refuse(request: Request, exc: RtbenchError) -> Response:
        headers = {k.decode(): v.decode() for k, v in refused(exc, request.url.path)}
        return JSONResponse(
            {"error": exc.message, "kind": exc.kind}, exc.status_code, headers=headers or None
        )

    async def publish(scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /rooms/{room}/events`, raw ASGI: it runs once per event published."""
        params = scope["path_params"]
        try:
            room = validate_room(params["room"])
            space = hub.space(params.get("namespace"))
            space.admit(space.grant(token_of(scope)), "publish", room)
            space.check_publish_rate(client_address(scope))
            body = await read_body(
                scope, receive, space.max_message_bytes, hub.limits.body_timeout_seconds
            )
            data = parse_publish(body, header(scope, b"content-type"), space.max_message_bytes)
            event = await space.publish(room, data)
        except RtbenchError as exc:
            headers = refused(exc, scope.get("path"))
            if isinstance(exc, RequestTimeout):
                headers.append((b"connection", b"close"))  # the rest of its body never came
            await send_json(send, exc.status_code, error_body(exc), headers)
            return
        except ClientDisconnect:
            return  # nobody is left to answer
        answer = b'{"id":%d}' % event.id
        respond = direct_respond(scope, hub.config)
        if respond is None or not respond(answer, 201):
            await send_json(send, 201, answer)

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
        body = hub.status() if status_detail(request.scope, hub.config) else hub.summary()
        return Response(
            json.dumps(body, indent=2),
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
    hot = {("POST", "events"): publish, **transport.hot_routes(hub)}
    app = Starlette(
        routes=routes,
        lifespan=hub.lifespan,
        middleware=[Middleware(SameOrigin, hub=hub), Middleware(HotPaths, routes=hot)],
    )
    app.state.hub = hub
    app.state.taker = transport.taker(hub)
    return app


BODY_TIMEOUT = Limits().body_timeout_seconds


async def read_body(
    scope: Scope, receive: Receive, limit: int, within_seconds: float = BODY_TIMEOUT
) -> bytes:
    """The request body, refused as soon as it is known to exceed `limit` bytes, or when it is
    not whole within `within_seconds`."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        check_size(int(declared), limit)
    try:
        async with asyncio.timeout(within_seconds):
            return await _read_body(receive, limit)
    except TimeoutError:
        raise RequestTimeout(
            f"expected the request body within {within_seconds:g} s, got only part of it"
        ) from None


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"expected a body of at most {limit} bytes, got more")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
