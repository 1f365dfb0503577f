"""Helpers for the parity suite."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from clients.aio.probe import Probe
from core import Delivery, Event, urls
from record import RecordedRun, load
from scenarios.load.browser import chromium_binary as browser_chromium

# Bounds that keep a broken server from hanging the suite; not performance expectations.
PATIENCE = 30.0


async def collect(
    source: AsyncIterable[Delivery], count: int, patience: float = PATIENCE
) -> list[Delivery]:
    """The first `count` deliveries from `source` (events and gap notices)."""
    items: list[Delivery] = []

    async def run() -> None:
        async for item in source:
            items.append(item)
            if len(items) >= count:
                return

    await asyncio.wait_for(run(), patience)
    return items


def ids(items: list[Delivery]) -> list[int]:
    return [item.id for item in items if isinstance(item, Event)]


async def eventually(check: Callable[[], Awaitable[Any]], patience: float = PATIENCE) -> Any:
    """Poll `check` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition still false after {patience}s: last {result!r}")
        await asyncio.sleep(0.05)


def subscribe_path(transport: str, room: str, after: int | None = None) -> str:
    """A subscribe path that starts at once: a poll without a cursor would only ask for one."""
    if after is None and transport == "longpoll":
        after = 0
    return urls.subscribe_path(transport, room, after)


def open_stalled_subscriber(base_url: str, transport: str, room: str) -> socket.socket:
    """A raw client that subscribes and then never reads: the slowest possible subscriber."""
    parts = urlsplit(base_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    path = subscribe_path(transport, room)
    request = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
    if transport == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        request += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
    sock.sendall(("\r\n".join(request) + "\r\n\r\n").encode())
    return sock


def chromium_binary() -> str:
    """Debian's chromium for Playwright; `make test` installs it (scripts/system-deps)."""
    found = browser_chromium()
    if found is None:
        pytest.fail(
            "expected Debian's chromium, got none: run scripts/system-deps (make test does)"
        )
    return found


def service_binary(name: str, package: str) -> str:
    """A real service binary (redis-server, nginx). `make test` installs it: never skip."""
    from processes.services import find_binary

    found = find_binary(name)
    if found is None:
        pytest.fail(
            f"expected {name}, got none: run scripts/system-deps or apt-get install {package}"
        )
    return found


def run_profile(folder: Path, text: str, timeout: float = 200) -> RecordedRun:
    """Run the profile `text` (TOML) into `folder` as `python -m scenarios.run` does, and read
    what it recorded; the run's output is the failure message."""
    profile = folder / "profile.toml"
    profile.write_text(text)
    run_id = f"run-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.run", "--profile", str(profile), "--out",
         str(folder), "--run-id", run_id],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return load(folder / run_id)


class ServerApart:
    """A server started apart from the run, as a user starts theirs; its output goes to a file,
    which nothing else reads, so that it never waits on a full pipe."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=Path(__file__).resolve().parent.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while (found := re.search(r"http://[0-9.]+:[0-9]+", log.read_text())) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"expected a URL from {argv}, got {log.read_text()!r}")
            time.sleep(0.05)
        self.url = found.group(0)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def each_got_all_once_in_order(probes: list[Probe], count: int) -> None:
    """Every probe received events 1…`count`, each once and in order, without an error; then
    closed."""

    async def all_received() -> bool:
        return all(p.tally.last_id == count for p in probes)

    await eventually(all_received)
    for probe in probes:
        tally = probe.tally
        assert (tally.delivered, tally.duplicated, tally.reordered) == (count, 0, 0)
        assert not tally.missing and probe.error is None
        probe.close()
