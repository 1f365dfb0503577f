"""What the measuring clients publish: data that carries its own schedule."""

from __future__ import annotations

import base64
import os
import struct
from typing import Any

from core.events import dump_json

BINARY_SCHEDULE = struct.Struct(">QQ")
"""The head of a binary payload: `seq` and `t`, as the JSON payload carries them."""


def padding(length: int) -> str:
    """Random base64 text: unlike a run of one letter it does not compress to nothing, so
    compression figures are honest (a worst case for natural-language text)."""
    if length <= 0:
        return ""
    return base64.b64encode(os.urandom(length * 3 // 4 + 3)).decode()[:length]


def payload(seq: int, scheduled_ns: int, size: int) -> bytes:
    """The publish body `{"data": {"seq", "t", "pad"}}` whose `data` JSON is `size` bytes
    long (or as short as it can be). `t` is the scheduled send time (ns) latency counts from."""
    data = {"seq": seq, "t": scheduled_ns, "pad": ""}
    bare = len(dump_json(data))
    data["pad"] = padding(size - bare)
    return dump_json({"data": data})


def binary_payload(seq: int, scheduled_ns: int, size: int) -> bytes:
    """A binary event's data of `size` bytes (at least 16): `seq`, `t`, then random bytes."""
    return BINARY_SCHEDULE.pack(seq, scheduled_ns) + os.urandom(max(0, size - 16))


def schedule_of(data: Any) -> tuple[int, int] | None:
    """(seq, scheduled send time in ns) of a payload either function made, else None."""
    if isinstance(data, bytes):
        return BINARY_SCHEDULE.unpack_from(data) if len(data) >= 16 else None
    try:
        return int(data["seq"]), int(data["t"])
    except (TypeError, KeyError, ValueError):
        return None
