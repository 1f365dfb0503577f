"""`python -m servers TRANSPORT`: run one rtbench server."""

from __future__ import annotations

import argparse
import sys

from core import ConfigError, ServerConfig
from core.config import FANOUTS
from servers import logs
from servers.app import create_app
from servers.registry import TRANSPORT_CLASSES, get_transport
from servers.runner import SERVERS, run

EPILOG = """\
Endpoints (all transports): POST /rooms/{room}/events  {"data": ...} -> 201 {"id": n}
  GET /healthz, GET /status (JSON). Subscribe:
  longpoll  GET /rooms/{room}/poll?after=<id>&timeout=<s>
  sse       GET /rooms/{room}/sse          (Last-Event-ID or ?after=<id> to resume)
  ws        GET /rooms/{room}/ws?after=<id>
  all       the three above on one hub: what the browser demo at /demo/ uses
Every server also serves the demo page at /demo/ (panels of other transports show "unavailable").
Example:  python -m servers sse --port 8000 &  curl -N localhost:8000/rooms/lobby/sse
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m servers",
        description="Run one rtbench real-time server: long polling, SSE, WebSocket or all three.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "transport", choices=list(TRANSPORT_CLASSES), help="subscribe transport to serve"
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default 8000)")
    p.add_argument("--broker", help="'memory' (default, embedded) or redis://HOST:PORT/DB")
    p.add_argument("--config", metavar="FILE", help="TOML file: server keys, [limits], [heartbeat]")
    p.add_argument("--log-format", choices=["json", "text"], help="log line format (default json)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--ssl-certfile", metavar="PEM", help="certificate chain: serve HTTPS/WSS")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="private key for --ssl-certfile")
    p.add_argument(
        "--server",
        choices=list(SERVERS),
        default="uvicorn",
        help="ASGI server: uvicorn (default; the only one with the direct fan-out), hypercorn "
        "(HTTP/2 over TLS, by ALPN) or granian (HTTP/1.1 and WebSockets in Rust)",
    )
    p.add_argument(
        "--fanout",
        choices=list(FANOUTS),
        help="direct (default): events written to each ready socket as published, framed once; "
        "asgi: through each connection's queue and ASGI send",
    )
    p.add_argument(
        "--compression",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="WebSocket permessage-deflate (default off, to compare like with like)",
    )
    return p


def load_config(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig.load(args.config) if args.config else ServerConfig()
    overrides = {
        key: value
        for key in (
            "host",
            "port",
            "broker",
            "log_format",
            "log_level",
            "compression",
            "fanout",
            "ssl_certfile",
            "ssl_keyfile",
        )
        if (value := getattr(args, key)) is not None
    }
    if args.server != "uvicorn":
        # The direct fan-out writes through uvicorn's protocols (servers.protocol); the other
        # servers have none to offer, so /status says what actually runs.
        overrides["fanout"] = "asgi"
    return config.replace(**overrides)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args)
        transport = get_transport(args.transport)
        logs.configure(config.log_format, config.log_level)
        app = create_app(transport, config)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    run(app, config, args.server)
    return 0
