"""Measuring subscribers for the Socket.IO peer, on the same raw-asyncio base as the others.

Both join their room in the connect query and are ready once Socket.IO acknowledges the connect
(`40{...}`), which the server sends after its connect handler entered the room. They answer the
server's pings, as a Socket.IO client must, and those bytes count in the wire figures.
"""

from __future__ import annotations

from typing import Any

from clients import engineio
from clients.aio.probe import PollProbe, Probe, WSProbe
from core.wire import http


class SocketIOMixin(Probe):
    """What both Socket.IO transports do with one Engine.IO packet."""

    pings = 0

    def send_packet(self, packet: bytes) -> None:
        raise NotImplementedError

    def packet(self, raw: bytes, received_ns: int) -> engineio.Packet:
        packet = engineio.parse(raw)
        if packet.kind == "event":
            name, *args = packet.data
            if name == "event" and args:
                self.deliver(args[0], received_ns)
        elif packet.kind == "ping":
            self.pings += 1
            self.send_packet(engineio.PONG)
        elif packet.kind == "open":
            self.send_packet(engineio.CONNECT)
        elif packet.kind == "connect":
            if not self.ready.done():
                self.ready.set_result(None)
        elif packet.kind in ("connect_error", "close", "disconnect"):
            self.fail(f"Socket.IO {packet.kind}: {packet.data!r:.200}")
        return packet


class SocketIOWSProbe(SocketIOMixin, WSProbe):
    transport_name = "socketio-ws"

    def target(self) -> str:
        return f"/socket.io/?EIO=4&transport=websocket&room={self.room}"

    def upgraded(self) -> None:
        """Not ready yet: Engine.IO open, then Socket.IO connect, come first."""

    def text(self, data: bytes, received_ns: int) -> None:
        self.packet(data, received_ns)

    def send_packet(self, packet: bytes) -> None:
        self.send_text(packet)


class SocketIOPollProbe(SocketIOMixin, PollProbe):
    """Engine.IO long polling on one keep-alive connection, strictly one request at a time:
    a subscriber only POSTs its connect and its pongs, each after a poll has answered."""

    transport_name = "socketio-polling"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sid = ""
        self.outbox: list[bytes] = []

    def start(self) -> None:
        self.reader = http.ResponseReader()
        self.status = 0
        self.body: list[bytes] = []
        self.request("GET")

    def base(self) -> str:
        sid = f"&sid={self.sid}" if self.sid else ""
        return f"/socket.io/?EIO=4&transport=polling&room={self.room}{sid}"

    def request(self, method: str, body: bytes = b"") -> None:
        headers = {"content-type": "text/plain;charset=UTF-8"} if body else None
        self.write(http.build_request(method, self.base(), self.netloc, headers, body))
        if method == "GET":
            self.polls += 1

    def send_packet(self, packet: bytes) -> None:
        self.outbox.append(packet)

    def answered(self, body: bytes, received_ns: int) -> None:
        if self.status != 200:
            self.fail(f"expected 200 from Engine.IO polling, got {self.status}: {body[:100]!r}")
            return
        if body.lower() != b"ok":  # a POST answers "ok"; a poll answers packets
            for raw in engineio.split_payload(body):
                packet = self.packet(raw, received_ns)
                if packet.kind == "open":
                    self.sid = str(packet.data["sid"])
        if self.error:
            return
        if self.outbox:
            self.request("POST", engineio.RECORD_SEPARATOR.join(self.outbox))
            self.outbox.clear()
        else:
            self.request("GET")


PROBES: dict[str, type[Probe]] = {
    "socketio-ws": SocketIOWSProbe,
    "socketio-polling": SocketIOPollProbe,
}
