"""Run on a host of a test topology: subscribe to a server on another host, publish `count`
events through it, and print what arrived as one JSON line.

    python tests/netprobe.py TRANSPORT URL COUNT
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from clients.aio import Publisher, subscribe
from core import Event


async def main(transport: str, url: str, count: int) -> None:
    room = f"net-{uuid.uuid4().hex[:8]}"
    received: list[int] = []
    async with subscribe(transport, url, room, after=0) as subscriber, Publisher(url) as publisher:

        async def read() -> None:
            async for item in subscriber:
                if isinstance(item, Event):
                    received.append(item.id)
                    if len(received) >= count:
                        return

        reading = asyncio.create_task(read())
        for index in range(count):
            await publisher.publish(room, {"index": index, "pad": "x" * 200})
        await asyncio.wait_for(reading, 60)
    print(json.dumps({"received": received}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
