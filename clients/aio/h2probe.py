"""Measuring subscribers over HTTP/2: long polling and SSE as streams of shared connections.

HTTP/2 is negotiated by ALPN over TLS (as browsers do). One `H2Connection` carries the streams
of up to `per_connection` subscribers (`H2Pool`), through the `h2` library's sans-I/O state
machine on an asyncio transport. A long poll is one stream per request; an SSE subscription is
one stream that stays open. WebSocket stays on HTTP/1.1 here (RFC 8441's extended CONNECT is
what a browser uses over HTTP/2 when the server offers it).

The kernel's byte counts belong to the connection: its first subscriber reports them, the
others report none, so the driver's sums stay exact.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import h2.config
import h2.connection
import h2.events
import h2.settings

from clients.aio.probe import PollProbe, Probe, SSEProbe, tcp_bytes, tcp_segments
from core import jsonc
from core.urls import subscribe_path
from core.wire import sse

WINDOW = 16 * 1024 * 1024
"""Flow-control window granted per stream and per connection: a subscriber never throttles
the server because it read late."""


class StreamHandler(Protocol):
    def head(self, status: int) -> None: ...

    def data(self, data: bytes, received_ns: int) -> None: ...

    def ended(self, received_ns: int) -> None: ...

    def failed(self, error: str) -> None: ...


class H2Connection(asyncio.Protocol):
    """One TLS connection speaking HTTP/2 for many streams."""

    def __init__(self, host: str, port: int, netloc: str, tls: ssl.SSLContext) -> None:
        self.host, self.port, self.netloc, self.tls = host, port, netloc, tls
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.transport: asyncio.Transport | None = None
        self.handlers: dict[int, StreamHandler] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bytes_in = self.bytes_out = 0
        self.owner: Probe | None = None
        """The subscriber that reports this connection's kernel counts."""

    async def open(self) -> None:
        tls = self.tls
        tls.set_alpn_protocols(["h2"])
        await asyncio.get_running_loop().create_connection(
            lambda: self, self.host, self.port, ssl=tls, server_hostname=self.host
        )
        await self.ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        negotiated = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if negotiated != "h2":
            self.ready.set_exception(
                ConnectionError(f"expected ALPN h2 from the server, got {negotiated!r}")
            )
            self.transport.close()
            return
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW})
        self.h2.increment_flow_control_window(WINDOW - 65535)
        self.flush()
        self.ready.set_result(None)

    def request(self, path: str, headers: dict[str, str], handler: StreamHandler) -> int:
        stream_id: int = self.h2.get_next_available_stream_id()
        fields = [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", self.netloc.encode()),
            (b":path", path.encode()),
            *((name.encode(), value.encode()) for name, value in headers.items()),
        ]
        self.h2.send_headers(stream_id, fields, end_stream=True)
        self.handlers[stream_id] = handler
        self.flush()
        return stream_id

    def cancel(self, stream_id: int) -> None:
        if self.handlers.pop(stream_id, None) is not None and self.transport is not None:
            self.h2.reset_stream(stream_id)
            self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.bytes_out += len(data)
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        received_ns = time.time_ns()
        self.bytes_in += len(data)
        for event in self.h2.receive_data(data):
            handler = self.handlers.get(getattr(event, "stream_id", 0) or 0)
            if isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if handler is not None:
                    handler.data(event.data, received_ns)
            elif isinstance(event, h2.events.ResponseReceived) and handler is not None:
                status = dict(event.headers).get(b":status", b"0")
                handler.head(int(status))
            elif isinstance(event, h2.events.StreamEnded) and handler is not None:
                self.handlers.pop(event.stream_id, None)
                handler.ended(received_ns)
            elif isinstance(event, h2.events.StreamReset) and handler is not None:
                self.handlers.pop(event.stream_id, None)
                handler.failed(f"stream reset by the server ({event.error_code!r})")
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.connection_lost(ConnectionError(f"GOAWAY {event.error_code!r}"))
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))
        handlers, self.handlers = self.handlers, {}
        for handler in handlers.values():
            handler.failed(f"connection lost: {exc}")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class H2Pool:
    """Hands out connections: a new one for every `per_connection` subscribers."""

    def __init__(self, per_connection: int) -> None:
        self.per_connection = max(1, per_connection)
        self.connections: list[H2Connection] = []
        self.assigned = 0
        self.lock = asyncio.Lock()

    async def connection(self, probe: Probe) -> H2Connection:
        async with self.lock:
            if self.assigned % self.per_connection == 0:
                assert probe.tls is not None, "HTTP/2 needs an https:// server (ALPN)"
                made = H2Connection(probe.host, probe.port, probe.netloc, probe.tls)
                await made.open()
                made.owner = probe
                self.connections.append(made)
            self.assigned += 1
            return self.connections[-1]


