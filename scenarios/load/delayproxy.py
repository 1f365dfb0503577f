"""A TCP proxy that delays every chunk by a fixed one-way time, each direction on its own.

    python -m scenarios.load.delayproxy --target 127.0.0.1:8000 --delay-ms 50   # RTT + 100 ms

This kernel has no netem, and toxiproxy is not packaged; the one PyPI package that delays TCP
(toxic-proxy 0.0.2) is unmaintained. So: asyncio protocols, one per side. Each chunk read is
stamped with its arrival time and released `delay` later, in arrival order (one queue and one
timer per direction, so equal deadlines cannot swap chunks). A direction holding more than
`--max-buffer` bytes stops reading its source until it drains: memory stays bounded whatever
the peers do. The proxy prints one JSON `ready` line with its URL and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import signal
import sys
from typing import cast

from scenarios import ipc

HIGH_WATER = 4 * 1024 * 1024


class Direction:
    """One way through the proxy: chunks queued with their release time, written in order."""

    def __init__(self, delay: float, max_buffer: int) -> None:
        self.delay = delay
        self.max_buffer = max_buffer
        self.queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.queued = 0
        self.timer: asyncio.TimerHandle | None = None
        self.source: asyncio.Transport | None = None
        self.sink: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.not_before = 0.0
        """Nothing leaves before this loop time (the client's TCP handshake round trip)."""

    def push(self, data: bytes | None) -> None:
        """Queue `data` (None: the source closed) for release `delay` from now."""
        due = max(self.loop.time() + self.delay, self.not_before)
        self.queue.append((due, data))
        if data:
            self.queued += len(data)
            if self.queued > self.max_buffer and self.source is not None:
                self.source.pause_reading()
        if self.timer is None:
            self.release()

    def attach(self, sink: asyncio.Transport) -> None:
        self.sink = sink
        if self.queue and self.timer is None:
            self.release()

    def release(self) -> None:
        self.timer = None
        if self.sink is None:
            return  # the upstream connection is not made yet: `attach` releases
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if data is None:
                if self.sink is not None:
                    self.sink.close()
                continue
            self.queued -= len(data)
            if self.sink is not None and not self.sink.is_closing():
                self.sink.write(data)
        if self.source is not None and self.queued <= self.max_buffer // 4:
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                self.source.resume_reading()
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.release)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


class Side(asyncio.Protocol):
    """One socket of a proxied pair: what it reads goes out through `outbound`."""

    def __init__(self, outbound: Direction, inbound: Direction) -> None:
        self.outbound = outbound
        self.inbound = inbound
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.outbound.source = self.transport
        self.inbound.attach(self.transport)

    def data_received(self, data: bytes) -> None:
        self.outbound.push(data)

    def eof_received(self) -> bool:
        self.outbound.push(None)
        return True  # keep our side open until the delayed close arrives

    def connection_lost(self, exc: Exception | None) -> None:
        self.outbound.push(None)


class Listener(Side):
    """The client's side: it connects the upstream side as soon as the client arrives, and
    holds what the client sends until then (the delay applies to it like to everything)."""

    def __init__(self, target: tuple[str, int], delay: float, max_buffer: int) -> None:
        self.target = target
        self.up = Direction(delay, max_buffer)
        self.down = Direction(delay, max_buffer)
        super().__init__(self.up, self.down)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # The kernel completed the client's connect at once; on a real link its first bytes
        # would leave only after the handshake's round trip, then cross in `delay`.
        self.up.not_before = self.up.loop.time() + 3 * self.up.delay
        asyncio.get_running_loop().create_task(self.connect())

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.up.delay)
        try:
            await loop.create_connection(lambda: Side(self.down, self.up), *self.target)
        except OSError:
            if self.transport is not None:
                self.transport.close()


def target_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (port 1–65535), got {text!r}")
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("10."):
        raise argparse.ArgumentTypeError(
            f"expected a loopback or namespace address (load stays local), got {host!r}"
        )
    return host, int(port)


def delay_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not 0 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"expected a one-way delay of 0–10000 ms, got {text}")
    return value


def buffer_bytes(text: str) -> int:
    if not text.isdigit() or not 1024 <= int(text) <= 1 << 30:
        raise argparse.ArgumentTypeError(f"expected 1024 B – 1 GiB, got {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.delayproxy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", type=target_address, required=True, help="HOST:PORT to proxy to")
    p.add_argument("--delay-ms", type=delay_ms, required=True,
                   help="one-way delay per direction (RTT adds twice this)")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    p.add_argument("--cpus", type=str, default="", help="comma-separated CPUs to pin to")
    p.add_argument(
        "--max-buffer",
        type=buffer_bytes,
        default=HIGH_WATER,
        help="bytes held per direction before reading pauses (default 4 MiB)",
    )
    return p


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    delay = args.delay_ms / 1000
    server = await loop.create_server(
        lambda: Listener(args.target, delay, args.max_buffer), args.host, args.port, backlog=4096
    )
    host, port = server.sockets[0].getsockname()[:2]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready: ipc.ProxyReady = {
        "event": "ready",
        "url": f"http://{host}:{port}",
        "port": port,
        "delay_ms": args.delay_ms,
    }
    ipc.emit(ready)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    ipc.pin({int(c) for c in args.cpus.split(",") if c})
    ipc.raise_open_files_limit()
    # The standard loop, not uvloop: libuv's timers are whole milliseconds, asyncio's are not,
    # and the release times are the point of this program.
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
