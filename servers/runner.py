"""Runs an app under an ASGI server chosen by name (`SERVERS`), telling the hub the moment a
stop signal arrives.

- `uvicorn` (default): HTTP/1.1 with httptools behind our header guard, WebSockets.
- `hypercorn`: HTTP/1.1 and, over TLS, HTTP/2 by ALPN (`h2`), WebSockets over both (RFC 8441
  on HTTP/2). Its own limits stand in for the guard: `h11_max_incomplete_size` and
  `h2_max_header_list_size` are set to `limits.max_header_bytes` (it has no header timeout).
- `granian`: HTTP/1.1 and WebSockets in Rust (hyper, tokio), the app on uvloop. hyper's own
  limits stand in for the guard: its header read timeout and its read buffer (431 past it).

The fan-out fast path (`fanout = "direct"`) needs uvicorn's protocols (`servers.protocol`);
under the others every event goes through ASGI `send`.

Servers wait for open responses to finish before they shut down; streams and held polls never
finish on their own, so the hub must close them as soon as SIGTERM/SIGINT is received.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from core import ServerConfig, __version__
from servers.hub import Hub
from servers.protocol import DirectWebSocketProtocol, RequestTaker, guarded

log = logging.getLogger("rtbench.lifecycle")


def log_ready(url: str, host: str, port: int, hub: Hub, server: str) -> None:
    """The one `ready` line every server prints once it listens (`ServerProcess` waits for it)."""
    log.info("ready", extra={"url": url, "host": host, "port": port, "version": __version__,
                             "transport": hub.transport, "broker": hub.broker.kind,
                             "server": server})  # fmt: skip


def on_stop_signals(stop: Callable[[], None]) -> None:
    """Call `stop` in the running loop on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)


TICK_SECONDS = 1.0
"""How often the server's main loop wakes on its own: to refresh the `Date` header."""


