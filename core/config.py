"""Server configuration as small immutable objects, loaded from TOML with errors that say what
was expected."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from core.errors import ConfigError

KiB = 1024
MiB = 1024 * KiB
QUEUE_BYTES = 16 * MiB
"""A subscriber queue's bound in bytes: 4,096 events of 64 KiB would otherwise pin 256 MiB for
one reader that stopped reading."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound a server enforces. Defaults suit `make bench`; tests shrink them."""

    max_message_bytes: int = 64 * KiB
    """Largest publish body (HTTP) or client frame (WebSocket)."""
    buffer_events: int = 1024
    """Resume buffer: newest events kept per room."""
    buffer_bytes: int = 1 * MiB
    """Resume buffer: encoded bytes kept per room."""
    memory_budget_bytes: int = 256 * MiB
    """Every room's resume buffer together, all encoded forms counted (core/budget.py): past
    it the oldest events of the least recently used rooms are evicted; a new room that
    eviction cannot make room for is refused with 503."""
    queue_events: int = 4096
    """Per-connection queue; a subscriber further behind than this is dropped."""
    queue_bytes: int = QUEUE_BYTES
    """The same queue in bytes of JSON: a reader that stopped reading large events is dropped
    once this much waits for it, long before `queue_events` of them would."""
    stall_seconds: float = 30.0
    """A subscriber whose write has been blocked this long took no bytes for that long, with
    or without more events coming: it is dropped as stalled, and resumes by id."""
    max_rooms_per_connection: int = 64
    """Rooms one WebSocket may be joined to at once; past it a join gets an error frame."""
    max_rooms: int = 10_000
    room_idle_seconds: float = 3600.0
    """A room nobody watches and nobody published to for this long is reclaimed, its events
    with it (in Redis, its keys expire): names used once cannot hold the room cap for good.
    A client resuming from a reclaimed room gets a reset notice, as after a restart."""
    poll_batch: int = 256
    """Most events one long-poll response carries."""
    poll_timeout_default: float = 25.0
    poll_timeout_max: float = 60.0
    ws_max_errors: int = 10
    """Malformed frames one WebSocket may send before it is closed with 1008."""
    max_json_depth: int = 32
    """Deepest nesting of arrays and objects accepted in published data."""
    max_header_bytes: int = 16 * KiB
    """Largest request head (request line and headers); larger is answered 431."""
    max_connections: int = 15_000
    """Subscriber connections (streams, sockets, held polls) on this server; past it 503, or
    close 1013 on a WebSocket. Below the 20,000 open files a process gets here."""
    max_connections_per_address: int = 1_000
    """The same, per client address: one client cannot take the whole server."""
    header_timeout_seconds: float = 10.0
    """A connection whose request head is not complete this long after it opened (or after
    its previous response) is closed: slow or silent clients cannot hold file descriptors."""
    body_timeout_seconds: float = 10.0
    """A request body not complete this long after its head is answered 408 and its
    connection closed: a Content-Length that never arrives holds nothing for long."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"expected a positive number for limits.{f.name}, got {value!r}")
        if self.poll_timeout_default > self.poll_timeout_max:
            raise ConfigError(
                f"expected limits.poll_timeout_default <= poll_timeout_max "
                f"({self.poll_timeout_max}), got {self.poll_timeout_default}"
            )


@dataclass(frozen=True, slots=True)
class Heartbeat:
    sse_ping_seconds: float = 15.0
    """A `: ping` comment after this much silence keeps proxies from closing idle streams."""
    sse_retry_ms: int = 1000
    """Reconnection delay the server suggests to EventSource."""
    ws_ping_seconds: float = 20.0
    """WebSocket ping after this much time (0: never): keeps proxies from closing idle sockets
    and finds dead peers."""
    sse_proxy_buffering_off: bool = True
    """Send `X-Accel-Buffering: no` with SSE streams, so nginx streams them even where its
    `proxy_buffering` is on (its default)."""
    stream_max_seconds: float = 0.0
    """End every SSE stream and WebSocket after this long (0: never); clients reconnect and
    resume by id. Spreads long-lived connections again over the nodes behind a load balancer
    after a node joins, and shows EventSource's own reconnection."""


HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


@dataclass(frozen=True, slots=True)
class Auth:
    """How tokens are verified; namespaces with `auth = true` require one."""

    algorithm: str = "HS256"
    secret: str = ""
    """HS*: the shared secret (at least 32 bytes)."""
    public_key_file: str = ""
    """RS*/ES*/PS*: PEM file of the public key that verifies tokens."""
    audience: str = "rtbench"
    """Required `aud` claim; empty accepts tokens without one."""
    issuer: str = ""
    """Required `iss` claim, if set."""
    leeway_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.algorithm not in HMAC_ALGORITHMS + KEY_ALGORITHMS:
            raise ConfigError(
                f"expected auth.algorithm among {', '.join(HMAC_ALGORITHMS + KEY_ALGORITHMS)}, "
                f"got {self.algorithm!r}"
            )

    def check_usable(self) -> None:
        if self.algorithm in HMAC_ALGORITHMS and len(self.secret.encode()) < 32:
            raise ConfigError(
                f"expected auth.secret of at least 32 bytes for {self.algorithm}, "
                f"got {len(self.secret.encode())}"
            )
        if self.algorithm in KEY_ALGORITHMS and not self.public_key_file:
            raise ConfigError(f"expected auth.public_key_file for {self.algorithm}, got none")


DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class Namespace:
    """A logical segment (the Socket.IO idea): its own rooms and ids, auth and quotas.

    The default namespace is served at `/rooms/...`; any other at `/ns/{name}/rooms/...`.
    """

    name: str = DEFAULT_NAMESPACE
    auth: bool = False
    """Require a token (see [auth]) to subscribe and publish here."""
    max_connections: int = 100_000
    max_message_bytes: int = 0
    """Largest published data here; 0 means limits.max_message_bytes."""
    publish_per_second: float = 0.0
    """Per client address, HTTP publishes and WebSocket publish frames; 0: no limit."""
    publish_burst: int = 20
    ws_messages_per_second: float = 0.0
    """Per WebSocket connection, any client frame; 0: no limit."""
    ws_burst: int = 20
    data_keys: tuple[str, ...] = ()
    """If set, published data must be an object whose keys are among these."""
    extra_keys: str = "reject"
    """What to do with other keys: 'reject' (422) or 'strip' them before broadcast."""

    def __post_init__(self) -> None:
        from core.rooms import validate_room

        validate_room(self.name)
        object.__setattr__(self, "data_keys", tuple(self.data_keys))
        if self.extra_keys not in ("reject", "strip"):
            raise ConfigError(
                f"expected namespaces.{self.name}.extra_keys 'reject' or 'strip', "
                f"got {self.extra_keys!r}"
            )
        for key in ("max_connections", "publish_burst", "ws_burst"):
            if getattr(self, key) <= 0:
                raise ConfigError(
                    f"expected a positive namespaces.{self.name}.{key}, got {getattr(self, key)}"
                )


