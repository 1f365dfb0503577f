"""Room names: the one rule every transport and broker shares."""

from __future__ import annotations

import re

from core.errors import InvalidRoom

ROOM_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
ROOM_RULE = "1-64 characters of [A-Za-z0-9_.-]"


def validate_room(name: object) -> str:
    """Return `name` if it is a valid room name, else raise InvalidRoom saying why."""
    if not isinstance(name, str):
        raise InvalidRoom(f"expected a room name of {ROOM_RULE}, got {type(name).__name__}")
    if ROOM_PATTERN.fullmatch(name) is None:
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidRoom(f"expected a room name of {ROOM_RULE}, got {shown!r}")
    return name
