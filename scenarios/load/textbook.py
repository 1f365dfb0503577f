"""The reference for "what a first attempt costs": the three transports as a tutorial writes
them with Starlette, on the same uvicorn with the same standard extras (uvloop, httptools).

    python -m scenarios.load.textbook longpoll --port 0

Routes, `JSONResponse`, an `asyncio.Queue` per waiting poll, per stream and per WebSocket, and
`json.dumps` of every event for every subscriber: no encode-once, no direct write, no limits.
It speaks as much of the wire contract as the lean driver and the publisher use (publish, the
three subscribes with their cursor), so the same driver measures it beside our servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from record import TRANSPORTS

Event = dict[str, Any]
KEPT = 1024
BATCH = 256

history: dict[str, deque[Event]] = defaultdict(lambda: deque(maxlen=KEPT))
listeners: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)


def after(room: str, cursor: int) -> list[Event]:
    return [event for event in history[room] if event["id"] > cursor][:BATCH]


async def publish(request: Request) -> Response:
    room = request.path_params["room"]
    body = await request.json()
    last = history[room][-1]["id"] if history[room] else 0
    event = {"id": last + 1, "room": room, "data": body["data"]}
    history[room].append(event)
    for queue in listeners[room]:
        queue.put_nowait(event)
    return JSONResponse({"id": event["id"]}, status_code=201)


async def poll(request: Request) -> Response:
    room = request.path_params["room"]
    if "after" not in request.query_params:
        last = history[room][-1]["id"] if history[room] else 0
        return JSONResponse({"events": [], "next": last})
    cursor = int(request.query_params["after"])
    events = after(room, cursor)
    if events:
        return JSONResponse({"events": events, "next": events[-1]["id"]})
    queue: asyncio.Queue[Event] = asyncio.Queue()
    listeners[room].add(queue)
    try:
        timeout = float(request.query_params.get("timeout", "25"))
        event = await asyncio.wait_for(queue.get(), timeout)
        return JSONResponse({"events": [event], "next": event["id"]})
    except TimeoutError:
        return JSONResponse({"events": [], "next": cursor})
    finally:
        listeners[room].discard(queue)


async def sse(request: Request) -> Response:
    room = request.path_params["room"]
    cursor = int(request.headers.get("last-event-id") or request.query_params.get("after", "0"))
    queue: asyncio.Queue[Event] = asyncio.Queue()
    listeners[room].add(queue)

    async def stream() -> AsyncIterator[str]:
        try:
            for event in after(room, cursor):
                yield f"id: {event['id']}\ndata: {json.dumps(event)}\n\n"
            while True:
                event = await queue.get()
                yield f"id: {event['id']}\ndata: {json.dumps(event)}\n\n"
        finally:
            listeners[room].discard(queue)

    return StreamingResponse(stream(), media_type="text/event-stream")


async def ws(websocket: WebSocket) -> None:
    room = websocket.path_params["room"]
    await websocket.accept()
    queue: asyncio.Queue[Event] = asyncio.Queue()
    listeners[room].add(queue)
    try:
        for event in after(room, int(websocket.query_params.get("after", "0"))):
            await websocket.send_text(json.dumps(event))
        while True:
            await websocket.send_text(json.dumps(await queue.get()))
    except WebSocketDisconnect:
        pass
    finally:
        listeners[room].discard(queue)


ROUTES = [
    Route("/rooms/{room}/events", publish, methods=["POST"]),
    Route("/rooms/{room}/poll", poll),
    Route("/rooms/{room}/sse", sse),
    WebSocketRoute("/rooms/{room}/ws", ws),
]


def application(ready: dict[str, str]) -> Starlette:
    """The app, saying `ready` on stdout once uvicorn has started it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        print(json.dumps(ready), flush=True)
        yield

    return Starlette(routes=ROUTES, lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.textbook",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("transport", choices=list(TRANSPORTS), help="what the driver subscribes with")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log-format", default="json", help="accepted for symmetry; unused")
    p.add_argument("--log-level", default="warning", help="accepted for symmetry; unused")
    args = p.parse_args()
    # As `uvicorn.run` runs an app (its loop, uvloop; its protocols, httptools), on a socket
    # bound first so that the ready line can name the port; connections wait in the kernel's
    # queue until uvicorn accepts them.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    host, port = sock.getsockname()[:2]
    ready = {"event": "ready", "transport": "textbook", "url": f"http://{host}:{port}"}
    config = uvicorn.Config(application(ready), log_level="warning", backlog=4096)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=config.get_loop_factory()) as runner,
    ):
        runner.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
