"""The requests every delivery makes, dispatched before Starlette's routing.

A publish and a long poll happen once per event (per subscriber, for long polling). Starlette
would scan its route table with regular expressions, and pass them through its exception
middleware, for each. `HotPaths` sits inside Starlette's error middleware (an exception is still
a logged 500) and hands these two straight to their raw-ASGI endpoints, with the same
`path_params` Starlette would set; every other request goes on to the router.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp

from core.urls import parse_room_path
from servers.asgi import Receive, Scope, Send

HotRoutes = Mapping[tuple[str, str], ASGIApp]
"""(method, path suffix) → endpoint, for paths under `/rooms/{room}/` (any namespace)."""


class HotPaths:
    def __init__(self, app: ASGIApp, routes: HotRoutes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (parts := parse_room_path(scope["path"])) is not None:
            namespace, room, suffix = parts
            endpoint = self.routes.get((scope["method"], suffix))
            if endpoint is not None:
                params = {"room": room} if namespace is None else {"namespace": namespace,
                                                                    "room": room}  # fmt: skip
                scope["path_params"] = params
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
