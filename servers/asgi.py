"""Small ASGI helpers the transports share: errors, query parameters, disconnect watching."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from core import InvalidParameter, RtbenchError, validate_room
from core.errors import ProtocolError
from core.events import parse_event_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def error_body(exc: RtbenchError) -> bytes:
    return json.dumps({"error": exc.message, "kind": exc.kind}).encode()


async def send_json(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def wait_disconnect(receive: Receive) -> None:
    """Return when the client goes away (what an HTTP request body has left is discarded)."""
    while (await receive())["type"] != "http.disconnect":
        pass


QUERY = "rtbench.query"
"""Where `query` keeps a request's parsed query in its scope: the gate (a token may come as
`?token=`) and the endpoint both read it, once per poll."""


def query(scope: Scope) -> dict[str, str]:
    parsed: dict[str, str] | None = scope.get(QUERY)
    if parsed is not None:
        return parsed
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        parsed = {}
    elif b"%" not in raw and b"+" not in raw:  # the common case: nothing to unquote
        pairs = (item.partition(b"=") for item in raw.split(b"&") if item)
        parsed = {k.decode("latin-1"): v.decode("latin-1") for k, _, v in pairs}
    else:
        text = raw.decode("latin-1")
        parsed = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    scope[QUERY] = parsed
    return parsed


async def send_refusal(scope: Scope, send: Send, exc: RtbenchError) -> None:
    """Refuse a request with its error: an HTTP answer, or, for a WebSocket, an HTTP answer
    before the upgrade when the server supports it, else a close (which it answers 403)."""
    if scope["type"] != "websocket":
        await send_json(send, exc.status_code, error_body(exc))
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": exc.status_code,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": error_body(exc)})
    else:
        await send({"type": "websocket.close", "code": exc.close_code})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def room_of(scope: Scope) -> str:
    return validate_room(scope["path_params"]["room"])


def parse_after(value: str | None, source: str = "after") -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_event_id(value, source)
    except ProtocolError as exc:
        raise InvalidParameter(exc.message) from None


def parse_seconds(value: str | None, default: float, maximum: float, name: str) -> float:
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= maximum:
        raise InvalidParameter(
            f"expected {name} in seconds from 0 to {maximum:g}, got {value[:40]!r}"
        )
    return seconds


def address_of(scope: Scope) -> str:
    """The client's address as the server saw it (per-address connection caps count it)."""
    client = scope.get("client")
    return str(client[0]) if client else ""
