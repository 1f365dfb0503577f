"""What each protocol costs on the wire besides the payload: handshake, per event, per ping.

    python -m scenarios.tools.overhead [--events 50] [--payload-bytes 90]

One subscriber per transport (ours and the reference peers), bytes read from the kernel's
TCP counters (TCP_INFO) of its socket: until it is ready (the handshake: HTTP upgrade,
Engine.IO open and Socket.IO connect, or the first poll), then per event over `--events`
events, then per Engine.IO ping (the Socket.IO server pings every second here instead of 25 s,
so the count takes seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from clients.aio.adapters import PROBES
from clients.aio.probe import Probe, Recorder, tcp_bytes
from clients.stamped import payload
from core.urls import events_path
from peers import PEERS
from processes.server import ServerProcess
from record import TRANSPORTS


def counters(probe: Probe) -> tuple[int, int]:
    assert probe.sock is not None
    counted = tcp_bytes(probe.sock)
    return counted if counted is not None else (probe.bytes_out, probe.bytes_in)


async def measure(transport: str, events: int, payload_bytes: int) -> dict[str, Any]:
    if transport in PEERS:
        extra = ["--ping-interval", "1"] if transport.startswith("socketio") else []
        server = ServerProcess(transport, module="peers", extra_args=extra)
    else:
        server = ServerProcess(transport)
    room = f"overhead-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(server.start)
    try:
        probe = PROBES[transport](server.url, room, Recorder())
        await asyncio.wait_for(probe.open(), 20)
        await asyncio.sleep(0.2)  # a long poll's first request is sent; acks have landed
        up0, down0 = counters(probe)
        async with httpx.AsyncClient(base_url=server.publish_url) as client:
            for n in range(events):
                body = payload(n, time.time_ns(), payload_bytes)
                await client.post(
                    events_path(room),
                    content=body,
                    headers={"content-type": "application/json"},
                )
                await asyncio.sleep(0.02)  # one event per long-poll answer, not batches
            for _ in range(250):
                if probe.tally.last_id >= events:
                    break
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        up1, down1 = counters(probe)
        row: dict[str, Any] = {
            "transport": transport,
            "handshake_up": up0,
            "handshake_down": down0,
            "per_event_up": round((up1 - up0) / events, 1),
            "per_event_down": round((down1 - down0) / events, 1),
            "delivered": probe.tally.delivered,
        }
        if transport.startswith("socketio"):
            pings = getattr(probe, "pings", 0)
            await asyncio.sleep(3.3)
            up2, down2 = counters(probe)
            seen = getattr(probe, "pings", 0) - pings
            if seen:
                row["per_ping_up"] = round((up2 - up1) / seen, 1)
                row["per_ping_down"] = round((down2 - down1) / seen, 1)
        probe.close()
        return row
    finally:
        await asyncio.to_thread(server.stop)


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    return [await measure(t, args.events, args.payload_bytes) for t in args.transports]


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m scenarios.tools.overhead", description=__doc__)
    p.add_argument("--events", type=int, default=50)
    p.add_argument("--payload-bytes", type=int, default=90)
    p.add_argument(
        "--transports",
        type=lambda text: text.split(","),
        default=[*TRANSPORTS, *PEERS],
        help=f"comma-separated, among {','.join((*TRANSPORTS, *PEERS))} (default: all)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args()
    unknown = sorted(set(args.transports) - set(PROBES))
    if unknown:
        p.error(f"expected transports among {', '.join(PROBES)}, got {', '.join(unknown)}")
    rows = asyncio.run(amain(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"bytes on the wire, {args.payload_bytes}-byte payload, TCP payload (headers included)")
    print(f"{'transport':18} {'handshake up/down':>18} {'per event up/down':>18} {'per ping':>14}")
    for r in rows:
        ping = f"{r['per_ping_up']:g}/{r['per_ping_down']:g}" if "per_ping_up" in r else "–"
        print(
            f"{r['transport']:18} {r['handshake_up']:>8}/{r['handshake_down']:<9} "
            f"{r['per_event_up']:>8g}/{r['per_event_down']:<9g} {ping:>14}"
        )


if __name__ == "__main__":
    main()
