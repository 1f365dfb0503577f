"""uvicorn's protocols with what we need of them: the request-head limits httptools lacks, and
a direct write for the fan-out.

The fan-out fast path: each protocol offers the app, in the ASGI scope's extensions (`DIRECT`),
a sink (`core.subscription.Sink`) that writes already-framed bytes (a whole WebSocket frame, a
whole chunk of a chunked response, a whole long-poll answer) to the socket at once. The
protocol keeps the sink's `ready` up to date: not while the transport's buffer is over its
high-water mark, nor once the response or socket is closing. A connection that negotiated a
per-message compression (whose state a raw frame would skip) offers none, and the app uses
`send`. uvicorn takes protocol classes by value (`Config(http=..., ws=...)`).

The request-head limits:

uvicorn + httptools reads request headers without a size limit or a time limit (its h11
protocol has `h11_max_incomplete_event_size`, and nothing times a head out; nginx has
`large_client_header_buffers` and `client_header_timeout`, hypercorn `h11_max_incomplete_size`
and its keep-alive timeout). Without them one client can hold a connection forever by sending a
byte every few seconds, or make the server buffer a header of any size. uvicorn takes the HTTP
protocol class by value (`Config(http=...)`), so the limits live in a subclass:

- a request head (request line and headers) larger than `max_header_bytes` is answered 431
  and the connection closed, before the application sees it;
- a connection whose request head is not complete `header_timeout` seconds after it opened
  (or after its previous response) is closed. A connection that sends nothing at all is one.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame
from websockets.http11 import Request

from core.config import Limits
from core.wire.http import encode_head

DEFAULTS = Limits()
LINGER_SECONDS = 2.0
DIRECT = "rtbench.direct"
"""The scope extension holding `{"stream": () -> Sink | None}` (the sink of a stream's frames or
chunks, once its head is sent), and for an HTTP response `"answer"` (the sink of one whole
answer), `"respond"` (a whole answer, written now or refused), `"on_lost"` (a callback for the
client leaving) and `"loop"` (the connection's event loop) too."""


OK_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 201: b"HTTP/1.1 201 Created\r\n"}
"""The answers `DirectBody.respond` writes: a poll's events, a publish's id."""


def json_answer(default_headers: list[tuple[bytes, bytes]], body: bytes, status: int) -> bytes:
    """A whole JSON answer as uvicorn would write it: its default headers, then ours."""
    length = [(b"content-length", b"%d" % len(body))]
    return encode_head(STATUS_LINES[status], [*default_headers, *OK_JSON, *length]) + body


class Respond(Protocol):
    """`DirectBody.respond`, as the app finds it in the scope's extension."""

    def __call__(self, body: bytes, status: int = 200) -> bool: ...


class RequestTaker(Protocol):
    """What answers some GET requests in the protocol itself, without an ASGI cycle (a held
    long poll: `servers.longpoll.ProtocolPolls`). `take` returns False for a request it
    leaves to the app, having written nothing: the app then answers it, refusals included."""

    def take(self, request: TakenRequest) -> bool: ...


MAX_DEFERRED_BYTES = 64 * 1024
"""Bytes a client may send while its taken request is unanswered (a pipelined request)."""


