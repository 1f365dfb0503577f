"""The delay proxy: the configured one-way delay (± 2 ms) on every chunk, both directions,
bytes in order, the handshake's round trip paid once, and nonsense refused clearly."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

DELAY_MS = 20.0


@pytest.fixture
async def echo() -> AsyncIterator[tuple[int, list[tuple[int, float]]]]:
    """An echo server that notes when each numbered chunk arrived."""
    arrivals: list[tuple[int, float]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            now = time.monotonic()
            arrivals.extend((int(n), now) for n in data.split(b";") if n)
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], arrivals
    server.close()


def start_proxy(*args: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scenarios.load.delayproxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    return proc, int(ready["port"])


async def test_every_chunk_is_delayed_one_way_and_kept_in_order(
    echo: tuple[int, list[tuple[int, float]]],
) -> None:
    port, arrivals = echo
    proc, proxy_port = start_proxy("--target", f"127.0.0.1:{port}", "--delay-ms", str(DELAY_MS))
    try:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        sent: dict[int, float] = {}
        wire = b""
        for n in range(200):
            chunk = b"%d;" % n
            sent[n] = time.monotonic()
            writer.write(chunk)
            wire += chunk
            await asyncio.sleep(0.002 if n % 10 else 0.03)
        back = b""
        while len(back) < len(wire):
            back += await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
    finally:
        proc.terminate()
        proc.wait(5)
    assert back == wire  # every byte, in order, both ways
    delays = {n: (arrived - sent[n]) * 1000 for n, arrived in arrivals}
    # The first chunk waits for the simulated handshake: one round trip, then the crossing.
    assert delays[0] >= 3 * DELAY_MS - 2 - (sent[0] - started) * 1000
    steady = sorted(d for n, d in delays.items() if sent[n] - started > 3 * DELAY_MS / 1000 + 0.01)
    assert len(steady) > 150
    # Never early; the median within ± 2 ms, and nine in ten within 2 ms late: the rest are
    # late wake-ups of this test's own loop (it times the arrivals) on a busy test machine.
    assert steady[0] >= DELAY_MS - 0.5, steady[:5]
    assert abs(steady[len(steady) // 2] - DELAY_MS) <= 2, steady[len(steady) // 2]
    within = [d for d in steady if d <= DELAY_MS + 2]
    assert len(within) >= 0.9 * len(steady) and steady[-1] <= DELAY_MS + 25, steady[-5:]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--target", "127.0.0.1:80", "--delay-ms", "-5"],
            "expected a one-way delay of 0–10000 ms",
        ),
        (["--target", "127.0.0.1:80", "--delay-ms", "soon"], "expected milliseconds, got 'soon'"),
        (["--target", "example.com:80", "--delay-ms", "5"], "expected a loopback or namespace"),
        (["--target", "127.0.0.1:99999", "--delay-ms", "5"], "expected HOST:PORT (port 1–65535)"),
        (["--target", "127.0.0.1:80", "--delay-ms", "5", "--max-buffer", "12"], "1024 B – 1 GiB"),
    ],
)
def test_nonsense_parameters_are_refused_clearly(args: list[str], expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.load.delayproxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and expected in done.stderr, done.stderr
