"""The harness baseline: a null server that does the least a server can.

    python -m scenarios.load.null_server sse --port 0

It speaks just enough of the wire contract for the lean driver and the publisher (publish,
SSE, WebSocket and long-poll subscribe, `/status`), with no framework, no validation and no
queues: each publish is framed once and written straight to every socket. For long polling it
keeps the last events of each room (a poll asks for what came after its cursor) and answers
held polls on the next publish, which is the least a long-poll server can do. The same driver
measured against it shows how much latency and CPU the harness and the kernel account for, so
the report can subtract neither more nor less than that from the real servers' figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qs

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from core import jsonc
from core.events import Event
from core.wire import longpoll, sse, ws
from record import TRANSPORTS
from scenarios import ipc

log = logging.getLogger("rtbench.null")


class Rooms:
    """Every room's listeners and its last events: the least a server must hold."""

    def __init__(self) -> None:
        self.sse: dict[str, set[asyncio.Transport]] = {}
        self.ws: dict[str, dict[asyncio.Transport, ServerProtocol]] = {}
        self.last_id: dict[str, int] = {}
        self.published = 0
        self.recent: dict[str, deque[Event]] = {}
        self.polls: dict[str, set[NullProtocol]] = {}

    def after(self, room: str, cursor: int) -> list[Event]:
        """The kept events of `room` after `cursor`, oldest first."""
        kept = self.recent.get(room)
        if not kept or kept[-1].id <= cursor:
            return []
        return [event for event in kept if event.id > cursor][:POLL_BATCH]

    def publish(self, room: str, data: Any) -> int:
        event_id = self.last_id.get(room, 0) + 1
        self.last_id[room] = event_id
        self.published += 1
        event = Event(event_id, room, data, time.time_ns())
        if room in self.polls or room in self.recent:
            self.recent.setdefault(room, deque(maxlen=KEPT_EVENTS)).append(event)
            held = self.polls.pop(room, set())
            if held:
                body = longpoll.encode_response([event], event.id)
                for poll in held:
                    poll.answer_poll(body)
        if self.sse.get(room):
            frame = sse.encode_event(event)
            chunk = b"%x\r\n%s\r\n" % (len(frame), frame)
            for transport in self.sse[room]:
                transport.write(chunk)
        if self.ws.get(room):
            ws_frame = ws.encode_event(event)
            wire = b""
            for transport, protocol in self.ws[room].items():
                if not wire:  # an unmasked server frame is the same bytes for everyone
                    if isinstance(ws_frame, str):
                        protocol.send_text(ws_frame.encode())
                    else:
                        protocol.send_binary(ws_frame)
                    wire = b"".join(protocol.data_to_send())
                transport.write(wire)
        return event_id


KEPT_EVENTS = 4096
POLL_BATCH = 100


class NullProtocol(asyncio.Protocol):
    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.room: str | None = None
        self.ws: ServerProtocol | None = None
        self.poll_expiry: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.room is not None and self.transport is not None:
            self.rooms.sse.get(self.room, set()).discard(self.transport)
            self.rooms.ws.get(self.room, {}).pop(self.transport, None)
            self.rooms.polls.get(self.room, set()).discard(self)
        if self.poll_expiry is not None:
            self.poll_expiry.cancel()

    def answer_poll(self, body: bytes) -> None:
        if self.poll_expiry is not None:
            self.poll_expiry.cancel()
            self.poll_expiry = None
        if self.room is not None:
            self.rooms.polls.get(self.room, set()).discard(self)
        self.respond("200 OK", body)

    def data_received(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.receive_data(data)
            for item in self.ws.events_received():
                if isinstance(item, Frame) and item.opcode is Opcode.CLOSE:
                    assert self.transport is not None
                    self.transport.close()
            self.flush()
            return
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            path, _, query = target.partition("?")
            self.request(method, path, headers, body, head + b"\r\n\r\n", query)

    def poll(self, room: str, params: dict[str, list[str]]) -> None:
        self.room = room
        self.rooms.recent.setdefault(room, deque(maxlen=KEPT_EVENTS))
        if "after" not in params:
            body = longpoll.encode_response([], self.rooms.last_id.get(room, 0))
            self.respond("200 OK", body)
            return
        cursor = int(params["after"][0])
        events = self.rooms.after(room, cursor)
        if events:
            self.respond("200 OK", longpoll.encode_response(events, events[-1].id))
            return
        self.rooms.polls.setdefault(room, set()).add(self)
        timeout = float(params.get("timeout", ["30"])[0])
        empty = longpoll.encode_response([], cursor)
        self.poll_expiry = asyncio.get_running_loop().call_later(timeout, self.answer_poll, empty)

    def flush(self) -> None:
        assert self.ws is not None and self.transport is not None
        for chunk in self.ws.data_to_send():
            if chunk:
                self.transport.write(chunk)

    def respond(self, status: str, body: bytes, content_type: str = "application/json") -> None:
        assert self.transport is not None
        self.transport.write(
            f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        raw_head: bytes,
        query: str = "",
    ) -> None:
        assert self.transport is not None
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[2] == "events":
            event_id = self.rooms.publish(parts[1], jsonc.loads(body)["data"])
            self.respond("201 Created", b'{"id":%d}' % event_id)
        elif method == "GET" and len(parts) == 3 and parts[2] == "sse":
            self.room = parts[1]
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
            self.rooms.sse.setdefault(self.room, set()).add(self.transport)
        elif method == "GET" and len(parts) == 3 and parts[2] == "poll":
            self.poll(parts[1], parse_qs(query))
        elif method == "GET" and len(parts) == 3 and parts[2] == "ws":
            self.room = parts[1]
            self.ws = ServerProtocol()
            self.ws.receive_data(raw_head)
            [handshake] = self.ws.events_received()
            assert isinstance(handshake, Request)
            self.ws.send_response(self.ws.accept(handshake))
            self.flush()
            self.rooms.ws.setdefault(self.room, {})[self.transport] = self.ws
        elif method == "GET" and path == "/status":
            by_room = {
                r: len(self.rooms.sse.get(r, ()))
                + len(self.rooms.ws.get(r, {}))
                + len(self.rooms.polls.get(r, ()))
                for r in set(self.rooms.sse) | set(self.rooms.ws) | set(self.rooms.polls)
            }
            connections = sum(by_room.values())
            status = {
                "transport": "null",
                "connections": {"total": connections, "by_room": by_room},
                "events": {"published": self.rooms.published},
            }
            self.respond("200 OK", json.dumps(status).encode())
        elif method == "GET" and path == "/healthz":
            self.respond("200 OK", b"ok", "text/plain")
        else:
            self.respond("404 Not Found", b'{"error": "the null server has no such route"}')


async def serve(args: argparse.Namespace) -> None:
    rooms = Rooms()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: NullProtocol(rooms), args.host, args.port, backlog=4096
    )
    host, port = server.sockets[0].getsockname()[:2]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        json.dumps(
            {
                "event": "ready",
                "transport": f"null-{args.transport}",
                "url": f"http://{host}:{port}",
                "port": port,
            }
        ),
        flush=True,
    )
    await stop.wait()
    server.close()


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.null_server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "transport", choices=list(TRANSPORTS), help="what the driver will subscribe with"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log-format", default="json", help="accepted for symmetry; unused")
    p.add_argument("--log-level", default="warning", help="accepted for symmetry; unused")
    args = p.parse_args()
    ipc.raise_open_files_limit()
    ipc.use_fast_loop()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
