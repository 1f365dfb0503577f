"""Measuring subscribers: one raw asyncio protocol per transport, built for the lean driver.

They speak the same wire contract as the other clients, through the core's sans-I/O codecs
(and websockets' sans-I/O protocol for a compressed WebSocket), directly on asyncio transports:
no per-message task, no client library between the socket and the clock. Each timestamps a
read once, as it arrives, and hands every event it carries to a `Recorder`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from core import jsonc
from core.events import data_of
from core.urls import subscribe_path
from core.wire import http, sse, ws
from record import WS_PEERS

# struct tcp_info (linux/tcp.h): tcpi_bytes_acked and tcpi_bytes_received, two u64 at 120;
# tcpi_segs_out and tcpi_segs_in, two u32 at 136 (every segment, pure ACKs included).
_TCP_INFO_BYTES = struct.Struct("<QQ")
_TCP_INFO_OFFSET = 120
_TCP_INFO_SEGMENTS = struct.Struct("<II")
_TCP_INFO_SEGMENTS_OFFSET = 136

# What a Chromium page sends with a same-origin fetch/EventSource/WebSocket request, with a
# typical session and analytics cookie: polls and handshakes carry this in a browser.
BROWSER_HEADERS = {
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "accept": "*/*",
    "accept-encoding": "gzip, deflate, br, zstd",
    "accept-language": "en-GB,en-US;q=0.9,en;q=0.8",
    "cache-control": "no-cache",
    "pragma": "no-cache",
    "referer": "http://127.0.0.1/app/",
    "sec-ch-ua": '"Chromium";v="131", "Not_A Brand";v="24"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Linux"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
    "cookie": "session=9f2c4e1ab37d4c0e8b6f5a2d1c9e7b30; _ga=GA1.1.1234567890.1732700000; "
    "_ga_X1Y2Z3=GS1.1.1732700000.1.1.1732700100.0.0.0; theme=dark",
}


def tcp_segments(sock: socket.socket) -> tuple[int, int] | None:
    """(segments sent, segments received) by the kernel for this connection, or None."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, AttributeError, ValueError):
        return None
    if len(info) < _TCP_INFO_SEGMENTS_OFFSET + _TCP_INFO_SEGMENTS.size:
        return None
    sent, received = _TCP_INFO_SEGMENTS.unpack_from(info, _TCP_INFO_SEGMENTS_OFFSET)
    return int(sent), int(received)


def client_tls(ca_file: str | None) -> ssl.SSLContext | None:
    """A client context trusting `ca_file` (the bench's own test CA), or None without one."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def tcp_bytes(sock: socket.socket) -> tuple[int, int] | None:
    """(bytes sent and acknowledged, bytes received) by the kernel for this connection, or None
    where TCP_INFO does not carry them. The SYN counts as one acknowledged byte; removed."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, AttributeError, ValueError):  # uvloop: ValueError once the fd is closed
        return None
    if len(info) < _TCP_INFO_OFFSET + _TCP_INFO_BYTES.size:
        return None
    acked, received = _TCP_INFO_BYTES.unpack_from(info, _TCP_INFO_OFFSET)
    return max(0, acked - 1), received


@dataclass(slots=True)
class Tally:
    """What one subscriber received, judged against gap-free ids."""

    last_id: int = 0
    delivered: int = 0
    duplicated: int = 0
    reordered: int = 0
    gap_notices: int = 0
    missing: set[int] = field(default_factory=set)
    resume_token: str | None = None
    """The server's own id of the newest event, for a server whose ids are not ours (Nchan):
    what a subscriber that reconnects resumes from."""

    def see(self, event_id: int) -> bool:
        """Count `event_id`; True when it is new to this subscriber."""
        last = self.last_id
        if event_id == last + 1:
            self.last_id = event_id
        elif event_id > last:
            self.missing.update(range(last + 1, event_id))
            self.last_id = event_id
        elif event_id in self.missing:
            self.missing.discard(event_id)
            self.reordered += 1
        else:
            self.duplicated += 1
            return False
        self.delivered += 1
        return True

    def lost(self, last_published: int) -> int:
        return len(self.missing) + max(0, last_published - self.last_id)


class Recorder:
    """Receives every event of every probe in a process (the driver's sink)."""

    def record(self, tally: Tally, event_id: int, data: Any, received_ns: int) -> None:
        tally.see(event_id)


