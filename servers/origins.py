"""The same-origin rule, for every request: a browser page may reach a server only from the
server's own origin, or from an origin the config names.

A browser sends `Origin` with every WebSocket handshake and every cross-site request, and
applies no CORS to a WebSocket: without this rule any page the user visits could read a local
server's rooms (cross-site WebSocket hijacking) or publish into them. A request without
`Origin` comes from a non-browser client and passes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp

from core import Forbidden
from servers.asgi import Receive, Scope, Send, header, send_refusal
from servers.hub import Hub

ANY_ORIGIN = "*"
"""In `allowed_origins`: every origin, on purpose (the hole this rule closes, reopened)."""


def same_origin(origin: str, host: str | None) -> bool:
    """Whether `origin` (`scheme://host[:port]`) names the host the request was sent to."""
    if host is None:
        return False
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.strip().lower()


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    return origin is None or ANY_ORIGIN in allowed or origin in allowed or same_origin(origin, host)


def foreign_origin(scope: Scope, allowed: frozenset[str]) -> str | None:
    """The request's `Origin` when the rule refuses it; None when it passes."""
    origin = header(scope, b"origin")
    if origin is None or origin_allowed(origin, header(scope, b"host"), allowed):
        return None
    return origin


class SameOrigin:
    """Refuses, with 403, an http or websocket request whose Origin is neither its own Host nor
    in `allowed_origins`."""

    def __init__(self, app: ASGIApp, hub: Hub) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            origin = foreign_origin(scope, self.hub.origins)
            if origin is not None:
                exc = Forbidden(
                    f"expected an Origin of this server or among allowed_origins, got "
                    f"{origin[:100]!r}",
                    reason="origin",
                )
                self.hub.refused(exc, path=scope.get("path"))
                await send_refusal(scope, send, exc)
                return
        await self.app(scope, receive, send)
