"""The sans-I/O event core shared by every rtbench server and client.

No sockets, no web framework: rooms, ids, the resume buffer, bounded subscriptions, fan-out,
limits, counters and the wire codecs of each transport.
"""

from core.broker import Broker, MemoryBroker
from core.buffer import Backlog, ResumeBuffer
from core.config import DEFAULT_NAMESPACE, Auth, Heartbeat, Limits, Namespace, ServerConfig
from core.counters import Stats
from core.errors import (
    ConfigError,
    Forbidden,
    InvalidParameter,
    InvalidPayload,
    InvalidRoom,
    PayloadTooLarge,
    ProtocolError,
    RateLimited,
    RequestTimeout,
    RoomLimitReached,
    RtbenchError,
    TooManyConnections,
    Unauthorized,
    UnknownNamespace,
    UnsupportedMediaType,
)
from core.events import JSON, Delivery, Event, Gap, Item, Reply
from core.rooms import validate_room
from core.subscription import CloseReason, Subscription

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_NAMESPACE",
    "JSON",
    "Auth",
    "Backlog",
    "Broker",
    "CloseReason",
    "ConfigError",
    "Delivery",
    "Event",
    "Forbidden",
    "Gap",
    "Heartbeat",
    "InvalidParameter",
    "InvalidPayload",
    "InvalidRoom",
    "Item",
    "Limits",
    "MemoryBroker",
    "Namespace",
    "PayloadTooLarge",
    "ProtocolError",
    "RateLimited",
    "Reply",
    "RequestTimeout",
    "ResumeBuffer",
    "RoomLimitReached",
    "RtbenchError",
    "ServerConfig",
    "Stats",
    "Subscription",
    "TooManyConnections",
    "Unauthorized",
    "UnknownNamespace",
    "UnsupportedMediaType",
    "__version__",
    "validate_room",
]
