"""Start a server as its own process and learn its URL from its `ready` log line.

Tests and the bench orchestrator both use this: servers always run for real, under uvicorn,
on an ephemeral loopback port.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path
from typing import Any, Self

from network.hosts import Launcher
from processes.child import ChildProcess


class ServerFailed(RuntimeError):
    pass


class ServerProcess(ChildProcess):
    def __init__(
        self,
        transport: str,
        *,
        config: str | Path | None = None,
        broker: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_args: list[str] | None = None,
        log_lines: int = 10_000,
        cpu: int | None = None,
        env: dict[str, str] | None = None,
        module: str = "servers",
        launcher: Launcher | None = None,
    ) -> None:
        self.transport = transport
        argv = [sys.executable, "-m", module, transport, "--host", host, "--port", str(port)]
        argv += ["--log-format", "json"]
        if config is not None:
            argv += ["--config", str(config)]
        if broker is not None:
            argv += ["--broker", broker]
        argv += extra_args or []
        cpus = None if cpu is None else {cpu}
        super().__init__(argv, env=env, cpus=cpus, name=f"{transport} server",
                         launcher=launcher)  # fmt: skip
        self.logs: deque[dict[str, Any]] = deque(maxlen=log_lines)
        """Parsed JSON log lines, newest last (bounded)."""
        self.url = ""
        self.publish_url = ""
        """Where `POST /rooms/{room}/events` is served: `url`, unless the server says otherwise."""
        self.server = ""
        """The ASGI server it runs under (`servers.runner.SERVERS`), once ready."""
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 20.0) -> Self:
        self.spawn(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or not self.url:
            self.stop()
            tail = "\n".join(json.dumps(line) for line in list(self.logs)[-20:])
            raise ServerFailed(f"{self.transport} server did not become ready:\n{tail}")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"event": "raw", "text": raw.decode(errors="replace").rstrip()}
            if not isinstance(line, dict):
                line = {"event": "raw", "text": str(line)}
            self.logs.append(line)
            if line.get("event") == "ready":
                self.url = str(line["url"])
                self.publish_url = str(line.get("publish_url") or self.url)
                self.server = str(line.get("server", ""))
                self._ready.set()
        self._ready.set()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in list(self.logs) if line.get("event") == name]

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 5.0) -> int | None:
        code = super().stop(timeout)
        if self._reader is not None:
            self._reader.join(2)
        return code
