"""WebSocket frames: events and replies from the server, operations from the client.

Server → client: an event object, a gap notice, or `{"op": "ack" | "joined" | "left" | "error"}`
in a text frame; a binary event in a binary frame (`BINARY_EVENT` header, then its bytes).
Client → server: `{"op": "publish" | "publish_binary" | "join" | "leave", ...}` with an optional
`"ack"` echoed back; `publish_binary` announces the binary frame that follows it (the way
Socket.IO sends attachments), so a binary frame is never taken for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from typing import Any, TypeAlias

from core import jsonc
from core.decoding import loads_object
from core.errors import InvalidPayload, ProtocolError, RtbenchError
from core.events import (
    JSON,
    MAX_EVENT_ID,
    Delivery,
    Event,
    Gap,
    Item,
    Reply,
    delivery_from_json,
    dump_json,
)
from core.rooms import validate_room

BINARY_EVENT = struct.Struct(">QB")
"""A binary event frame: the id (u64), the room's length (u8), the room (ASCII), the data."""


def encode_binary_event(event_id: int, room: str, data: bytes) -> bytes:
    name = room.encode()
    return BINARY_EVENT.pack(event_id, len(name)) + name + data


def parse_binary_event(frame: bytes) -> Event:
    """The client side of `encode_binary_event`."""
    if len(frame) < BINARY_EVENT.size:
        raise ProtocolError(f"expected a binary event of at least 9 bytes, got {len(frame)}")
    event_id, length = BINARY_EVENT.unpack_from(frame)
    start = BINARY_EVENT.size + length
    room = frame[BINARY_EVENT.size : start].decode("ascii", errors="replace")
    return Event(event_id, room, bytes(frame[start:]))


def encode_event(event: Event) -> str | bytes:
    """A text frame's str, or a binary frame's bytes for a binary event."""
    frame = event.frames.get("ws")
    if frame is None:
        data = event.data
        frame = event.frames["ws"] = (
            encode_binary_event(event.id, event.room, data)
            if isinstance(data, bytes)
            else event.json.decode()
        )
    assert isinstance(frame, str | bytes)
    return frame


OP_TEXT = 0x1
OP_BINARY = 0x2


def server_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One whole unmasked frame as a server sends it (RFC 6455 §5.2): FIN, opcode, length."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def event_frame(event: Event) -> bytes:
    """The event's whole frame, built once and written to every subscriber as it is."""
    frame = event.frames.get("ws_frame")
    if frame is None:
        data = event.data
        frame = event.frames["ws_frame"] = (
            server_frame(encode_binary_event(event.id, event.room, data), OP_BINARY)
            if isinstance(data, bytes)
            else server_frame(event.json)
        )
    assert isinstance(frame, bytes)
    return frame


def frame(item: Item) -> bytes:
    """An event, gap notice or reply as one whole server frame."""
    if isinstance(item, Event):
        return event_frame(item)
    text = item.text if isinstance(item, Reply) else encode_gap(item)
    return server_frame(text.encode())


def encode_gap(gap: Gap) -> str:
    return dump_json(gap.as_json()).decode()


def encode(item: Delivery) -> str | bytes:
    return encode_event(item) if isinstance(item, Event) else encode_gap(item)


def encode_reply(op: str, ack: JSON = None, **fields: JSON) -> str:
    reply: dict[str, JSON] = {"op": op, **fields}
    if ack is not None:
        reply["ack"] = ack
    return dump_json(reply).decode()


# -- client operations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    data: JSON
    room: str | None = None
    """None: the socket's own room (the one in its URL)."""
    except_self: bool = False
    ack: JSON = None


@dataclass(frozen=True, slots=True)
class PublishBinary:
    """Announces that the next frame is binary and is the data to publish."""

    room: str | None = None
    except_self: bool = False
    ack: JSON = None


@dataclass(frozen=True, slots=True)
class Join:
    room: str
    after: int | None = None
    ack: JSON = None


@dataclass(frozen=True, slots=True)
class Leave:
    room: str
    ack: JSON = None


ClientOp: TypeAlias = Publish | PublishBinary | Join | Leave
OPS = ("publish", "publish_binary", "join", "leave")


def parse_client_frame(text: str) -> ClientOp:
    """Decode one client text frame, or raise ProtocolError/InvalidPayload saying what was
    expected; the error's `ack` carries the frame's ack when it could be read."""
    frame = loads_object(text, 'a frame {"op": ...}')
    ack = frame.get("ack")
    try:
        return _parse_op(frame, ack)
    except RtbenchError as exc:
        exc.ack = ack
        raise


