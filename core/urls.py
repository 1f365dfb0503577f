"""Where things are: every path of the wire contract, for servers (route templates) and
clients (concrete paths) alike.

The default namespace is served at `/rooms/...`, any other at `/ns/{namespace}/rooms/...`.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

SUBSCRIBE = {"longpoll": "poll", "sse": "sse", "ws": "ws"}
"""The path suffix of each transport's subscribe endpoint."""


def route_templates(suffix: str = "") -> list[str]:
    """Starlette route templates of a room endpoint, in both namespace forms."""
    tail = f"/{suffix}" if suffix else ""
    return [f"/rooms/{{room}}{tail}", f"/ns/{{namespace}}/rooms/{{room}}{tail}"]


def parse_room_path(path: str) -> tuple[str | None, str, str] | None:
    """(namespace, room, suffix) of a path `route_templates(suffix)` matches, the namespace
    None for the default one; None for any other path. What Starlette's templates match,
    without a scan of the route table."""
    if path.startswith("/rooms/"):
        namespace, rest = None, path[7:]
    elif path.startswith("/ns/"):
        namespace, _, rest = path[4:].partition("/")
        if not namespace or not rest.startswith("rooms/"):
            return None
        rest = rest[6:]
    else:
        return None
    room, _, suffix = rest.partition("/")
    if not room or not suffix or "/" in suffix:
        return None
    return namespace, room, suffix


def room_path(room: str, suffix: str = "", namespace: str | None = None) -> str:
    head = f"/ns/{quote(namespace, safe='')}" if namespace else ""
    return f"{head}/rooms/{room}" + (f"/{suffix}" if suffix else "")


def events_path(room: str, namespace: str | None = None) -> str:
    """`POST` here publishes."""
    return room_path(room, "events", namespace)


def subscribe_path(
    transport: str,
    room: str,
    after: int | None = None,
    *,
    timeout: float | None = None,
    namespace: str | None = None,
) -> str:
    """The subscribe request of `transport`: the cursor as `after`, a poll's `timeout`."""
    try:
        suffix = SUBSCRIBE[transport]
    except KeyError:
        known = ", ".join(SUBSCRIBE)
        raise ValueError(f"expected a transport among {known}, got {transport!r}") from None
    query = []
    if after is not None:
        query.append(f"after={after}")
    if timeout is not None:
        query.append(f"timeout={timeout:g}")
    return room_path(room, suffix, namespace) + ("?" + "&".join(query) if query else "")


def redact(url: str) -> str:
    """`url` without its password, for anything a person or a client may read: `/status`,
    logs, error messages. `redis://:secret@host:6379/0` → `redis://:***@host:6379/0`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))