class Probe(asyncio.Protocol):
    transport_name = ""

    def __init__(
        self,
        url: str,
        room: str,
        recorder: Recorder,
        after: int = 0,
        tally: Tally | None = None,
        tls: ssl.SSLContext | None = None,
        token: str | None = None,
        browser_headers: bool = False,
    ) -> None:
        parts = urlsplit(url)
        self.token = token
        self.headers = dict(BROWSER_HEADERS) if browser_headers else {}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.tls = tls if parts.scheme == "https" else None
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        self.netloc = parts.netloc
        self.room = room
        self.after = after
        self.recorder = recorder
        self.tally = tally if tally is not None else Tally()
        """Carried over when a reconnecting subscriber resumes on a new connection."""
        self.bytes_in = 0
        self.bytes_out = 0
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[BaseException | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.error: str | None = None
        self.acked_id = 0
        """Newest id the server acknowledged for this client's own publishes (WebSocket)."""
        self.replies_refused = 0
        self.acks = 0
        self.on_ack: Callable[[int, int], None] | None = None
        """Called with (the publish's `ack` number, the time its ack arrived in ns)."""

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(
            lambda: self,
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=self.host if self.tls else None,
        )
        await self.ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.sock = transport.get_extra_info("socket")
        self.start()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.bytes_out += len(data)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        received_ns = time.time_ns()
        self.bytes_in += len(data)
        try:
            self.feed(data, received_ns)
        except Exception as exc:  # a broken stream is a result, not a crash of the driver
            self.fail(f"{type(exc).__name__}: {exc}")

    def deliver(self, event: dict[str, Any], received_ns: int) -> None:
        if "op" in event:  # a reply to this client's own operation
            if event["op"] == "ack":
                self.acked_id = max(self.acked_id, event["id"])
                self.acks += 1
                number = event.get("ack")
                if self.on_ack is not None and isinstance(number, int):
                    self.on_ack(number, received_ns)
            else:
                self.replies_refused += 1
            return
        if "gap" in event:
            self.tally.gap_notices += 1
            return
        self.recorder.record(self.tally, event["id"], data_of(event), received_ns)

    def fail(self, error: str) -> None:
        self.error = self.error or error
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(error))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(exc)

    def wire_bytes(self) -> tuple[int, int] | None:
        return tcp_bytes(self.sock) if self.sock is not None else None

    def wire_segments(self) -> tuple[int, int] | None:
        return tcp_segments(self.sock) if self.sock is not None else None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- per transport --
    def start(self) -> None:
        raise NotImplementedError

    def feed(self, data: bytes, received_ns: int) -> None:
        raise NotImplementedError


class SSEProbe(Probe):
    transport_name = "sse"

    def start(self) -> None:
        self.reader = http.ResponseReader()
        self.parser = sse.SSEParser()
        path = subscribe_path("sse", self.room)
        headers = {**self.headers, "accept": "text/event-stream", "last-event-id": str(self.after)}
        self.write(http.build_request("GET", path, self.netloc, headers))

    def feed(self, data: bytes, received_ns: int) -> None:
        # A read a record: one event in one chunk, read without building the general parts.
        if self.reader.between_chunks():
            event = self.parser.one_event_in_chunk(data)
            if event is not None:
                self.deliver(jsonc.loads_fast(event), received_ns)
                return
        self.feed_parts(data, received_ns)

    def feed_parts(self, data: bytes, received_ns: int) -> None:
        for part in self.reader.feed(data):
            if isinstance(part, http.Body):
                for message in self.parser.feed(part.data):
                    self.message(message, received_ns)
            elif isinstance(part, http.Head):
                if part.status != 200:
                    self.fail(f"expected 200 for the SSE stream, got {part.status}")
                elif not self.ready.done():
                    self.ready.set_result(None)
            else:
                self.fail("stream ended by server")

    def message(self, message: sse.SSEMessage, received_ns: int) -> None:
        self.deliver(jsonc.loads_fast(message.data), received_ns)


