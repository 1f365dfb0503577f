"""The publisher's clock, offered to drivers on other hosts: an NTP-style exchange, so that a
latency measured as a driver's receive time minus the publisher's send stamp is read on one
clock.

    python -m scenarios.load.clock --host 10.77.0.2          # prints {"event": "clock", ...}

A UDP responder: each datagram is answered at once with this host's `time.time_ns()` (the
clock the publisher stamps events with, as it runs on this host). A driver (`offset`) sends
`exchanges` requests and keeps the one with the shortest round trip, as NTP's clock filter
does: its offset is `server − (sent + received) / 2`, and half its round trip bounds the error.
In network namespaces of one machine every host reads the same clock and the offset is about
zero; on real hosts it is what their clocks disagree by, corrected in every latency and
reported as the step's latency uncertainty.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import struct
import time
from dataclasses import dataclass
from typing import cast

from scenarios import ipc

STAMP = struct.Struct("!q")
REQUEST = b"rtbench-clock?"


class Responder(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data == REQUEST:
            self.transport.sendto(STAMP.pack(time.time_ns()), addr)


@dataclass(frozen=True, slots=True)
class Offset:
    offset_ns: int
    """What to add to this host's clock to read the publisher's."""
    uncertainty_ns: int
    """Half the round trip of the exchange the offset came from: the most it can be wrong by."""

    @classmethod
    def of_exchange(cls, sent_ns: int, server_ns: int, received_ns: int) -> Offset:
        return cls(server_ns - (sent_ns + received_ns) // 2, (received_ns - sent_ns) // 2)


def best(exchanges: list[Offset], host: str, port: int) -> Offset:
    """NTP's clock filter: the exchange with the shortest round trip."""
    if not exchanges:
        raise TimeoutError(f"expected an answer from the clock at {host}:{port}, got none")
    return min(exchanges, key=lambda found: found.uncertainty_ns)


class Asker(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) == STAMP.size:
            self.answers.put_nowait((STAMP.unpack(data)[0], time.time_ns()))


async def offset(host: str, port: int, exchanges: int = 16, patience: float = 1.0) -> Offset:
    """The publisher host's clock against this one, from the exchange with the shortest round
    trip. Raises TimeoutError when no answer comes."""
    loop = asyncio.get_running_loop()
    transport, asker = await loop.create_datagram_endpoint(Asker, remote_addr=(host, port))
    found: list[Offset] = []
    try:
        for _ in range(exchanges):
            sent_ns = time.time_ns()
            transport.sendto(REQUEST)
            try:
                server_ns, received_ns = await asyncio.wait_for(asker.answers.get(), patience)
            except TimeoutError:
                continue  # a lost datagram: ask again
            found.append(Offset.of_exchange(sent_ns, server_ns, received_ns))
    finally:
        transport.close()
    return best(found, host, port)


def offset_blocking(host: str, port: int, exchanges: int = 16, patience: float = 1.0) -> Offset:
    """`offset` for a process without an asyncio loop (a Locust worker, under gevent, whose
    sockets yield to its other greenlets)."""
    found: list[Offset] = []
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as asker:
        asker.settimeout(patience)
        asker.connect((host, port))
        for _ in range(exchanges):
            sent_ns = time.time_ns()
            asker.send(REQUEST)
            try:
                answer = asker.recv(64)
            except TimeoutError:
                continue
            received_ns = time.time_ns()
            if len(answer) == STAMP.size:
                found.append(Offset.of_exchange(sent_ns, STAMP.unpack(answer)[0], received_ns))
    return best(found, host, port)


async def serve(host: str) -> None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    transport, _ = await loop.create_datagram_endpoint(
        Responder, local_addr=(host, 0), family=family
    )
    port = transport.get_extra_info("sockname")[1]
    ipc.emit(ipc.ClockReady(event="clock", address=f"{host}:{port}"))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    commands = await ipc.commands()
    closing = asyncio.ensure_future(commands.read())  # stdin closed: the run is over
    waiting = asyncio.ensure_future(stop.wait())
    await asyncio.wait([closing, waiting], return_when=asyncio.FIRST_COMPLETED)
    for task in (closing, waiting):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    transport.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.clock",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", required=True, help="the publisher host's address to answer on")
    p.add_argument("--cpus", type=str, default="", help="comma-separated CPUs to pin to")
    return p


def main() -> None:
    args = parser().parse_args()
    ipc.pin({int(c) for c in args.cpus.split(",") if c})
    asyncio.run(serve(args.host))


if __name__ == "__main__":
    main()
