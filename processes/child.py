"""The one way the harness starts a child process, whatever it runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

from network.hosts import Launcher, runs_here


def children_of(pid: int) -> list[int]:
    """The live children of `pid` (an nginx master's workers): none when it has gone."""
    try:
        found = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [child for child in found if not zombie(child)]


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


class ChildProcess:
    """One child process the harness owns, and the only way it launches one: its command, its
    environment, the CPUs it is pinned to, and a stop that always happens (SIGTERM, then SIGKILL).
    Servers (`ServerProcess`), redis-server and nginx (`processes.services`) and the bench's
    JSON-line workers (`scenarios.workers.Worker`) are all ones."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cpus: set[int] | None = None,
        name: str | None = None,
        launcher: Launcher | None = None,
    ) -> None:
        self.argv = argv if launcher is None else launcher.command(argv, env or {})
        self.launcher = launcher
        """Where it runs: a namespace of `network.topology`, a machine reached by ssh, or None:
        this machine's own network."""
        self.env = {**os.environ, **(env or {})}
        self.cpus = cpus
        self.name = name or os.path.basename(argv[0])
        self.proc: subprocess.Popen[bytes] | None = None

    def pids(self) -> list[int]:
        """It and its children: every process whose CPU is its work (an nginx's workers)."""
        return [self.pid, *children_of(self.pid)]

    @property
    def local(self) -> bool:
        """It runs on this machine: its pid's CPU and memory can be sampled."""
        return runs_here(self.launcher)

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"expected {self.name} to be started, got no process yet")
        return self.proc.pid

    def spawn(self, *, stdin: int, stdout: int, stderr: int) -> subprocess.Popen[bytes]:
        cpus = self.cpus

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.proc = subprocess.Popen(
            self.argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=self.env,
            preexec_fn=pin if cpus else None,
        )
        return self.proc

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
