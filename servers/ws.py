"""WebSocket: `GET /rooms/{room}/ws?after=<id>`, events down, operations up.

The reader handles client operations (publish with ack, join, leave) while the connection's
writer sends events; replies go through the same bounded queue as events, so a client that
floods without reading is dropped like any slow subscriber.
"""

from __future__ import annotations

import logging
import time

from starlette.routing import BaseRoute, WebSocketRoute

from core import (
    JSON,
    CloseReason,
    Item,
    ProtocolError,
    RateLimited,
    Reply,
    RtbenchError,
    Unauthorized,
)
from core.auth import Grant
from core.decoding import check_size
from core.ratelimit import TokenBucket
from core.urls import SUBSCRIBE
from core.wire import ws
from servers.asgi import (
    Receive,
    Scope,
    Send,
    parse_after,
    query,
    room_of,
)
from servers.connection import Connection
from servers.hub import Hub, Space
from servers.transport import Endpoint, Transport, client_address, room_paths

log = logging.getLogger("rtbench.server")

CLOSE_CODES = {
    CloseReason.SHUTDOWN: (1001, "server shutting down"),
    CloseReason.SLOW: (1013, "subscriber too slow; resume with after=<last id>"),
    CloseReason.STALLED: (1013, "subscriber took no bytes; resume with after=<last id>"),
    CloseReason.POLICY: (1008, "too many malformed frames"),
    CloseReason.EXPIRED: (1008, "token expired"),
    CloseReason.RATE_LIMITED: (1008, "message rate limit exceeded"),
    CloseReason.MAX_AGE: (1001, "stream max age reached; resume with after=<last id>"),
}