class TakenRequest:
    """A GET the protocol answers without an ASGI cycle: its head as parsed, and the sink of
    its one whole answer (`core.subscription.Sink`). Until the answer is written the protocol
    reads nothing more of the connection than it keeps aside."""

    __slots__ = ("answered", "client", "headers", "lost", "overtaken", "path", "protocol", "query")

    def __init__(
        self,
        protocol: GuardedHttpToolsProtocol,
        path: bytes,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.protocol = protocol
        self.path = path
        self.query = query
        self.headers = headers
        self.client = protocol.client
        self.answered = False
        self.lost: Callable[[], None] | None = None
        self.overtaken: Callable[[], None] | None = None
        """Called when the client sends its next request before this one is answered: the
        answer must come now, before the next one's."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.protocol.loop

    @property
    def ready(self) -> bool:
        """The answer can be written now."""
        protocol = self.protocol
        return not (self.answered or protocol.flow.write_paused or protocol.transport.is_closing())

    @property
    def writer(self) -> TakenRequest:
        return self

    def watch(self, on_change: Callable[[], None] | None) -> bool:
        return False  # `ready` is read when asked

    def write(self, body: bytes) -> None:
        self.respond(body)

    def respond(self, body: bytes) -> bool:
        """Write the whole JSON answer now, False when it cannot be written."""
        if not self.ready:
            return False
        self.answered = True
        self.lost = None
        self.protocol.answer_taken(body)
        return True

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the client leaves before the answer (now, if it has)."""
        if self.protocol.transport.is_closing():
            callback()
        else:
            self.lost = callback

    def connection_lost(self) -> None:
        callback, self.lost = self.lost, None
        if callback is not None:
            callback()


class StreamSink:
    """A stream's socket as the fan-out writes to it (`core.subscription.Sink`): the transport
    itself, and `ready` as the connection keeps it (open, not paused). Every place the
    connection's transport may close while the stream is on shuts the sink first."""

    __slots__ = ("_on_change", "_open", "_paused", "ready", "writer")

    def __init__(self, transport: asyncio.Transport, *, paused: bool) -> None:
        self.writer = transport
        self._open = True
        self._paused = paused
        self.ready = not paused
        self._on_change: Callable[[], None] | None = None

    def watch(self, on_change: Callable[[], None] | None) -> bool:
        self._on_change = on_change
        return True

    def shut(self) -> None:
        """The stream is over (its close is sent or its transport closing, its response
        complete, its client gone)."""
        self._open = False
        self._update()

    def pause(self, paused: bool) -> None:
        self._paused = paused
        self._update()

    def _update(self) -> None:
        ready = self._open and not self._paused
        if ready != self.ready:
            self.ready = ready
            if self._on_change is not None:
                self._on_change()


class DirectBody:
    """The fast path of one response: a whole answer (`respond`, and as a sink for the
    fan-out), or the chunks of a chunked body (`open_stream`).

    It holds its request's cycle weakly: the cycle's scope holds these writers, and a strong
    reference back would make every request a reference cycle, freed only by the cyclic
    collector instead of the moment the request is done."""

    __slots__ = ("cycle", "lost", "stream")

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = weakref.ref(cycle)
        self.lost: Callable[[], None] | None = None
        self.stream: StreamSink | None = None

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the client leaves before this response is complete (now, if
        it has left): a held request learns it without a task blocked in `receive`."""
        cycle = self.cycle()
        if cycle is None or cycle.disconnected:
            callback()
        else:
            self.lost = callback

    def connection_lost(self) -> None:
        self.finished()
        callback, self.lost = self.lost, None
        if callback is not None:
            callback()

    def finished(self) -> None:
        if self.stream is not None:
            self.stream.shut()

    def pause(self, paused: bool) -> None:
        if self.stream is not None:
            self.stream.pause(paused)

    @property
    def ready(self) -> bool:
        """A whole answer can be written now (`core.subscription.Sink`)."""
        cycle = self.cycle()
        return not (
            cycle is None
            or cycle.response_started
            or cycle.disconnected
            or not cycle.keep_alive
            or cycle.flow.write_paused
            or cycle.transport.is_closing()
        )

    @property
    def writer(self) -> DirectBody:
        return self

    def watch(self, on_change: Callable[[], None] | None) -> bool:
        return False  # `ready` is read off the request's cycle when asked

    def write(self, body: bytes) -> None:
        self.respond(body)

    def open_answer(self) -> DirectBody:
        return self

    def respond(self, body: bytes, status: int = 200) -> bool:
        """The whole JSON answer to this request, written now, as uvicorn would write it (its
        default headers, then ours), and the request is done; False when it cannot be written
        now (the app then answers through ASGI)."""
        cycle = self.cycle()
        if cycle is None or not self.ready:
            return False
        cycle.response_started = cycle.response_complete = True
        self.lost = None
        cycle.transport.write(json_answer(cycle.default_headers, body, status))
        cycle.message_event.set()
        cycle.on_response()
        return True

    def complete(self) -> bool:
        cycle = self.cycle()
        return cycle is None or cycle.response_complete

    def open_stream(self) -> StreamSink | None:
        """The sink of this response's chunks, once its head is sent with a chunked body."""
        cycle = self.cycle()
        if (
            cycle is None
            or not cycle.response_started
            or cycle.response_complete
            or cycle.disconnected
            or not cycle.chunked_encoding
            or cycle.transport.is_closing()
        ):
            return None
        self.stream = StreamSink(cycle.transport, paused=cycle.flow.write_paused)
        return self.stream


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets sans-I/O protocol, offering the direct write of whole frames.

    `close_sent` and `disconnected` are properties here so that every place uvicorn sets them
    shuts the sink as well; the two closes that set neither (a server shutdown, the peer's
    close) shut it themselves."""

    sink: StreamSink | None = None
    _close_sent = False
    _disconnected = False

    @property
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        self._close_sent = value
        if value and self.sink is not None:
            self.sink.shut()

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @disconnected.setter
    def disconnected(self, value: bool) -> None:
        self._disconnected = value
        if value and self.sink is not None:
            self.sink.shut()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None and not self.close_sent and not self.conn.extensions:
            scope["extensions"][DIRECT] = {"stream": self.open_stream}

    def open_stream(self) -> StreamSink | None:
        """The sink of this connection's frames, once the app accepted it."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.transport.is_closing()
        ):
            return None
        self.sink = StreamSink(self.transport, paused=not self.writable.is_set())
        return self.sink

    def shutdown(self) -> None:
        super().shutdown()
        if self.sink is not None:
            self.sink.shut()

    def handle_close(self, event: Frame) -> None:
        super().handle_close(event)
        if self.sink is not None and self.transport.is_closing():
            self.sink.shut()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.sink is not None:
            self.sink.pause(True)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.sink is not None:
            self.sink.pause(False)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The scope holds `open_stream`, bound to this protocol, which holds the scope: let
        # the connection be freed by reference counting as soon as it is gone.
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"].pop(DIRECT, None)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = DEFAULTS.max_header_bytes
    header_timeout = DEFAULTS.header_timeout_seconds
    taker: RequestTaker | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_bytes = 0
        self.raw_head = 0
        """Bytes received since this head began: the parser's own view can lag behind."""
        self.head_complete = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.refused = False
        self.bodies: list[DirectBody] = []
        """The direct writers of this connection's responses not yet complete."""
        self.taken: TakenRequest | None = None
        """The request `taker` holds, unanswered."""
        self.taking = False
        """The current request is `taker`'s: no cycle carries its body or its end."""
        self.deferred = b""
        """What the client sent while its taken request was unanswered."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arm()

    def arm(self) -> None:
        """Wait for a request head: it must be complete within `header_timeout`."""
        self.disarm()
        self.head_complete = False
        self.raw_head = 0
        self.head_timer = self.loop.call_later(self.header_timeout, self.head_timed_out)

    def disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_timed_out(self) -> None:
        self.head_timer = None
        if not self.head_complete and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        taken, self.taken = self.taken, None
        if taken is not None:
            taken.connection_lost()
        super().connection_lost(exc)
        bodies, self.bodies = self.bodies, []
        for body in bodies:
            body.connection_lost()

    def send_400_response(self, msg: str) -> None:
        super().send_400_response(msg)  # and the transport closes: no stream goes on
        for body in self.bodies:
            body.finished()

    def pause_writing(self) -> None:
        super().pause_writing()
        for body in self.bodies:
            body.pause(True)

    def resume_writing(self) -> None:
        super().resume_writing()
        for body in self.bodies:
            body.pause(False)

    def handle_websocket_upgrade(self) -> None:
        super().handle_websocket_upgrade()
        # The WebSocket protocol has the socket now. uvicorn drops the parser (which holds
        # this protocol's callbacks) on `connection_lost`, which this protocol no longer gets.
        self.parser = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """uvicorn's, but a head that grew past the limit is a 431, whether the parser gave up
        on it (llhttp refuses some oversized heads itself) or is still reading it."""
        if self.refused:
            return
        if self.taken is not None:
            self.deferred += data
            if len(self.deferred) > MAX_DEFERRED_BYTES:
                self.transport.close()
            return
        if not self.head_complete:
            self.raw_head += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if not self.head_complete and self.oversized():
                self.refuse_head()
                return
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if not self.head_complete and self.oversized():
            self.refuse_head()

    def oversized(self) -> bool:
        return max(self.head_bytes, self.raw_head) > self.max_header_bytes

    def on_message_begin(self) -> None:
        self.taking = False
        self.head_bytes = 0
        self.head_complete = False
        if self.head_timer is None:  # a pipelined request: its head is timed from here
            self.arm()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self.head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + 4
        if self.head_bytes <= self.max_header_bytes:  # past it, nothing more is kept
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.head_complete = True
        self.disarm()
        if self.head_bytes > self.max_header_bytes:
            return  # data_received answers 431; the application never sees this request
        if self.taken is not None:
            # A request pipelined behind a held one: the held one is answered now (with what
            # it has, as at its timeout), so that the answers keep their order.
            callback, self.taken.overtaken = self.taken.overtaken, None
            if callback is not None:
                callback()
        elif self.taker is not None and self.take():
            return
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade: a response
            body = DirectBody(cycle)
            self.bodies.append(body)
            self.scope["extensions"] = {
                DIRECT: {
                    "stream": body.open_stream,
                    "answer": body.open_answer,
                    "respond": body.respond,
                    "on_lost": body.on_lost,
                    "loop": self.loop,
                }
            }

    def take(self) -> bool:
        """Offer the request to `taker`: a plain GET with no body, on an idle keep-alive
        HTTP/1.1 connection, the only kind a protocol answer can stand in for."""
        parser = self.parser
        if (
            parser.get_method() != b"GET"
            or parser.should_upgrade()
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or self.pipeline
            or (self.cycle is not None and not self.cycle.response_complete)
            or any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        ):
            return False
        url = httptools.parse_url(self.url)
        if b"%" in url.path:
            return False
        assert self.taker is not None
        self.taken = TakenRequest(self, url.path, url.query or b"", self.headers)
        self.taking = True
        if self.taker.take(self.taken):
            return True
        self.taken, self.taking = None, False
        return False

    def on_body(self, body: bytes) -> None:
        if not self.taking:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.taking:
            super().on_message_complete()

    def answer_taken(self, body: bytes) -> None:
        """The taken request's answer, written whole; the connection then waits for its next
        request as after any response. It may be called inside a publish's fan-out: what the
        client sent meanwhile is read on the loop's next turn, not here."""
        self.transport.write(json_answer(self.server_state.default_headers, body, 200))
        self.taken = None
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self.closing_after_answer:
            self.transport.close()
            return
        if self.deferred:
            deferred, self.deferred = self.deferred, b""
            self.loop.call_soon(self.data_received, deferred)
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request pipelined behind this one is under way: its end re-arms
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )
        self.arm()

    closing_after_answer = False

    def shutdown(self) -> None:
        if self.taken is not None:
            # The server's shutdown answers it (its subscription closes); then the connection.
            self.closing_after_answer = True
            return
        super().shutdown()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        bodies = []
        for body in self.bodies:
            if body.complete():
                body.finished()
            else:
                bodies.append(body)
        self.bodies = bodies
        idle = not self.pipeline and (self.cycle is None or self.cycle.response_complete)
        if idle and not self.transport.is_closing():
            self.arm()  # the next request's head on this keep-alive connection

    def refuse_head(self) -> None:
        self.refused = True
        self.disarm()
        body = json.dumps(
            {
                "error": f"expected a request head of at most {self.max_header_bytes} bytes, "
                f"got {max(self.head_bytes, self.raw_head)} or more",
                "kind": "header_too_large",
            }
        ).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        # A lingering close, as nginx does: closing with the client's bytes still unread
        # would send a reset that destroys the answer. Say we are done, read and drop what
        # still comes for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def guarded(limits: Limits, taker: RequestTaker | None = None) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with this server's limits, and what answers requests in it."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "max_header_bytes": limits.max_header_bytes,
            "header_timeout": limits.header_timeout_seconds,
            "taker": taker,
        },
    )
