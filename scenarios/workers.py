"""Child processes of a run: servers, drivers, publishers, each tracked so none outlives it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

RUN_MARKER = "RTBENCH_RUN_ID"
"""Set in every child's environment, so a run's processes can be found (and checked gone)."""


class WorkerFailed(RuntimeError):
    pass


class Worker:
    """A `python -m <module>` child speaking JSON lines (see scenarios.ipc)."""

    def __init__(
        self, module: str, args: list[str], run_id: str, name: str, pin: set[int] | None = None
    ) -> None:
        self.module = module
        self.pin = pin
        self.args = args
        self.run_id = run_id
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_tail: list[str] = []
        self._stderr_reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        env = {**os.environ, RUN_MARKER: self.run_id}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 24,
            preexec_fn=self._pin_child if self.pin else None,
        )
        self._stderr_reader = asyncio.create_task(self._drain_stderr())

    def _pin_child(self) -> None:
        if self.pin:
            os.sched_setaffinity(0, self.pin)

    async def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr_tail = [*self.stderr_tail[-19:], line.decode(errors="replace").rstrip()]

    async def event(self, name: str, patience: float) -> dict[str, Any]:
        """The next JSON line whose `event` is `name` (others are skipped)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(patience):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    await self.proc.wait()
                    tail = "\n".join(self.stderr_tail[-8:])
                    raise WorkerFailed(
                        f"{self.name} exited ({self.proc.returncode}) before '{name}':\n{tail}"
                    )
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("event") == name:
                    return message

    async def finish(self, patience: float) -> int:
        """Wait for the process to exit on its own; its exit code."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(patience):
            async for _ in self.proc.stdout:
                pass
            return await self.proc.wait()

    async def send(self, **command: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def stop(self, grace: float = 3.0) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                async with asyncio.timeout(wait):
                    await proc.wait()
                return
            except TimeoutError:
                continue


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
