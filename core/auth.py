"""Tokens at the handshake: a JWT names who the client is and what it may do.

Claims (beyond the registered `sub`, `exp`, `aud`, `iss`):

    "namespaces": ["public", "admin"]   namespaces it may use (default: the default one only)
    "subscribe":  ["lobby", "chat-*"]   room patterns it may subscribe to / join
    "publish":    ["chat-*"]            room patterns it may publish in

Patterns are shell-style (`fnmatch`), matched against the room name. A token is checked once at
the handshake (before a stream starts or an upgrade completes); a WebSocket checks its rights
and expiry again on every `publish` and `join`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import jwt

from core.config import DEFAULT_NAMESPACE, Auth
from core.errors import ConfigError, Forbidden, Unauthorized


def _patterns(claims: dict[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = claims.get(name)
    if value is None:
        return default
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise Unauthorized(
        f"expected claim {name!r} as a list of room patterns, got {value!r:.80}",
        reason="malformed",
    )


@dataclass(frozen=True, slots=True)
class Grant:
    """What one verified token allows."""

    subject: str
    namespaces: tuple[str, ...] = (DEFAULT_NAMESPACE,)
    """A token naming none grants the default namespace only: a namespace of its own (an
    admin one, say) is never opened by a token minted without a thought for it."""
    subscribe: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    expires_at: float | None = None

    def check_alive(self, now: float | None = None) -> None:
        if self.expires_at is not None and (now or time.time()) >= self.expires_at:
            raise Unauthorized("expected an unexpired token, got one that has expired",
                               reason="expired")  # fmt: skip

    def check(self, action: str, namespace: str, room: str) -> None:
        """Raise Forbidden unless the token may `action` ("subscribe"/"publish") in `room`."""
        if not any(p == "*" or fnmatchcase(namespace, p) for p in self.namespaces):
            raise Forbidden(
                f"expected a token granting namespace {namespace!r}, got one for "
                f"{list(self.namespaces)}"
            )
        patterns = self.subscribe if action == "subscribe" else self.publish
        if not any(p == "*" or fnmatchcase(room, p) for p in patterns):
            raise Forbidden(
                f"expected a token allowed to {action} in room {room!r}, got {action} rights "
                f"for {list(patterns) or 'no room'}"
            )


ANONYMOUS = Grant("anonymous", namespaces=("*",), subscribe=("*",), publish=("*",))
"""What a client may do in a namespace that requires no token."""


class TokenVerifier:
    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.key: str | bytes = auth.secret
        if auth.algorithm.startswith(("RS", "ES", "PS")):
            try:
                self.key = Path(auth.public_key_file).read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"expected a readable PEM public key at auth.public_key_file, got {exc}"
                ) from exc

    def verify(self, token: str | None) -> Grant:
        if not token:
            raise Unauthorized(
                "expected a token: Authorization: Bearer <jwt> or ?token=<jwt>, got none",
                reason="missing",
            )
        auth = self.auth
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[auth.algorithm],
                audience=auth.audience or None,
                issuer=auth.issuer or None,
                leeway=auth.leeway_seconds,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("expected an unexpired token, got an expired one",
                               reason="expired") from None  # fmt: skip
        except jwt.InvalidSignatureError:
            raise Unauthorized("expected a token signed with the server's key, got another "
                               "signature", reason="bad_signature") from None  # fmt: skip
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"expected a token for audience {auth.audience!r}, got another",
                               reason="wrong_audience") from None  # fmt: skip
        except jwt.InvalidIssuerError:
            raise Unauthorized(f"expected a token from issuer {auth.issuer!r}, got another",
                               reason="wrong_issuer") from None  # fmt: skip
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"expected a valid JWT, got {exc}", reason="malformed") from None
        return Grant(
            subject=str(claims["sub"]),
            namespaces=_patterns(claims, "namespaces", (DEFAULT_NAMESPACE,)),
            subscribe=_patterns(claims, "subscribe", ()),
            publish=_patterns(claims, "publish", ()),
            expires_at=float(claims["exp"]),
        )


def mint(
    auth: Auth,
    subject: str,
    *,
    subscribe: list[str] | tuple[str, ...] = (),
    publish: list[str] | tuple[str, ...] = (),
    namespaces: list[str] | tuple[str, ...] = (DEFAULT_NAMESPACE,),
    ttl_seconds: float = 3600.0,
    key: str | bytes | None = None,
    now: float | None = None,
) -> str:
    """A token for `subject` (HS* with the configured secret, or with `key`: a private key)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": issued,
        "exp": issued + int(ttl_seconds),
        "namespaces": list(namespaces),
        "subscribe": list(subscribe),
        "publish": list(publish),
    }
    if auth.audience:
        claims["aud"] = auth.audience
    if auth.issuer:
        claims["iss"] = auth.issuer
    return jwt.encode(claims, key if key is not None else auth.secret, algorithm=auth.algorithm)
