"""Child processes of a run: servers, drivers, publishers, each tracked so none outlives it."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
from collections import deque
from types import ModuleType
from typing import Any, Self

from network.hosts import Launcher
from processes.child import ChildProcess
from scenarios import ipc

RUN_MARKER = "RTBENCH_RUN_ID"
"""Set in every child's environment, so a run's processes can be found (and checked gone)."""


class WorkerFailed(RuntimeError):
    pass


class Worker(ChildProcess):
    """A `python -m <program>` child speaking JSON lines (see scenarios.ipc): commands go to its
    stdin, events come from its stdout; its stderr's tail explains a failure. `program` is one
    of the load programs (`scenarios.load`), imported so that the import shows who runs it, or
    the name of another package's program (`locust`)."""

    def __init__(
        self,
        program: ModuleType | str,
        args: list[str],
        run_id: str,
        name: str,
        pin: set[int] | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        module = program if isinstance(program, str) else program.__name__
        argv = [sys.executable, "-m", module, *args]
        super().__init__(argv, env={RUN_MARKER: run_id}, cpus=pin, name=name,
                         launcher=launcher)  # fmt: skip
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._stdout = asyncio.StreamReader(limit=1 << 24)
        self._attached: asyncio.Task[None] | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._stderr_drain: asyncio.Task[None] | None = None

    def start(self) -> Self:
        """Launch it; its pipes join the running event loop."""
        self.spawn(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._attached = asyncio.get_running_loop().create_task(self._attach())
        return self

    async def _attach(self) -> None:
        assert self.proc is not None and self.proc.stdout and self.proc.stderr
        loop = asyncio.get_running_loop()
        stderr = asyncio.StreamReader()
        for reader, pipe in ((self._stdout, self.proc.stdout), (stderr, self.proc.stderr)):
            transport, _ = await loop.connect_read_pipe(
                functools.partial(asyncio.StreamReaderProtocol, reader), pipe
            )
            self._transports.append(transport)
        self._stderr_drain = loop.create_task(self._drain(stderr))

    async def _drain(self, stderr: asyncio.StreamReader) -> None:
        async for line in stderr:
            self.stderr_tail.append(line.decode(errors="replace").rstrip())

    async def _stdout_line(self) -> bytes:
        if self._attached is None:
            raise RuntimeError(f"expected {self.name} to be started, got no process yet")
        await self._attached
        return await self._stdout.readline()

    async def _exit_code(self) -> int:
        assert self.proc is not None
        return await asyncio.to_thread(self.proc.wait)

    async def _event(self, name: str, patience: float) -> dict[str, Any]:
        """The next JSON line whose `event` is `name` (others are skipped)."""
        async with asyncio.timeout(patience):
            while True:
                line = await self._stdout_line()
                if not line:
                    code = await self._exit_code()
                    tail = "\n".join(list(self.stderr_tail)[-8:])
                    raise WorkerFailed(f"{self.name} exited ({code}) before '{name}':\n{tail}")
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("event") == name:
                    return message

    async def receive(self, kind: type[ipc.Message], patience: float) -> ipc.Message:
        """The next message of type `kind` (others are skipped), its keys checked."""
        return ipc.parse(kind, await self._event(ipc.event_name(kind), patience))

    async def finish(self, patience: float) -> int:
        """Wait for the process to exit on its own; its exit code."""
        async with asyncio.timeout(patience):
            while await self._stdout_line():
                pass
            return await self._exit_code()

    async def send(self, **command: Any) -> None:
        """One command line; the child reads its stdin as it runs, so the write does not wait."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    async def aclose(self, grace: float = 3.0) -> int | None:
        """`stop` off the event loop, then its pipes released."""
        code = await asyncio.to_thread(self.stop, grace)
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        for transport in self._transports:
            transport.close()
        if self._stderr_drain is not None:
            self._stderr_drain.cancel()
        return code


def processes_of_run(run_id: str) -> list[int]:
    """PIDs of live processes carrying this run's marker (for leak checks)."""
    marker = f"{RUN_MARKER}={run_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != b"Z":
            found.append(int(entry))
    return found