class Server(uvicorn.Server):
    """uvicorn, plus: `on_stop` runs in the loop as soon as a stop signal arrives; one `ready`
    log line once bound (the URL, and `ready_fields(url)`, which may override it); and a main
    loop that an exit wakes, instead of one that wakes ten times a second to look for it."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_stop: Callable[[], None],
        ready_fields: Callable[[str], dict[str, Any]],
    ) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.Future[None] | None = None
        super().__init__(config)
        self.on_stop = on_stop
        self.ready_fields = ready_fields

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        # Set by a signal handler, by a failed startup or by whoever embeds the server.
        self._should_exit = value
        if value and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_stop)

    async def main_loop(self) -> None:
        """uvicorn's main loop (`on_tick`: the Date header, then whether to exit), ticking
        once a second instead of every 100 ms, since an exit wakes it at once: an idle server
        was woken ten times a second for nothing (2.5 ms of CPU a second, measured)."""
        loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # uvicorn refreshes its headers when % 10 == 0
            self._tick = loop.create_future()
            timer = loop.call_later(TICK_SECONDS, self._wake)
            try:
                await self._tick
            finally:
                timer.cancel()
                self._tick = None

    def _wake(self) -> None:
        if self._tick is not None and not self._tick.done():
            self._tick.set_result(None)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        scheme = "https" if self.config.is_ssl else "http"
        url = f"{scheme}://{host}:{port}"
        fields = {"url": url, "host": host, "port": port, "version": __version__}
        log.info("ready", extra={**fields, **self.ready_fields(url)})


def uvicorn_config(
    app: ASGIApp, config: ServerConfig, taker: RequestTaker | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=guarded(config.limits, taker),
        ws=DirectWebSocketProtocol,
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


def run_uvicorn(app: Starlette, config: ServerConfig) -> None:
    hub: Hub = app.state.hub
    ready = {"transport": hub.transport, "broker": hub.broker.kind, "server": "uvicorn"}
    taker: RequestTaker | None = app.state.taker
    Server(uvicorn_config(app, config, taker), hub.begin_shutdown, lambda url: ready).run()


def hypercorn_config(config: ServerConfig, sock: socket.socket) -> Any:
    from hypercorn.config import Config

    limits = config.limits
    served = Config()
    served.bind = [f"fd://{sock.fileno()}"]
    if config.ssl_certfile:
        served.certfile, served.keyfile = config.ssl_certfile, config.ssl_keyfile
    served.h11_max_incomplete_size = limits.max_header_bytes
    served.h2_max_header_list_size = limits.max_header_bytes
    served.h2_max_concurrent_streams = 1000  # many streams of one client on one connection
    # hypercorn ends a connection after 1,000 requests by default; a long-polling client over
    # HTTP/2 makes that many in minutes. uvicorn sets no such limit: neither do we.
    served.keep_alive_max_requests = 2**62
    served.websocket_max_message_size = limits.max_message_bytes
    served.websocket_ping_interval = config.heartbeat.ws_ping_seconds or None
    served.graceful_timeout = max(1.0, config.shutdown_grace_seconds)
    served.include_server_header = False
    served.accesslog = None
    served.errorlog = logging.getLogger("rtbench.hypercorn")
    served.backlog = 2048
    return served


def run_hypercorn(app: Starlette, config: ServerConfig) -> None:
    from hypercorn.asyncio import serve

    hub: Hub = app.state.hub
    # Bound here, so port 0 is known before serving: hypercorn takes the socket by fd.
    sock = socket.create_server((config.host, config.port), backlog=2048)
    host, port = sock.getsockname()[:2]
    url = f"{'https' if config.ssl_certfile else 'http'}://{host}:{port}"

    async def main() -> None:
        stopping = asyncio.Event()

        def stop() -> None:
            hub.begin_shutdown()
            stopping.set()

        on_stop_signals(stop)
        log_ready(url, host, port, hub, "hypercorn")
        served: Any = app  # Starlette is an ASGI app; hypercorn types it narrower
        await serve(served, hypercorn_config(config, sock), shutdown_trigger=stopping.wait)

    asyncio.run(main())


def run_granian(app: Starlette, config: ServerConfig) -> None:
    """granian (Rust: hyper and tokio do the HTTP and the sockets), embedded in this process so
    that the server is one process, as with the others, on uvloop as granian's CLI picks it."""
    import uvloop
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.server.embed import Server as Granian

    if config.ssl_certfile:
        raise ValueError("expected --server uvicorn or hypercorn for TLS, got granian")
    hub: Hub = app.state.hub
    limits = config.limits
    # granian takes a port, not a socket, and binds it with SO_REUSEPORT: a socket of ours
    # bound to port 0 with that option tells the port and keeps it ours until granian binds.
    reserved = socket.socket()
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserved.bind((config.host, config.port))
    host, port = reserved.getsockname()[:2]
    served: Any = Granian(  # its embedded server is untyped
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        backlog=2048,
        # hyper's read buffer bounds the request head (431 past it); it takes no less than 8 KiB.
        http1_settings=HTTP1Settings(
            header_read_timeout=int(limits.header_timeout_seconds * 1000),
            max_buffer_size=max(8192, limits.max_header_bytes),
        ),
        log_enabled=False,
    )

    async def main() -> None:
        def stop() -> None:
            hub.begin_shutdown()
            served.stop()

        on_stop_signals(stop)
        serving = asyncio.create_task(served.serve())
        await wait_listening(host, port, serving)
        reserved.close()
        log_ready(f"http://{host}:{port}", host, port, hub, "granian")
        await serving

    uvloop.run(main())


async def wait_listening(host: str, port: int, serving: asyncio.Task[None]) -> None:
    """Return once a connection to (host, port) is accepted; raise if `serving` ends first."""
    while not serving.done():
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        return
    serving.result()
    raise RuntimeError(f"expected granian to listen on {host}:{port}, got it stopped")


SERVERS: dict[str, Callable[[Starlette, ServerConfig], None]] = {
    "uvicorn": run_uvicorn,
    "hypercorn": run_hypercorn,
    "granian": run_granian,
}


def run(app: Starlette, config: ServerConfig, server: str = "uvicorn") -> None:
    try:
        runner = SERVERS[server]
    except KeyError:
        raise ValueError(f"expected a server among {', '.join(SERVERS)}, got {server!r}") from None
    runner(app, config)
