"""Engine.IO v4 and Socket.IO v5 packets, as much as a measuring subscriber needs (sans-I/O).

An Engine.IO packet is one character of type and a payload; a Socket.IO packet rides inside an
Engine.IO `message` (type 4): its own type digit, an optional `/namespace,`, an optional ack id,
then JSON. Long polling carries several Engine.IO packets per HTTP body, separated by 0x1E.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import jsonc
from core.errors import ProtocolError

RECORD_SEPARATOR = b"\x1e"
PONG = b"3"
CONNECT = b"40"
"""Socket.IO connect to the default namespace."""


@dataclass(frozen=True, slots=True)
class Packet:
    kind: str
    """open, close, ping, noop, connect, connect_error, event, ack, disconnect or upgrade."""
    data: Any = None
    namespace: str = "/"


ENGINE_KINDS = {0x30: "open", 0x31: "close", 0x32: "ping", 0x35: "upgrade", 0x36: "noop"}
SOCKET_KINDS = {
    0x30: "connect",
    0x31: "disconnect",
    0x32: "event",
    0x33: "ack",
    0x34: "connect_error",
}


def parse(packet: bytes) -> Packet:
    if not packet:
        raise ProtocolError("expected an Engine.IO packet, got an empty one")
    kind = packet[0]
    if kind in ENGINE_KINDS:
        body = packet[1:]
        return Packet(ENGINE_KINDS[kind], jsonc.loads_fast(body) if body[:1] == b"{" else None)
    if kind != 0x34 or len(packet) < 2 or packet[1] not in SOCKET_KINDS:
        raise ProtocolError(f"expected an Engine.IO packet type 0-6, got {packet[:20]!r}")
    rest = packet[2:]
    namespace = "/"
    if rest[:1] == b"/":
        name, _, rest = rest.partition(b",")
        namespace = name.decode()
    digits = 0
    while digits < len(rest) and 0x30 <= rest[digits] <= 0x39:
        digits += 1  # an ack id: not needed by a subscriber
    rest = rest[digits:]
    return Packet(SOCKET_KINDS[packet[1]], jsonc.loads_fast(rest) if rest else None, namespace)


def split_payload(body: bytes) -> list[bytes]:
    """The packets of one long-polling response body."""
    return [part for part in body.split(RECORD_SEPARATOR) if part]


def emit(event: str, *args: Any, ack: int | None = None) -> bytes:
    """An Engine.IO message carrying a Socket.IO event on the default namespace."""
    return b"42" + (b"%d" % ack if ack is not None else b"") + jsonc.dumps([event, *args])