def _parse_op(frame: dict[str, Any], ack: JSON) -> ClientOp:
    op = frame.get("op")
    if op in ("publish", "publish_binary"):
        room = frame.get("room")
        except_self = frame.get("except_self", False)
        if not isinstance(except_self, bool):
            raise ProtocolError(f"expected except_self true or false, got {except_self!r:.50}")
        target = None if room is None else validate_room(room)
        if op == "publish_binary":
            return PublishBinary(target, except_self, ack)
        if "data" not in frame:
            raise InvalidPayload('expected {"op": "publish", "data": <json>}, got no "data"')
        return Publish(frame["data"], target, except_self, ack)
    if op == "join":
        after = frame.get("after")
        if after is not None and (type(after) is not int or not 0 <= after <= MAX_EVENT_ID):
            raise ProtocolError(
                f"expected after as an integer from 0 to {MAX_EVENT_ID}, got {after!r:.50}"
            )
        return Join(validate_room(frame.get("room")), after, ack)
    if op == "leave":
        return Leave(validate_room(frame.get("room")), ack)
    raise ProtocolError(f"expected op one of {', '.join(OPS)}, got {op!r:.50}")


def encode_client_op(op: ClientOp) -> str:
    """The client side of `parse_client_frame`."""
    frame: dict[str, JSON]
    if isinstance(op, Publish | PublishBinary):
        frame = (
            {"op": "publish", "data": op.data}
            if isinstance(op, Publish)
            else {"op": "publish_binary"}
        )
        if op.room is not None:
            frame["room"] = op.room
        if op.except_self:
            frame["except_self"] = True
    elif isinstance(op, Join):
        frame = {"op": "join", "room": op.room}
        if op.after is not None:
            frame["after"] = op.after
    else:
        frame = {"op": "leave", "room": op.room}
    if op.ack is not None:
        frame["ack"] = op.ack
    return dump_json(frame).decode()


# -- server frames, client side ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerReply:
    op: str
    body: dict[str, JSON]


def parse_server_frame(text: str | bytes) -> Delivery | ServerReply:
    """A text frame's JSON (pass its str or UTF-8 bytes); binary frames go to
    `parse_binary_event`."""
    try:
        body = jsonc.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"expected a JSON text frame, got {text!r:.200}") from exc
    if isinstance(body, dict) and isinstance(body.get("op"), str):
        return ServerReply(body["op"], body)
    return delivery_from_json(body)


# -- the client's framing (RFC 6455 §4.1, §5): the lean driver's, without websockets' parser --

OP_CONTINUATION = 0x0
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def handshake_accept(key: str) -> str:
    """The `Sec-WebSocket-Accept` a server must answer `key` with."""
    return base64.b64encode(hashlib.sha1(key.encode() + ACCEPT_GUID).digest()).decode()


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One whole masked frame, as a client must send it."""
    length = len(payload)
    first = 0x80 | opcode
    if length < 126:
        head = bytes((first, 0x80 | length))
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, 0xFE, length)
    else:
        head = struct.pack("!BBQ", first, 0xFF, length)
    mask = os.urandom(4)
    # XOR of the payload with the repeated mask, as one big-integer operation.
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        length, "big"
    )
    return head + mask + masked


class ServerFrames:
    """Reads what a server sends after its 101: unmasked frames, joined into whole messages.

    `feed(data)` returns the complete messages as (opcode, payload): text, binary, close, ping
    and pong (control frames may come between the fragments of a message). No extension is
    understood: a frame with an RSV bit set is an error, as is a message over `max_size`."""

    __slots__ = ("_buffer", "_fragments", "_opcode", "max_size")

    def __init__(self, max_size: int = 16 * 1024 * 1024) -> None:
        self.max_size = max_size
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        messages: list[tuple[int, bytes]] = []
        end, position = len(buffer), 0
        while end - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if end - position < 4:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 4], "big"), 4
            elif length == 127:
                if end - position < 10:
                    break
                length, head = int.from_bytes(buffer[position + 2 : position + 10], "big"), 10
            if second & 0x80 or first & 0x70:
                raise ProtocolError(
                    "expected an unmasked frame without extensions, "
                    f"got the header {first:#04x} {second:#04x}"
                )
            if length > self.max_size:
                raise ProtocolError(
                    f"expected a frame of at most {self.max_size} bytes, got {length}"
                )
            if end - position < head + length:
                break
            payload = buffer[position + head : position + head + length]
            position += head + length
            opcode, final = first & 0x0F, first & 0x80
            if opcode >= OP_CLOSE:
                messages.append((opcode, payload))
            elif opcode != OP_CONTINUATION and not self._fragments and final:
                messages.append((opcode, payload))  # the common case: one whole frame
            else:
                self._fragment(opcode, payload, final, messages)
        self._buffer = buffer[position:]
        return messages

    def _fragment(
        self, opcode: int, payload: bytes, final: int, messages: list[tuple[int, bytes]]
    ) -> None:
        if (opcode == OP_CONTINUATION) != bool(self._fragments):
            raise ProtocolError(f"expected a continuation frame in order, got opcode {opcode}")
        if opcode != OP_CONTINUATION:
            self._opcode = opcode
        self._fragments.append(payload)
        if sum(map(len, self._fragments)) > self.max_size:
            raise ProtocolError(f"expected a message of at most {self.max_size} bytes, got more")
        if final:
            messages.append((self._opcode, b"".join(self._fragments)))
            self._fragments = []


def close_code(payload: bytes) -> int:
    """The status code of a close frame's payload (1005 when it carries none)."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
