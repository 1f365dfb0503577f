"""How the orchestrator and its worker processes talk: one JSON object per line.

Workers write events on stdout and read commands on stdin; anything else they print goes to
stderr. Keeping it to lines of JSON makes every exchange inspectable by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
from typing import Any


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def commands() -> asyncio.StreamReader:
    """stdin as an asyncio stream of command lines."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def raise_open_files_limit() -> int:
    """Lift the soft open-files limit to the hard one: a connection is a file descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def use_fast_loop() -> str:
    """uvloop when installed (as uvicorn itself uses), else asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def pin(cpus: set[int] | None) -> list[int]:
    if cpus:
        os.sched_setaffinity(0, cpus)
    return sorted(os.sched_getaffinity(0))
