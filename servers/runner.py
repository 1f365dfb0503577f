"""Runs an app under uvicorn, telling the hub the moment a stop signal arrives.

uvicorn waits for open responses to finish before it shuts down; streams and held polls never
finish on their own, so the hub must close them as soon as SIGTERM/SIGINT is received.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from core import ServerConfig, __version__
from servers.hub import Hub
from servers.protocol import guarded

log = logging.getLogger("rtbench.lifecycle")


class Server(uvicorn.Server):
    """uvicorn, plus: `on_stop` runs in the loop as soon as a stop signal arrives, and one
    `ready` log line once bound: the URL, and `ready_fields(url)`, which may override it."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_stop: Callable[[], None],
        ready_fields: Callable[[str], dict[str, Any]],
    ) -> None:
        super().__init__(config)
        self.on_stop = on_stop
        self.ready_fields = ready_fields
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_stop)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        scheme = "https" if self.config.is_ssl else "http"
        url = f"{scheme}://{host}:{port}"
        fields = {"url": url, "host": host, "port": port, "version": __version__}
        log.info("ready", extra={**fields, **self.ready_fields(url)})


def uvicorn_config(app: ASGIApp, config: ServerConfig) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=guarded(config.limits),
        ws="websockets-sansio",
        ws_max_size=config.limits.max_message_bytes,
        ws_per_message_deflate=config.compression,
        ws_ping_interval=config.heartbeat.ws_ping_seconds or None,
        ssl_certfile=config.ssl_certfile or None,
        ssl_keyfile=config.ssl_keyfile or None,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(max(1, config.shutdown_grace_seconds)),
    )


def run(app: Starlette, config: ServerConfig) -> None:
    hub: Hub = app.state.hub
    ready = {"transport": hub.transport, "broker": hub.broker.kind}
    Server(uvicorn_config(app, config), hub.begin_shutdown, lambda url: ready).run()
