"""A server of another framework that speaks rtbench's wire contract (`docs/protocol.md`): the
base contract in aiohttp, in one file, as you might write it in an afternoon. rtbench drives
it like its own servers:

    python examples/aiohttp_server.py --port 8080 &
    rtbench bench --target http://127.0.0.1:8080 --target-pid $! --fail-if 'lost>0'

Rooms, ids gap-free per room, a resume buffer of the newest 1,024 events per room, and the
three subscribe routes. It leaves out what the contract marks as extensions and what a
production server adds (limits, auth, metrics): see `servers/` for those.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
from typing import Any

from aiohttp import WSMsgType, web

ROOM = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
BUFFERED = 1024


class Room:
    """A room's events: the newest `BUFFERED` for resume, and a condition its readers wait on."""

    def __init__(self) -> None:
        self.last_id = 0
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=BUFFERED)
        self.changed = asyncio.Condition()

    async def publish(self, name: str, data: Any) -> int:
        async with self.changed:
            self.last_id += 1
            self.events.append({"id": self.last_id, "room": name, "data": data})
            self.changed.notify_all()
        return self.last_id

    def after(self, after: int) -> tuple[dict[str, int] | None, list[dict[str, Any]]]:
        """The gap notice (when events after `after` are gone) and the events buffered after it."""
        first = self.events[0]["id"] if self.events else self.last_id + 1
        gap = {"from": after + 1, "to": first - 1} if after + 1 < first else None
        return gap, [event for event in self.events if event["id"] > after]

    async def wait_past(self, after: int, seconds: float) -> None:
        async with asyncio.timeout(seconds), self.changed:
            await self.changed.wait_for(lambda: self.last_id > after)


ROOMS: dict[str, Room] = collections.defaultdict(Room)


def room_of(request: web.Request) -> tuple[str, Room]:
    name = request.match_info["room"]
    if not ROOM.match(name):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"expected a room name, got {name!r}"}))
    return name, ROOMS[name]


def after_of(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return max(0, int(value))
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"expected an id, got {value!r}"})
        ) from None


async def publish(request: web.Request) -> web.Response:
    name, room = room_of(request)
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=json.dumps({"error": "expected application/json"}))
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPUnprocessableEntity(
            text=json.dumps({"error": "expected a JSON body"})
        ) from None
    if not isinstance(body, dict) or "data" not in body:
        raise web.HTTPUnprocessableEntity(text=json.dumps({"error": "expected a data key"}))
    return web.json_response({"id": await room.publish(name, body["data"])}, status=201)


async def poll(request: web.Request) -> web.Response:
    _, room = room_of(request)
    if "after" not in request.query:
        return web.json_response({"events": [], "next": room.last_id})
    after = after_of(request.query["after"], 0)
    timeout = min(60.0, float(request.query.get("timeout", 25)))
    if room.last_id <= after:
        try:
            await room.wait_past(after, timeout)
        except TimeoutError:
            return web.json_response({"events": [], "next": after})
    gap, events = room.after(after)
    events = events[:256]
    answer: dict[str, Any] = {"events": events, "next": events[-1]["id"] if events else after}
    if gap:
        answer["gap"] = gap
    return web.json_response(answer)


async def sse(request: web.Request) -> web.StreamResponse:
    _, room = room_of(request)
    after = after_of(request.headers.get("Last-Event-ID", request.query.get("after")),
                     room.last_id)  # fmt: skip
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})  # fmt: skip
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    while True:
        gap, events = room.after(after)
        if gap:
            await response.write(f"event: gap\ndata: {json.dumps({'gap': gap})}\n\n".encode())
        for event in events:
            await response.write(f"id: {event['id']}\ndata: {json.dumps(event)}\n\n".encode())
            after = event["id"]
        try:
            await room.wait_past(after, 15)
        except TimeoutError:
            await response.write(b": ping\n\n")


async def ws(request: web.Request) -> web.WebSocketResponse:
    name, room = room_of(request)
    after = after_of(request.query.get("after"), room.last_id)
    socket = web.WebSocketResponse()
    await socket.prepare(request)

    async def send() -> None:
        nonlocal after
        while True:
            gap, events = room.after(after)
            if gap:
                await socket.send_str(json.dumps({"gap": gap}))
            for event in events:
                await socket.send_str(json.dumps(event))
                after = event["id"]
            await room.wait_past(after, 3600)

    sending = asyncio.create_task(send())
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                op = json.loads(message.data)
            except ValueError:
                await socket.send_str(json.dumps({"op": "error", "error": "expected JSON"}))
                continue
            if isinstance(op, dict) and op.get("op") == "publish":
                event_id = await room.publish(name, op.get("data"))
                await socket.send_str(json.dumps({"op": "ack", "ack": op.get("ack"),
                                                  "id": event_id}))  # fmt: skip
    finally:
        sending.cancel()
    return socket


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def app() -> web.Application:
    made = web.Application()
    made.router.add_post("/rooms/{room}/events", publish)
    made.router.add_get("/rooms/{room}/poll", poll)
    made.router.add_get("/rooms/{room}/sse", sse)
    made.router.add_get("/rooms/{room}/ws", ws)
    made.router.add_get("/healthz", healthz)
    return made


async def serve(host: str, port: int) -> None:
    """Serve until cancelled; prints the URL it listens on (with `--port 0`, the port it got)."""
    runner = web.AppRunner(app())
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    print(f"listening on http://{bound[0]}:{bound[1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--host", default="127.0.0.1")
    options.add_argument("--port", type=int, default=8080, help="0: any free port")
    given = options.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(given.host, given.port))
