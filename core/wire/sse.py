"""Server-Sent Events framing (WHATWG HTML, "server-sent events"), both directions.

Encoders produce bytes once per event; `SSEParser` is an incremental, sans-I/O parser that
accepts any chunking of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import jsonc
from core.errors import ProtocolError
from core.events import Delivery, Event, Gap, Item, delivery_from_json, dump_json
from core.wire.http import encode_chunk, one_chunk

PING = b": ping\n\n"


def encode_event(event: Event) -> bytes:
    frame = event.frames.get("sse")
    if frame is None:
        frame = event.frames["sse"] = b"id: %d\ndata: %s\n\n" % (event.id, event.json)
    assert isinstance(frame, bytes)
    return frame


def event_chunk(event: Event) -> bytes:
    """The event's frame in HTTP/1.1 chunked framing, built once for every subscriber."""
    chunk = event.frames.get("sse_chunk")
    if chunk is None:
        chunk = event.frames["sse_chunk"] = encode_chunk(encode_event(event))
    assert isinstance(chunk, bytes)
    return chunk


def chunk(item: Item) -> bytes:
    """An event or gap notice as one chunk of a chunked response body."""
    if isinstance(item, Event):
        return event_chunk(item)
    return encode_chunk(encode(item))


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


@dataclass(slots=True)  # not frozen: a frozen init costs twice as much, once per message
class SSEMessage:
    event: str
    data: str
    id: str | None
    """The stream's last event id after this message (it persists across messages)."""


class SSEParser:
    """Feed bytes, get dispatched messages. Follows the spec's line and field rules:
    CRLF, LF or CR end a line; `data` lines join with LF; a blank line dispatches; comments and
    unknown fields are ignored; `retry` with only digits sets `retry_ms`. Works on bytes and
    decodes once per message: the common LF-only stream takes a split-based fast path."""

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[bytes] = []
        self._event = b""
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        message = self.one_event(chunk)
        if message is not None:
            return [message]
        buf = self._pending + chunk if self._pending else chunk
        if b"\r" in buf:
            lines, self._pending = _split_any(buf)
        else:
            lines = buf.split(b"\n")
            self._pending = lines.pop()
        messages: list[SSEMessage] = []
        for line in lines:
            if not line:
                if self._data:
                    messages.append(self._dispatch())
                else:
                    self._event = b""
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
            else:
                self._field(line)
        return messages

    def idle(self) -> bool:
        """Whether nothing of an earlier chunk is pending: the next chunk starts a message."""
        return not (self._pending or self._data or self._event)

    def one_event(self, chunk: bytes) -> SSEMessage | None:
        """`chunk` read as exactly `id: N`, one `data:` line and the blank line (what a server
        sends per event, a read each) when nothing of an earlier chunk is pending; else None,
        and nothing is read: `feed` reads it line by line."""
        data = self._one_record(chunk, 0, len(chunk))
        if data is None:
            return None
        return SSEMessage("message", data.decode("utf-8", errors="replace"), self.last_event_id)

    def one_event_in_chunk(self, data: bytes) -> bytes | None:
        """The data of the one event in `data` when `data` is exactly what `event_chunk`
        writes for an event (one record in one HTTP/1.1 chunk: a stream of small events
        arrives a read each), read in one pass over positions, its id taken as the last event
        id; else None, and nothing is read. Only where the body's next chunk starts
        (`ResponseReader.between_chunks`)."""
        bounds = one_chunk(data)
        if bounds is None:
            return None
        start, end = bounds
        return self._one_record(data, start, end)

    def _one_record(self, buf: bytes, start: int, end: int) -> bytes | None:
        """The data of `buf[start:end]` when nothing is pending and that record is exactly
        `id: N`, one `data: ` line and the blank line, as `encode_event` writes it (no CR
        anywhere, no NUL in the id); its id becomes the last event id. Else None."""
        if self._pending or self._data or self._event or not buf.startswith(b"id: ", start):
            return None
        if not buf.endswith(b"\n\n", start, end):
            return None
        newline = buf.find(b"\n", start)
        if (
            buf.find(b"\n", newline + 1, end) != end - 2
            or not buf.startswith(b"data: ", newline + 1)
            or buf.find(b"\r", start, end) >= 0
            or buf.find(b"\0", start, newline) >= 0
        ):
            return None
        self.last_event_id = buf[start + 4 : newline].decode("utf-8", errors="replace")
        return buf[newline + 7 : end - 2]

    def _field(self, line: bytes) -> None:
        if line.startswith(b":"):
            self.comments += 1
            return
        name, sep, value = line.partition(b":")
        if sep and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id":
            if b"\0" not in value:
                self.last_event_id = value.decode("utf-8", errors="replace")
        elif name == b"retry" and value.isdigit():
            self.retry_ms = int(value)

    def _dispatch(self) -> SSEMessage:
        data = b"\n".join(self._data).decode("utf-8", errors="replace")
        event = self._event.decode("utf-8", errors="replace") if self._event else "message"
        self._data, self._event = [], b""
        return SSEMessage(event, data, self.last_event_id)


def _split_any(buf: bytes) -> tuple[list[bytes], bytes]:
    """Split on CRLF, LF or CR; a trailing CR stays pending (it may start a CRLF)."""
    lines: list[bytes] = []
    start, size = 0, len(buf)
    while True:
        lf = buf.find(b"\n", start)
        cr = buf.find(b"\r", start)
        if lf < 0 and cr < 0:
            break
        if cr >= 0 and (lf < 0 or cr < lf):
            if cr + 1 == size:
                break
            lines.append(buf[start:cr])
            start = cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
        else:
            lines.append(buf[start:lf])
            start = lf + 1
    return lines, buf[start:]


def decode(message: SSEMessage) -> Delivery:
    """Turn an rtbench SSE message into the event or gap notice it carries."""
    try:
        body = jsonc.loads(message.data)
    except ValueError as exc:
        raise ProtocolError(f"expected JSON in an SSE data field, got {message.data!r}") from exc
    if message.event not in ("message", "gap"):
        raise ProtocolError(f"expected an SSE event 'message' or 'gap', got {message.event!r}")
    return delivery_from_json(body)