class WebSocketEndpoint(Endpoint):
    transport = "ws"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        try:
            room = room_of(scope)
            after = parse_after(query(scope).get("after"))
            space, grant = self.admit(scope, room)
        except RtbenchError as exc:
            await self.refuse(send, scope, exc)
            return
        connection = self.stream(space, grant, send, room, scope)
        subscription = connection.subscription
        try:
            await space.broker.subscribe(subscription, room, after)
            await connection.open()
        except RtbenchError as exc:
            await self.refuse(send, scope, exc)
            return
        session = Session(space, grant, client_address(scope), room)

        async def write(items: list[Item]) -> None:
            for item in items:
                frame = item.text if isinstance(item, Reply) else ws.encode(item)
                if isinstance(frame, str):
                    await connection.send({"type": "websocket.send", "text": frame})
                else:
                    await connection.send({"type": "websocket.send", "bytes": frame})
            self.count_delivered(items)

        async def pump() -> None:
            await connection.send({"type": "websocket.accept"})
            self.go_direct(scope, subscription, ws.frame)
            await connection.pump(write)

        reason = await connection.run(pump, lambda: self.read(connection, session, receive))
        if connection.farewell is not None:
            await connection.send_final({"type": "websocket.send", "text": connection.farewell})
        if reason in CLOSE_CODES:
            code, text = CLOSE_CODES[reason]
            await connection.send_final({"type": "websocket.close", "code": code, "reason": text})

    async def read(self, connection: Connection, session: Session, receive: Receive) -> None:
        """Handle client frames until the client leaves, abuses the protocol, floods or its
        token expires."""
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
                session.check_message_rate()
                reply = await self.frame(text, message.get("bytes"), connection, session)
            except (Unauthorized, RateLimited) as exc:
                # An expired token or a flood ends the connection, after saying why.
                limited = "ws_message" if isinstance(exc, RateLimited) else None
                self.hub.refused(exc, transport=self.transport, conn=subscription.id,
                                 limited=limited)  # fmt: skip
                connection.farewell = ws.encode_reply("error", exc.ack, error=exc.message,
                                                      kind=exc.kind)  # fmt: skip
                subscription.close(CloseReason.RATE_LIMITED if limited else CloseReason.EXPIRED)
                return
            except RtbenchError as exc:
                errors += 1
                self.hub.refused(exc, transport=self.transport, conn=subscription.id)
                reply = ws.encode_reply("error", exc.ack, error=exc.message, kind=exc.kind)
                if errors > self.hub.limits.ws_max_errors:
                    subscription.close(CloseReason.POLICY)
                    return
            if reply is not None:
                subscription.offer(Reply(reply))

    async def frame(
        self, text: str | None, data: bytes | None, connection: Connection, session: Session
    ) -> str | None:
        """One client frame: an operation in a text frame, or the binary frame a
        `publish_binary` announced."""
        announced, session.announced = session.announced, None
        limit = session.space.max_message_bytes
        if text is None:
            if announced is None:
                raise ProtocolError(
                    "expected a JSON text frame, got a binary frame not announced by "
                    '{"op": "publish_binary"}'
                )
            check_size(len(data or b""), limit, "binary frame")
            return await self.publish(announced, data or b"", connection, session)
        if announced is not None:
            exc = ProtocolError(
                "expected the binary frame announced by publish_binary, got a text frame"
            )
            exc.ack = announced.ack
            raise exc
        check_size(len(text), limit, "frame")
        return await self.handle(ws.parse_client_frame(text), connection, session)

    async def publish(
        self,
        op: ws.Publish | ws.PublishBinary,
        data: JSON | bytes,
        connection: Connection,
        session: Session,
    ) -> str:
        room = op.room or session.room
        session.check("publish", room, op.ack)
        session.space.check_publish_rate(session.client)
        exclude = connection.subscription if op.except_self else None
        event = await session.space.publish(room, data, exclude)
        return ws.encode_reply("ack", op.ack, id=event.id)

    async def handle(self, op: ws.ClientOp, connection: Connection, session: Session) -> str | None:
        subscription, space = connection.subscription, session.space
        if isinstance(op, ws.Publish):
            return await self.publish(op, op.data, connection, session)
        if isinstance(op, ws.PublishBinary):
            session.announced = op
            return None  # the ack follows the binary frame
        if isinstance(op, ws.Join):
            session.check("subscribe", op.room, op.ack)
            if op.room in subscription.rooms:
                raise ProtocolError(
                    f"expected a room this socket has not joined, got {op.room!r}, joined "
                    "already: leave it first to replay it",
                    ack=op.ack,
                )
            most = self.hub.limits.max_rooms_per_connection
            if len(subscription.rooms) >= most:
                raise ProtocolError(
                    f"expected at most {most} rooms joined by one socket, got a join past them",
                    ack=op.ack,
                )
            last_id = await space.broker.subscribe(subscription, op.room, op.after)
            return ws.encode_reply("joined", op.ack, room=op.room, last_id=last_id)
        await space.broker.unsubscribe(subscription, op.room)
        return ws.encode_reply("left", op.ack, room=op.room)


class Session:
    """What one WebSocket carries between frames: its namespace, token and message bucket."""

    def __init__(self, space: Space, grant: Grant, client: str, room: str) -> None:
        self.space = space
        self.grant = grant
        self.client = client
        self.room = room
        self.announced: ws.PublishBinary | None = None
        """A `publish_binary` waiting for its binary frame."""
        policy = space.policy
        self.bucket = (
            TokenBucket(policy.ws_messages_per_second, policy.ws_burst, time.monotonic())
            if policy.ws_messages_per_second
            else None
        )

    def check_message_rate(self) -> None:
        if self.bucket is not None:
            self.bucket.check(time.monotonic(), "messages")

    def check(self, action: str, room: str, ack: object) -> None:
        """The token is verified again on every action: rights and expiry."""
        try:
            self.grant.check_alive()
            self.grant.check(action, self.space.name, room)
        except RtbenchError as exc:
            exc.ack = ack
            raise


class WebSocketTransport(Transport):
    name = "ws"

    def routes(self, hub: Hub) -> list[BaseRoute]:
        endpoint = WebSocketEndpoint(hub)
        return [WebSocketRoute(path, endpoint) for path in room_paths(SUBSCRIBE[self.name])]