Count = Callable[[socket.socket], tuple[int, int] | None]


def shared_counts(
    probe: Probe, connection: H2Connection | None, count: Count
) -> tuple[int, int] | None:
    """A connection's kernel counts, reported by its first subscriber only (0 for the rest)."""
    if connection is None or connection.transport is None:
        return None
    if connection.owner is not probe:
        return (0, 0)
    sock = connection.transport.get_extra_info("socket")
    return count(sock) if sock is not None else None


class H2Stream(Probe):
    """What both HTTP/2 subscribers share: a stream of a pooled connection, failing without
    closing the connection its neighbours use, and the connection's kernel counts reported once.
    """

    def __init__(self, *args: Any, pool: H2Pool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool
        self.connection: H2Connection | None = None
        self.stream_id = 0

    def failed(self, error: str) -> None:
        self.fail(error)

    def fail(self, error: str) -> None:
        self.error = self.error or error
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(error))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.cancel(self.stream_id)
            if self.connection.owner is self and not self.connection.handlers:
                self.connection.close()

    def wire_bytes(self) -> tuple[int, int] | None:
        return shared_counts(self, self.connection, tcp_bytes)

    def wire_segments(self) -> tuple[int, int] | None:
        return shared_counts(self, self.connection, tcp_segments)


class H2SSEProbe(H2Stream, SSEProbe):
    """One SSE stream on a shared HTTP/2 connection."""

    async def open(self) -> None:
        self.connection = await self.pool.connection(self)
        self.parser = sse.SSEParser()
        headers = {**self.headers, "accept": "text/event-stream", "last-event-id": str(self.after)}
        path = subscribe_path("sse", self.room)
        self.stream_id = self.connection.request(path, headers, self)
        await self.ready

    def head(self, status: int) -> None:
        if status != 200:
            self.fail(f"expected 200 for the SSE stream, got {status}")
        elif not self.ready.done():
            self.ready.set_result(None)

    def data(self, data: bytes, received_ns: int) -> None:
        self.bytes_in += len(data)
        try:
            for message in self.parser.feed(data):
                self.deliver(jsonc.loads_fast(message.data), received_ns)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}")

    def ended(self, received_ns: int) -> None:
        self.fail("stream ended by server")


class H2PollProbe(H2Stream, PollProbe):
    """Long polling on a shared HTTP/2 connection: each poll is a new stream."""

    async def open(self) -> None:
        self.connection = await self.pool.connection(self)
        self.cursor = self.after
        self.status = 0
        self.body: list[bytes] = []
        self.poll()
        self.ready.set_result(None)

    def poll(self) -> None:
        assert self.connection is not None
        self.body = []
        self.stream_id = self.connection.request(self.poll_target(), self.headers, self)
        self.polls += 1

    def head(self, status: int) -> None:
        self.status = status

    def data(self, data: bytes, received_ns: int) -> None:
        self.bytes_in += len(data)
        self.body.append(data)

    def ended(self, received_ns: int) -> None:
        try:
            self.answered(b"".join(self.body), received_ns)
        except Exception as exc:
            self.fail(f"{type(exc).__name__}: {exc}")


H2_PROBES: dict[str, type[Probe]] = {"longpoll": H2PollProbe, "sse": H2SSEProbe}
