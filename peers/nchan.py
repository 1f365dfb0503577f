"""Nchan, nginx's pub/sub module written in C, as a reference peer: the production server that
serves long polling, EventSource and WebSocket from one channel, and the C floor for all three.

`python -m peers nchan-ws` writes an nginx config (rooms are channels: `POST
/rooms/{room}/events` publishes, `/rooms/{room}/poll|sse|ws` subscribe with that peer's one
protocol), prints the `ready` line once nginx answers, and becomes nginx: a master and one
worker, the worker doing the work (its pid is counted as the server's, and pinned with it).
Nchan's single-process mode frees memory twice when it stops with long polls held. It keeps
the newest 1,024 messages of a channel for an hour, as our resume buffer keeps 1,024 events,
and a new subscriber starts at the next message.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from processes.services import NGINX_PREAMBLE, find_binary, free_port

MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
"""Where Debian's libnginx-mod-nchan puts the module (`scripts/system-deps` installs it)."""

PROTOCOLS = {"nchan-longpoll": "longpoll", "nchan-sse": "eventsource", "nchan-ws": "websocket"}
"""Each peer's one subscriber protocol, as `nchan_subscriber` names it."""

CONF = (
    "load_module {module};\n"
    + NGINX_PREAMBLE
    + """\
    nchan_shared_memory_size 256M;
    server {{
        listen {host}:{port};
        location ~ "^/rooms/([A-Za-z0-9_.-]{{1,64}})/events$" {{
            nchan_publisher http;
            nchan_channel_id $1;
            nchan_message_buffer_length 1024;
            nchan_message_timeout 1h;
        }}
        location ~ "^/rooms/([A-Za-z0-9_.-]{{1,64}})/(poll|sse|ws)$" {{
            nchan_subscriber {protocol};
            nchan_channel_id $1;
            nchan_subscriber_first_message newest;
        }}
        location = /healthz {{
            return 200 "ok";
        }}
    }}
}}
"""
)
"""The cluster's nginx preamble (one worker, temp paths in the folder), in one process."""

FOLDER_PREFIX = "rtbench-nchan-"


def config(peer: str, host: str, port: int, folder: Path) -> str:
    return CONF.format(module=MODULE, folder=folder, host=host, port=port,
                       protocol=PROTOCOLS[peer])  # fmt: skip


def sweep() -> None:
    """The folders of Nchan peers whose process is gone (a killed run's)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name.removeprefix(FOLDER_PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def serve(peer: str, host: str, port: int) -> int:
    """Become nginx serving `peer`; a forked child prints the `ready` line once it listens.
    Returns only on a failure before nginx starts (2, with why on stderr)."""
    nginx = find_binary("nginx")
    if nginx is None or not MODULE.exists():
        print(
            f"error: expected nginx and {MODULE} (libnginx-mod-nchan; scripts/system-deps "
            "installs both), got none",
            file=sys.stderr,
        )
        return 2
    sweep()
    port = port or free_port()
    folder = Path(tempfile.gettempdir()) / f"{FOLDER_PREFIX}{os.getpid()}"
    folder.mkdir(exist_ok=True)
    (folder / "nginx.conf").write_text(config(peer, host, port, folder))
    url = f"http://{host}:{port}"
    # One process holds every subscriber: as many descriptors as the machine lets it have.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if os.fork() == 0:  # the announcer: nginx keeps this pid, the child says when it listens
        announce(peer, url, host, port)
        os._exit(0)
    os.execv(nginx, [nginx, "-c", str(folder / "nginx.conf"), "-p", str(folder),
                     "-e", str(folder / "error.log")])  # fmt: skip


def announce(peer: str, url: str, host: str, port: int, patience: float = 10.0) -> None:
    """The `ready` line once nginx's worker answers `/healthz` (its master listens first)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                ready = {"event": "ready", "url": url, "transport": peer, "peer": "nchan",
                         "server": "nginx + nchan"}  # fmt: skip
                print(json.dumps(ready), flush=True)
                return
        time.sleep(0.02)
