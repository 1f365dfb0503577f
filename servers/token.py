"""`python -m servers.token`: mint a token for a server's [auth] settings (tests, demos, curl).

    python -m servers.token --config examples/secure.toml --sub alice \\
        --subscribe 'lobby' --subscribe 'chat-*' --publish 'chat-*' --ttl 3600
"""

from __future__ import annotations

import argparse
import sys

from core import ConfigError, ServerConfig
from core.auth import mint
from core.config import DEFAULT_NAMESPACE


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m servers.token",
        description="Print a JWT for the [auth] section of a server's config file (HS* only: "
        "for RS*/ES* sign with your private key, see --key).",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the server's TOML file")
    p.add_argument("--sub", required=True, help="subject: who the token is for")
    p.add_argument("--subscribe", action="append", default=[], metavar="PATTERN",
                   help="room pattern it may subscribe to (repeatable, like chat-*)")  # fmt: skip
    p.add_argument("--publish", action="append", default=[], metavar="PATTERN",
                   help="room pattern it may publish in (repeatable)")  # fmt: skip
    p.add_argument("--namespace", action="append", default=[], metavar="PATTERN",
                   help="namespaces it may use (repeatable; default: the default namespace "
                        "only; '*' for every one)")  # fmt: skip
    p.add_argument("--ttl", type=float, default=3600.0, help="seconds until it expires")
    p.add_argument("--key", metavar="PEM", help="private key file for RS*/ES*/PS* algorithms")
    args = p.parse_args(argv)
    try:
        config = ServerConfig.load(args.config)
        key = open(args.key, "rb").read() if args.key else None  # noqa: SIM115
        if key is None:
            config.auth.check_usable()
    except (ConfigError, OSError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    print(
        mint(
            config.auth,
            args.sub,
            subscribe=args.subscribe,
            publish=args.publish,
            namespaces=args.namespace or [DEFAULT_NAMESPACE],
            ttl_seconds=args.ttl,
            key=key,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
