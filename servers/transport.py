"""What a transport is to the app: a name and the subscribe routes it adds."""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from typing import Any, Literal

from starlette.routing import BaseRoute

from core import Event, Item, RtbenchError, ServerConfig, Subscription
from core.auth import Grant
from core.subscription import Frame, Sink
from core.urls import route_templates
from servers.asgi import (
    Scope,
    Send,
    address_of,
    header,
    query,
    send_refusal,
)
from servers.connection import Connection
from servers.hot import HotRoutes
from servers.hub import Hub, Space
from servers.protocol import DIRECT, RequestTaker, Respond

room_paths = route_templates


def bearer_of(scope: Scope) -> str | None:
    """The credentials of `Authorization: Bearer <credentials>`, if the request has them."""
    authorization = header(scope, b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def token_of(scope: Scope) -> str | None:
    """`Authorization: Bearer <jwt>`, or `?token=` for clients that cannot set headers."""
    return bearer_of(scope) or query(scope).get("token") or None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def direct_writers(scope: Scope, config: ServerConfig) -> dict[str, Any] | None:
    """The server protocol's direct writers (`servers.protocol`), when the config takes the
    fast path and the server offers it. A HEAD request never takes it: its answer has no body,
    which the ASGI server's own cycle knows how to leave out."""
    if config.fanout != "direct" or scope.get("method") == "HEAD":
        return None
    extension: dict[str, Any] | None = scope.get("extensions", {}).get(DIRECT)
    return extension


def direct_respond(scope: Scope, config: ServerConfig) -> Respond | None:
    """The server protocol's `respond` (a whole answer, written now or refused), when the fast
    path is taken."""
    writers = direct_writers(scope, config)
    if writers is None:
        return None
    respond: Respond = writers["respond"]
    return respond


class Transport(abc.ABC):
    name: str

    @abc.abstractmethod
    def routes(self, hub: Hub) -> list[BaseRoute]: ...

    def hot_routes(self, hub: Hub) -> HotRoutes:
        """Requests made once per delivery, served before Starlette's routing
        (`servers.hot`): (method, path suffix under /rooms/{room}/) → raw-ASGI endpoint."""
        return {}

    def taker(self, hub: Hub) -> RequestTaker | None:
        """What answers some requests in the HTTP protocol itself, with no ASGI cycle
        (`servers.protocol.RequestTaker`), under uvicorn."""
        return None


class Endpoint:
    """Base of the raw-ASGI subscribe endpoints: holds the hub, reports refusals."""

    transport: str

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def refuse(self, send: Send, scope: Scope, exc: RtbenchError) -> None:
        """Count and answer a refused subscribe: an HTTP error, or before a WebSocket's
        upgrade, an HTTP error when the server supports it, else a close it answers 403."""
        self.hub.refused(exc, transport=self.transport, path=scope.get("path"))
        await send_refusal(scope, send, exc)

    def stream(self, space: Space, grant: Grant, send: Send, room: str, scope: Scope) -> Connection:
        """A long-lived subscriber connection (SSE, WebSocket), closed when its token expires."""
        return Connection(
            self.hub,
            space,
            send,
            capacity=self.hub.limits.queue_events,
            max_bytes=self.hub.limits.queue_bytes,
            stall_seconds=self.hub.limits.stall_seconds,
            expires_at=grant.expires_at,
            max_age=self.hub.config.heartbeat.stream_max_seconds,
            room=room,
            subject=grant.subject,
            address=address_of(scope),
        )

    def admit(self, scope: Scope, room: str) -> tuple[Space, Grant]:
        """The handshake gate, before a stream starts, a poll is held or an upgrade completes:
        namespace, token, rights for the room, connection quota (the Origin was checked for
        every request by `servers.origins`)."""
        hub = self.hub
        space = hub.space(scope["path_params"].get("namespace"))
        grant = space.grant(token_of(scope))
        space.admit(grant, "subscribe", room)
        hub.check_capacity(address_of(scope))
        return space, grant

    def direct(self, scope: Scope) -> dict[str, Any] | None:
        return direct_writers(scope, self.hub.config)

    def go_direct(
        self,
        scope: Scope,
        subscription: Subscription,
        frame: Frame,
        kind: Literal["stream", "answer"] = "stream",
    ) -> None:
        """The fan-out fast path, when the config asks for it and the server's protocol offers
        it: items go to the socket as they are offered, `frame`d once per event (see
        `servers.protocol` and `core.subscription`). `kind`: the sink of a `stream`'s frames or
        chunks, or of one whole `answer`."""
        extension = self.direct(scope)
        if extension is None:
            return
        sink: Sink | None = extension[kind]()
        if sink is not None:
            subscription.attach(sink, frame)

    def count_delivered(self, items: Sequence[Item]) -> None:
        """Count the events written and the server's own delivery latency for `/status`."""
        stats = self.hub.stats
        now = time.time_ns()
        for item in items:
            if isinstance(item, Event):
                stats.count_delivery(item.ts_ns, now)
