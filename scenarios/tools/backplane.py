"""How much the Redis backplane itself can carry: the bound of a cluster's publish rate.

    python -m scenarios.tools.backplane [--events 20000] [--nodes 2] [--concurrency 8]

Starts a throwaway redis-server, attaches `--nodes` pattern subscribers (what each server node
holds), then publishes `--events` events through the same Lua script the Redis broker uses,
`--concurrency` at a time, and reports events per second and redis-server CPU per event (from
/proc). Every figure is from this run on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import redis.asyncio as aioredis

from core import Limits
from processes.services import RedisServer, find_binary
from scenarios.measure import sample_process
from servers.redis_broker import RedisBroker


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    binary = find_binary("redis-server")
    if binary is None:
        raise SystemExit(
            "error: expected redis-server on this machine: apt-get install redis-server"
        )
    with RedisServer(binary) as server:
        if args.cpu is not None:
            os.sched_setaffinity(server.pid, {args.cpu})
        brokers = [RedisBroker(server.url, Limits()) for _ in range(args.nodes)]
        for broker in brokers:
            await broker.start()
        publisher = RedisBroker(server.url, Limits())
        data = {"seq": 0, "pad": "x" * 60}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(args.events):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                await publisher.publish("bench", data)

        before = sample_process(server.pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        after = sample_process(server.pid)
        client = aioredis.Redis.from_url(server.url)
        length = await client.xlen("rtbench:{default:bench}:buf")
        await client.aclose()
        for broker in [*brokers, publisher]:
            await broker.close()
    cpu = (after.cpu_seconds - before.cpu_seconds) if before and after else None
    return {
        "events": args.events,
        "nodes_subscribed": args.nodes,
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 3),
        "events_per_second": round(args.events / elapsed),
        "redis_cpu_us_per_event": round(cpu * 1e6 / args.events, 1) if cpu is not None else None,
        "redis_cpu_share": round(cpu / elapsed, 2) if cpu is not None else None,
        "stream_length": length,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m scenarios.tools.backplane", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--nodes", type=int, default=2, help="pattern subscribers (server nodes)")
    p.add_argument("--concurrency", type=int, default=8, help="publishes in flight")
    p.add_argument("--cpu", type=int, help="pin redis-server to this CPU")
    args = p.parse_args()
    print(json.dumps(asyncio.run(measure(args)), indent=2))


if __name__ == "__main__":
    main()
