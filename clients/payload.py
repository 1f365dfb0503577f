"""What the measuring clients publish: data that carries its own schedule."""

from __future__ import annotations

import base64
import os

from core.events import dump_json


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
