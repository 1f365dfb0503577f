"""WebSocket: `GET /rooms/{room}/ws?after=<id>`, events down, operations up.

The reader handles client operations (publish with ack, join, leave) while the connection's
writer sends events; replies go through the same bounded queue as events, so a client that
floods without reading is dropped like any slow subscriber.
"""

from __future__ import annotations

import logging

from starlette.routing import BaseRoute, WebSocketRoute

from core import CloseReason, Item, Reply, RtbenchError
from core.wire import ws
from servers.asgi import Receive, Scope, Send, error_body, parse_after, query, room_of
from servers.connection import Connection
from servers.hub import Hub
from servers.transport import Endpoint, Transport

log = logging.getLogger("rtbench.server")

CLOSE_CODES = {
    CloseReason.SHUTDOWN: (1001, "server shutting down"),
    CloseReason.SLOW: (1013, "subscriber too slow; resume with after=<last id>"),
    CloseReason.POLICY: (1008, "too many malformed frames"),
}


class WebSocketEndpoint(Endpoint):
    transport = "ws"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            room = room_of(scope)
            after = parse_after(query(scope).get("after"))
        except RtbenchError as exc:
            await self.refuse_handshake(scope, send, exc)
            return
        connection = Connection(hub, send, capacity=hub.limits.queue_events, room=room)
        subscription = connection.subscription
        try:
            await hub.broker.subscribe(subscription, room, after)
        except RtbenchError as exc:
            await self.refuse_handshake(scope, send, exc)
            return

        async def write(items: list[Item]) -> None:
            for item in items:
                text = item.text if isinstance(item, Reply) else ws.encode(item)
                await connection.send({"type": "websocket.send", "text": text})
            self.count_delivered(items)

        async def pump() -> None:
            await connection.send({"type": "websocket.accept"})
            await connection.pump(write)

        reason = await connection.run(pump, lambda: self.read(connection, room, receive))
        if reason in CLOSE_CODES:
            code, text = CLOSE_CODES[reason]
            await connection.send_final({"type": "websocket.close", "code": code, "reason": text})

    async def refuse_handshake(self, scope: Scope, send: Send, exc: RtbenchError) -> None:
        """Refuse before the upgrade: an HTTP error when the server supports it, else 403."""
        self.hub.error(exc.kind, exc.message, transport=self.transport, path=scope.get("path"))
        if "websocket.http.response" in scope.get("extensions", {}):
            body = error_body(exc)
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": exc.status_code,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def read(self, connection: Connection, room: str, receive: Receive) -> None:
        """Handle client frames until the client leaves or abuses the protocol."""
        subscription = connection.subscription
        errors = 0
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            text = message.get("text")
            try:
                if text is None:
                    raise RtbenchError("expected a JSON text frame, got a binary frame")
                reply = await self.handle(ws.parse_client_frame(text), connection, room)
            except RtbenchError as exc:
                errors += 1
                self.hub.error(
                    exc.kind, exc.message, transport=self.transport, conn=subscription.id
                )
                reply = ws.encode_reply("error", exc.ack, error=exc.message, kind=exc.kind)
                if errors > self.hub.limits.ws_max_errors:
                    subscription.close(CloseReason.POLICY)
                    return
            subscription.offer(Reply(reply))

    async def handle(self, op: ws.ClientOp, connection: Connection, room: str) -> str:
        subscription, broker = connection.subscription, self.hub.broker
        if isinstance(op, ws.Publish):
            exclude = subscription if op.except_self else None
            event = await self.hub.publish(op.room or room, op.data, exclude)
            return ws.encode_reply("ack", op.ack, id=event.id)
        if isinstance(op, ws.Join):
            last_id = await broker.subscribe(subscription, op.room, op.after)
            return ws.encode_reply("joined", op.ack, room=op.room, last_id=last_id)
        await broker.unsubscribe(subscription, op.room)
        return ws.encode_reply("left", op.ack, room=op.room)


class WebSocketTransport(Transport):
    name = "ws"

    def routes(self, hub: Hub) -> list[BaseRoute]:
        return [WebSocketRoute("/rooms/{room}/ws", WebSocketEndpoint(hub))]
