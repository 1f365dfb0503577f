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


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound a server enforces. Defaults suit `make bench`; tests shrink them."""

    max_message_bytes: int = 64 * KiB
    """Largest publish body (HTTP) or client frame (WebSocket)."""
    buffer_events: int = 1024
    """Resume buffer: newest events kept per room."""
    buffer_bytes: int = 4 * MiB
    """Resume buffer: encoded bytes kept per room."""
    queue_events: int = 4096
    """Per-connection queue; a subscriber further behind than this is dropped."""
    max_rooms: int = 10_000
    poll_batch: int = 256
    """Most events one long-poll response carries."""
    poll_timeout_default: float = 25.0
    poll_timeout_max: float = 60.0
    ws_max_errors: int = 10
    """Malformed frames one WebSocket may send before it is closed with 1008."""

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


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    broker: str = "memory"
    compression: bool = False
    ssl_certfile: str = ""
    """PEM certificate chain: with `ssl_keyfile`, serve HTTPS and WSS."""
    ssl_keyfile: str = ""
    """permessage-deflate on WebSocket; off by default to compare like with like."""
    log_format: str = "json"
    log_level: str = "info"
    shutdown_grace_seconds: float = 1.0
    limits: Limits = field(default_factory=Limits)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)

    def __post_init__(self) -> None:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ConfigError(
                "expected both ssl_certfile and ssl_keyfile (or neither), "
                f"got certfile={self.ssl_certfile!r} keyfile={self.ssl_keyfile!r}"
            )
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"expected log_format 'json' or 'text', got {self.log_format!r}")

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Self:
        """Build from a parsed TOML document: top-level server keys, [limits], [heartbeat]."""
        sections = {"limits": Limits, "heartbeat": Heartbeat}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in sections:
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
        default = getattr(cls(), name) if name not in ("limits", "heartbeat") else None
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
    return isinstance(value, type(default))
