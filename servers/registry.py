"""Transports by name, the way uvicorn picks its protocol implementations."""

from __future__ import annotations

from core import ConfigError
from servers.combined import CombinedTransport
from servers.longpoll import LongPollTransport
from servers.sse import SSETransport
from servers.transport import Transport
from servers.ws import WebSocketTransport

TRANSPORT_CLASSES: dict[str, type[Transport]] = {
    "longpoll": LongPollTransport,
    "sse": SSETransport,
    "ws": WebSocketTransport,
    "all": CombinedTransport,
}


def get_transport(name: str) -> Transport:
    try:
        return TRANSPORT_CLASSES[name]()
    except KeyError:
        raise ConfigError(
            f"expected a transport among {', '.join(TRANSPORT_CLASSES)}, got {name!r}"
        ) from None
