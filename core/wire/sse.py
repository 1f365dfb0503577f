"""Server-Sent Events framing (WHATWG HTML, "server-sent events"), both directions.

Encoders produce bytes once per event; `SSEParser` is an incremental, sans-I/O parser that
accepts any chunking of the stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.errors import ProtocolError
from core.events import Delivery, Event, Gap, Item, delivery_from_json, dump_json

PING = b": ping\n\n"


def encode_event(event: Event) -> bytes:
    frame = event.frames.get("sse")
    if frame is None:
        frame = event.frames["sse"] = b"id: %d\ndata: %s\n\n" % (event.id, event.json)
    assert isinstance(frame, bytes)
    return frame


def encode_gap(gap: Gap) -> bytes:
    return b"event: gap\ndata: %s\n\n" % dump_json(gap.as_json())


def encode_retry(milliseconds: int) -> bytes:
    return b"retry: %d\n\n" % milliseconds


def encode(item: Item) -> bytes:
    if isinstance(item, Event):
        return encode_event(item)
    if isinstance(item, Gap):
        return encode_gap(item)
    raise TypeError(f"expected an Event or Gap to frame as SSE, got {type(item).__name__}")


@dataclass(frozen=True, slots=True)
class SSEMessage:
    event: str
    data: str
    id: str | None
    """The stream's last event id after this message (it persists across messages)."""


class SSEParser:
    """Feed bytes, get dispatched messages. Follows the spec's line and field rules:
    CRLF, LF or CR end a line; `data` lines join with LF; a blank line dispatches; comments and
    unknown fields are ignored; `retry` with only digits sets `retry_ms`."""

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[str] = []
        self._event = ""
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        buf = self._pending + chunk
        messages: list[SSEMessage] = []
        start = 0
        size = len(buf)
        while True:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start)
            if lf < 0 and cr < 0:
                break
            if cr >= 0 and (lf < 0 or cr < lf):
                if cr + 1 == size:
                    break  # a CR at the end may be the first half of CRLF: wait for more
                end, next_start = cr, cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end, next_start = lf, lf + 1
            message = self._line(buf[start:end])
            if message is not None:
                messages.append(message)
            start = next_start
        self._pending = buf[start:]
        return messages

    def _line(self, raw: bytes) -> SSEMessage | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SSEMessage | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SSEMessage(event or "message", "\n".join(data), self.last_event_id)


def decode(message: SSEMessage) -> Delivery:
    """Turn an rtbench SSE message into the event or gap notice it carries."""
    try:
        body = json.loads(message.data)
    except ValueError as exc:
        raise ProtocolError(f"expected JSON in an SSE data field, got {message.data!r}") from exc
    if message.event not in ("message", "gap"):
        raise ProtocolError(f"expected an SSE event 'message' or 'gap', got {message.event!r}")
    return delivery_from_json(body)