class PollProbe(Probe):
    transport_name = "longpoll"

    def __init__(self, *args: Any, poll_timeout: float = 25.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.poll_timeout = poll_timeout
        self.polls = 0

    def start(self) -> None:
        self.reader = http.ResponseReader()
        self.cursor = self.after
        self.status = 0
        self.answer_head: http.Head | None = None
        """The current answer's status line and headers."""
        self.body: list[bytes] = []
        self.poll()
        self.ready.set_result(None)

    def poll_target(self) -> str:
        return subscribe_path("longpoll", self.room, self.cursor, timeout=self.poll_timeout)

    def poll(self) -> None:
        self.write(http.build_request("GET", self.poll_target(), self.netloc, self.headers))
        self.polls += 1

    def feed(self, data: bytes, received_ns: int) -> None:
        for part in self.reader.feed(data):
            if isinstance(part, http.Body):
                self.body.append(part.data)
            elif isinstance(part, http.Head):
                self.status, self.body, self.answer_head = part.status, [], part
            else:
                self.answered(b"".join(self.body), received_ns)

    def answered(self, body: bytes, received_ns: int) -> None:
        """One whole response of this connection's sequential request/response exchange."""
        if self.status != 200:
            self.fail(f"expected 200 for a poll, got {self.status}")
            return
        response = jsonc.loads_fast(body)
        self.cursor = response["next"]
        self.poll()  # ask again before counting: the server waits on us, not vice versa
        if "gap" in response:
            self.tally.gap_notices += 1
        for event in response["events"]:
            self.recorder.record(self.tally, event["id"], data_of(event), received_ns)


class WSProbe(Probe):
    """Frames are read by `core.wire.ws.ServerFrames`, a few lines of slicing per frame; with
    permessage-deflate (`compression`), websockets' sans-I/O protocol does it all."""

    transport_name = "ws"
    MAX_HEAD = 64 * 1024

    def __init__(self, *args: Any, compression: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compression = compression
        self.frames: ws.ServerFrames | None = None
        """Set once the server's 101 is read (never with compression)."""
        self.head = b""
        self.key = ""

    def target(self) -> str:
        return subscribe_path("ws", self.room, self.after)

    def start(self) -> None:
        if self.compression:
            scheme = "wss" if self.tls else "ws"
            uri = parse_uri(f"{scheme}://{self.netloc}{self.target()}")
            self.protocol = ClientProtocol(
                uri, extensions=[ClientPerMessageDeflateFactory()], max_size=16 * 1024 * 1024
            )
            request = self.protocol.connect()
            for name, value in self.headers.items():
                request.headers[name] = value
            self.protocol.send_request(request)
            self.flush()
            return
        self.key = ws.handshake_key()
        upgrade = {
            "upgrade": "websocket",
            "connection": "Upgrade",
            "sec-websocket-key": self.key,
            "sec-websocket-version": "13",
        }
        self.write(
            http.build_request("GET", self.target(), self.netloc, {**upgrade, **self.headers})
        )

    def send_text(self, payload: bytes) -> None:
        if self.compression:
            self.protocol.send_text(payload)
            self.flush()
        else:
            self.write(ws.client_frame(payload))

    def send_binary(self, payload: bytes) -> None:
        if self.compression:
            self.protocol.send_binary(payload)
            self.flush()
        else:
            self.write(ws.client_frame(payload, ws.OP_BINARY))

    def publish(self, body: bytes) -> None:
        """Publish over this socket: `body` is the frame `{"op": "publish", "data": ...}`."""
        self.send_text(body)

    def publish_binary(self, data: bytes, ack: int | None = None) -> None:
        """Publish `data` as a binary event: the announcing text frame, then the bytes."""
        self.send_text(ws.encode_client_op(ws.PublishBinary(ack=ack)).encode())
        self.send_binary(data)

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.write(chunk)

    def feed(self, data: bytes, received_ns: int) -> None:
        if self.compression:
            self.feed_deflated(data, received_ns)
            return
        frames = self.frames
        if frames is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                if len(self.head) > self.MAX_HEAD:
                    self.fail(f"expected a response head of at most {self.MAX_HEAD} bytes")
                return
            head, data, self.head = self.head[:end], self.head[end + 4 :], b""
            if not self.accepted(head):
                return
            frames = self.frames = ws.ServerFrames()
            self.upgraded()
        for opcode, payload in frames.feed(data):
            if opcode == ws.OP_TEXT:
                self.text(payload, received_ns)
            elif opcode == ws.OP_BINARY:
                event = ws.parse_binary_event(payload)
                self.recorder.record(self.tally, event.id, event.data, received_ns)
            elif opcode == ws.OP_PING:
                self.write(ws.client_frame(payload, ws.OP_PONG))
            elif opcode == ws.OP_CLOSE:
                self.error = self.error or f"websocket closed {ws.close_code(payload)}"
                self.write(ws.client_frame(payload[:2], ws.OP_CLOSE))

    def accepted(self, head: bytes) -> bool:
        """The server's answer to the upgrade: a 101 that proves it read our key."""
        response, _, _ = http.parse_head(head)
        if response.status != 101:
            self.fail(f"expected 101 for the WebSocket upgrade, got {response.status}")
            return False
        accept = response.headers.get("sec-websocket-accept")
        if accept != ws.handshake_accept(self.key):
            self.fail(
                f"expected Sec-WebSocket-Accept {ws.handshake_accept(self.key)}, got {accept}"
            )
            return False
        return True

    def feed_deflated(self, data: bytes, received_ns: int) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for item in protocol.events_received():
            if isinstance(item, Response):
                if item.status_code != 101:
                    self.fail(f"expected 101 for the WebSocket upgrade, got {item.status_code}")
                else:
                    self.upgraded()
            elif not isinstance(item, Frame):
                continue
            elif item.opcode is Opcode.TEXT:
                self.text(bytes(item.data), received_ns)
            elif item.opcode is Opcode.BINARY:
                event = ws.parse_binary_event(bytes(item.data))
                self.recorder.record(self.tally, event.id, event.data, received_ns)
            elif item.opcode is Opcode.CLOSE:
                self.error = self.error or f"websocket closed {protocol.close_code}"
        self.flush()  # pongs and close replies

    def upgraded(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def text(self, data: bytes, received_ns: int) -> None:
        self.deliver(jsonc.loads_fast(data), received_ns)


PROBES: dict[str, type[Probe]] = {
    "longpoll": PollProbe,
    "sse": SSEProbe,
    "ws": WSProbe,
    # The bare websockets and picows peers speak the same WebSocket contract.
    **dict.fromkeys(WS_PEERS, WSProbe),
}
