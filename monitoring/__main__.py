"""`make monitor` (`python -m monitoring`): a real Prometheus on loopback scraping rtbench servers,
with the alert and recording rules of `monitoring/rules/` and an Alertmanager; Ctrl-C stops
everything it started.

    python -m monitoring                           # one server to watch, started here
    python -m monitoring --nodes 2                 # redis-server, 2 nodes, nginx in front
    python -m monitoring --target 127.0.0.1:8000   # servers already running (repeatable)

With --nodes 2, stop redis-server (the command is printed) to see RtbenchBrokerDown fire on
every node, and start it again to see it resolve: docs/monitoring.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from monitoring.services import Alertmanager, MissingTool, Prometheus
from processes.server import ServerFailed, ServerProcess
from processes.services import Nginx, RedisServer, find_binary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--target", action="append", default=[], metavar="HOST:PORT",
                   help="scrape this running server's /metrics (repeatable); without it, "
                   "servers are started to watch")  # fmt: skip
    p.add_argument("--nodes", type=int, default=1,
                   help="servers to start without --target: 1 (memory broker), or 2 to 8 nodes "
                   "on a redis-server behind nginx (default 1)")  # fmt: skip
    p.add_argument("--transport", default="all", choices=["longpoll", "sse", "ws", "all"])
    p.add_argument("--port", type=int, default=9090, help="Prometheus's port (default 9090)")
    p.add_argument("--every", type=float, default=5.0,
                   help="seconds between scrapes and rule evaluations (default 5)")  # fmt: skip
    p.add_argument("--webhook", metavar="URL",
                   help="Alertmanager sends every alert here (resolved ones too)")  # fmt: skip
    return p


def watched(stack: ExitStack, args: argparse.Namespace, folder: Path) -> tuple[list[str], str]:
    """The servers to scrape (host:port each), started here unless given; and a line on them."""
    if args.target:
        return args.target, "the servers given"
    if not 1 <= args.nodes <= 8:
        raise ValueError(f"expected --nodes from 1 to 8, got {args.nodes}")
    if args.nodes == 1:
        server = stack.enter_context(ServerProcess(args.transport))
        return [urlsplit(server.url).netloc], f"one {args.transport} server at {server.url}"
    redis_binary = find_binary("redis-server")
    nginx_binary = find_binary("nginx")
    if redis_binary is None or nginx_binary is None:
        raise MissingTool("expected redis-server and nginx, got none (scripts/system-deps)")
    redis = stack.enter_context(RedisServer(redis_binary))
    nodes = [stack.enter_context(ServerProcess(args.transport, broker=redis.url))
             for _ in range(args.nodes)]  # fmt: skip
    nginx = stack.enter_context(Nginx(nginx_binary, folder / "nginx", [n.url for n in nodes]))
    line = (
        f"{args.nodes} {args.transport} nodes on redis-server (port {redis.port}, pid "
        f"{redis.pid}) behind nginx at {nginx.url}; to see RtbenchBrokerDown fire: "
        f"kill {redis.pid}"
    )
    return [urlsplit(node.url).netloc for node in nodes], line


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="rtbench-monitor-"))
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        with ExitStack() as stack:
            targets, about = watched(stack, args, folder)
            manager = stack.enter_context(Alertmanager(folder / "alertmanager", args.webhook))
            prometheus = stack.enter_context(
                Prometheus(folder / "prometheus", targets, args.every, manager.url, args.port)
            )
            print(
                f"rtbench monitor: Prometheus at {prometheus.url} (alerts: {prometheus.url}"
                f"/alerts, rules: {prometheus.url}/rules)\n"
                f"  scraping every {args.every:g} s: {', '.join(targets)}: {about}\n"
                f"  Alertmanager at {manager.url}"
                + (f", sending to {args.webhook}" if args.webhook else "")
                + f"\n  files: {folder}\nCtrl-C stops everything.",
                flush=True,
            )
            stopped.wait()
    except (MissingTool, ServerFailed, TimeoutError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("rtbench monitor: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