FANOUTS = ("direct", "asgi")
"""How events reach subscribers' sockets (`ServerConfig.fanout`)."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    broker: str = "memory"
    compression: bool = False
    """permessage-deflate on WebSocket; off by default to compare like with like."""
    ssl_certfile: str = ""
    """PEM certificate chain: with `ssl_keyfile`, serve HTTPS and WSS."""
    ssl_keyfile: str = ""
    log_format: str = "json"
    log_level: str = "info"
    fanout: str = "direct"
    """`direct`: events go to each ready subscriber's socket as they are published, framed once
    (where the ASGI server offers the write: uvicorn), and a held poll is answered at once;
    `asgi`: through each connection's queue and ASGI `send`, the path every ASGI server has."""
    shutdown_grace_seconds: float = 1.0
    memory_trim_seconds: float = 60.0
    """Every this many seconds, a full garbage collection (which empties the interpreter's free
    lists too), then hand the memory the C allocator keeps after frees back to the system
    (glibc's `malloc_trim`; 0: never). Connections come and go for days: without it, RSS keeps
    the high-water mark of every burst, and a leak hides among it. A closed connection is freed
    by reference counting, so full collections are otherwise rare; the heap built at startup is
    frozen out of them (`gc.freeze`), so one walks only what serving made."""
    limits: Limits = field(default_factory=Limits)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    auth: Auth = field(default_factory=Auth)
    status_token: str = field(default="", repr=False)
    """A bearer token (at least 32 bytes) that opens `/status`'s detailed view from anywhere;
    empty: none. Anyone else gets the summary."""
    status_detail_loopback: bool = True
    """Serve `/status`'s detailed view to a client on this host's loopback that no proxy
    forwarded (no `Forwarded` or `X-Forwarded-For`): the operator's shell, the harness."""
    allowed_origins: tuple[str, ...] = ()
    """Origins allowed to open SSE streams and WebSockets (browsers send `Origin`); empty: any."""
    namespaces: dict[str, Namespace] = field(
        default_factory=lambda: {DEFAULT_NAMESPACE: Namespace()}
    )

    def __post_init__(self) -> None:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ConfigError(
                "expected both ssl_certfile and ssl_keyfile (or neither), "
                f"got certfile={self.ssl_certfile!r} keyfile={self.ssl_keyfile!r}"
            )
        object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
        if DEFAULT_NAMESPACE not in self.namespaces:
            self.namespaces[DEFAULT_NAMESPACE] = Namespace()
        if any(ns.auth for ns in self.namespaces.values()):
            self.auth.check_usable()
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"expected log_format 'json' or 'text', got {self.log_format!r}")
        if self.memory_trim_seconds < 0:
            raise ConfigError(
                f"expected memory_trim_seconds >= 0 (0: never), got {self.memory_trim_seconds!r}"
            )
        if self.status_token and len(self.status_token.encode()) < 32:
            raise ConfigError(
                f"expected status_token of at least 32 bytes, got {len(self.status_token.encode())}"
            )
        if self.fanout not in FANOUTS:
            raise ConfigError(f"expected fanout among {FANOUTS}, got {self.fanout!r}")

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Self:
        """Build from a parsed TOML document: top-level server keys, [limits], [heartbeat],
        [auth] and one [namespaces.NAME] table per namespace."""
        sections = {"limits": Limits, "heartbeat": Heartbeat, "auth": Auth}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "namespaces":
                if not isinstance(value, dict) or not all(
                    isinstance(v, dict) for v in value.values()
                ):
                    raise ConfigError("expected [namespaces.NAME] tables, got something else")
                kwargs[key] = {
                    name: _build(Namespace, {"name": name, **table}, prefix=f"namespaces.{name}.")
                    for name, table in value.items()
                }
            elif key in sections:
                if not isinstance(value, dict):
                    raise ConfigError(f"expected a table [{key}], got {type(value).__name__}")
                kwargs[key] = _build(sections[key], value, prefix=f"{key}.")
            else:
                kwargs[key] = value
        config: Self = _build(cls, kwargs, prefix="")
        return config

    @classmethod
    def load(cls, path: str | Path) -> Self:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"expected a readable TOML file at {path}, got {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"expected valid TOML in {path}, got {exc}") from exc
        return cls.from_mapping(raw)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)


def _build(cls: Any, values: dict[str, Any], prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"expected keys among {', '.join(prefix + n for n in fields)}, "
            f"got unknown {', '.join(prefix + n for n in unknown)}"
        )
    for name, value in values.items():
        nested = ("limits", "heartbeat", "auth", "namespaces")
        default = getattr(cls(), name) if name not in nested else None
        if default is not None and not _same_kind(default, value):
            raise ConfigError(
                f"expected {type(default).__name__} for {prefix}{name}, "
                f"got {type(value).__name__} {value!r}"
            )
    return cls(**values)


def _same_kind(default: object, value: object) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    if isinstance(default, tuple):
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, type(default))
