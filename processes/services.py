"""Real redis-server and nginx processes on loopback, for `make cluster` and the cluster tests."""

from __future__ import annotations

import abc
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from processes.child import ChildProcess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str | None:
    """`redis-server`, `nginx`: on PATH, or in /usr/sbin where Debian puts nginx."""
    found = shutil.which(name)
    if found is None and os.path.exists(f"/usr/sbin/{name}"):
        found = f"/usr/sbin/{name}"
    return found


def wait_for_port(port: int, patience: float = 10.0) -> None:
    deadline = time.monotonic() + patience
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Service(ChildProcess, abc.ABC):
    """A service binary on a loopback port, stopped on exit whatever happens."""

    def __init__(
        self, binary: str, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        super().__init__([binary], env=env)
        self.binary = binary
        self.port = port or free_port()

    @abc.abstractmethod
    def start(self) -> Self: ...


class RedisServer(Service):
    """A throwaway redis-server on loopback: no persistence, so a restart loses every room.
    With a `password`, it asks every client for it (`requirepass`)."""

    def __init__(
        self,
        binary: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(binary, port, env)
        self.password = password

    @property
    def url(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        self.argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        if self.password:
            self.argv += ["--requirepass", self.password]
        # No persistence: a restart loses every room, which is what the resume tests need.
        self.argv += ["--save", "", "--appendonly", "no"]
        self.argv += ["--protected-mode", "yes", "--loglevel", "warning"]
        self.spawn(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self


NGINX_PREAMBLE = """\
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
"""

NGINX_CONF = (
    NGINX_PREAMBLE
    + """\
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream rtbench {{
        # Round robin, no stickiness: the resume cursor lives in the client.
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://rtbench;
            proxy_http_version 1.1;
            # WebSocket: pass the upgrade through.
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            # The Host the browser sent, port included: the server's same-origin rule compares
            # a page's Origin with it ($host would drop the port).
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            # SSE and long polling: stream as written, never buffer.
            proxy_buffering off;
            proxy_cache off;
            # Above the SSE heartbeat (15 s) and the long-poll maximum (60 s).
            proxy_read_timeout {read_timeout}s;
            proxy_send_timeout {read_timeout}s;
            # A node that died: try the next one for requests that can be retried.
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""
)


NGINX_DEFAULTS_CONF = (
    NGINX_PREAMBLE
    + """\
    upstream rtbench {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            # What a distribution's example reverse proxy does: nginx's own defaults
            # (HTTP/1.0 upstream, no Upgrade/Connection forwarding, proxy_buffering on).
            proxy_pass http://rtbench;
            proxy_read_timeout {read_timeout}s;
        }}
    }}
}}
"""
)

NGINX_FLAVOURS = ("tuned", "defaults")
"""`tuned`: the cluster's configuration (upgrade forwarded, no buffering, long read timeout);
`defaults`: nginx as a distribution's example proxy leaves it."""


class Nginx(Service):
    """A real nginx in front of the nodes, with its config written into `folder`."""

    def __init__(
        self,
        binary: str,
        folder: Path,
        upstreams: list[str],
        port: int | None = None,
        env: dict[str, str] | None = None,
        flavour: str = "tuned",
        read_timeout_seconds: float | None = None,
    ) -> None:
        super().__init__(binary, port, env)
        if flavour not in NGINX_FLAVOURS:
            raise ValueError(f"expected an nginx flavour among {NGINX_FLAVOURS}, got {flavour!r}")
        if read_timeout_seconds is None:  # nginx's own default, or the cluster's 75 s
            read_timeout_seconds = 60.0 if flavour == "defaults" else 75.0
        if not 1 <= read_timeout_seconds <= 3600:
            raise ValueError(f"expected a read timeout of 1–3600 s, got {read_timeout_seconds!r}")
        self.folder = folder.resolve()  # nginx reads relative paths against its own prefix
        self.upstreams = upstreams
        self.flavour = flavour
        self.read_timeout_seconds = read_timeout_seconds

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            f"        server {u.removeprefix('http://')} max_fails=1 fail_timeout=2s;"
            for u in self.upstreams
        )
        template = NGINX_DEFAULTS_CONF if self.flavour == "defaults" else NGINX_CONF
        return template.format(
            folder=self.folder,
            port=self.port,
            servers=servers,
            read_timeout=f"{self.read_timeout_seconds:g}",
        )

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "nginx.conf"
        conf.write_text(self.config())
        self.argv = [self.binary, "-c", str(conf), "-p", str(self.folder)]
        self.argv += ["-e", str(self.folder / "error.log")]
        self.spawn(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except OSError:
            self.stop()
            log = (self.folder / "error.log").read_text()
            raise RuntimeError(f"expected nginx to listen on {self.port}, got: {log}") from None
        return self
