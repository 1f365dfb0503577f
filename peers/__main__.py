"""`python -m peers NAME`: run a reference peer with the same options as `python -m servers`."""

from __future__ import annotations

import argparse
import sys

from core import ConfigError, ServerConfig
from peers import PEERS
from record import NCHAN_PEERS, WS_PEERS
from servers import logs
from servers.runner import Server, uvicorn_config

EPILOG = """\
Publish (all peers): POST /rooms/{room}/events {"data": ...} -> 201 {"id": n}; GET /status.
Subscribe:
  bare-ws, picows   ws://HOST:PORT/rooms/{room}/ws   (publish API on the port in the ready line)
  socketio-*        Socket.IO at /socket.io/ (EIO=4): connect with ?room=<room>, or emit
                    "join"; events arrive as "event"; namespace /admin needs auth {token}
  nchan-*           nginx with Nchan: /rooms/{room}/poll, /sse or /ws, each the peer's own
                    protocol; every published body delivered as sent, resume by Last-Event-ID
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m peers",
        description="Run a reference peer: the bare websockets server, picows, python-socketio or "
        "Nchan (nginx).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("peer", choices=PEERS, help="socketio-ws and socketio-polling: one server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free one")
    p.add_argument("--config", metavar="FILE", help="TOML file: [limits] apply")
    p.add_argument("--log-format", choices=["json", "text"], default="json")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    p.add_argument("--admin-token", default="", help="Socket.IO /admin namespace token")
    p.add_argument(
        "--ping-interval", type=float, default=25.0, help="Engine.IO ping period, s (default 25)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = ServerConfig.load(args.config) if args.config else ServerConfig()
        config = config.replace(host=args.host, port=args.port)
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.peer in NCHAN_PEERS:
        from peers import nchan

        return nchan.serve(args.peer, config.host, config.port)
    logs.configure(args.log_format, args.log_level)
    server: Server
    if args.peer in WS_PEERS:
        from peers.bare_ws import BareWebSocketPeer
        from peers.picows_peer import PicowsPeer

        kind = BareWebSocketPeer if args.peer == "bare-ws" else PicowsPeer
        bare = kind(config.host, config.port, config.limits)
        publish = uvicorn_config(bare.app, config.replace(port=0))
        server = Server(publish, bare.stop, bare.ready_fields)
    else:
        from peers.socketio import SocketIOPeer

        peer = SocketIOPeer(args.peer, args.admin_token, config.limits, args.ping_interval)
        fields = {"transport": args.peer, "peer": "python-socketio"}
        server = Server(uvicorn_config(peer.app, config), peer.stop, lambda url: fields)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
