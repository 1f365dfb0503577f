"""WebSocket subscriber, with publish/join/leave over the same socket.

A reader task receives every frame: events and gap notices go to the iteration queue, replies
resolve the operation that asked for them (matched by `ack`), other replies are kept in
`replies` so callers can inspect error frames.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from clients.aio.base import Subscriber, SubscriberClosed
from clients.aio.errors import RequestRefused
from core import JSON, Delivery
from core.wire import ws


class OperationFailed(Exception):
    """The server answered an operation with an error frame."""

    def __init__(self, reply: dict[str, JSON]) -> None:
        super().__init__(reply.get("error"))
        self.reply = reply


class WSSubscriber(Subscriber):
    transport = "ws"

    def __init__(
        self,
        base_url: str,
        room: str,
        after: int | None = None,
        *,
        compression: bool = False,
        max_size: int = 16 * 1024 * 1024,
        queue_size: int = 100_000,
        token: str | None = None,
    ) -> None:
        super().__init__(base_url, room, after, token=token)
        self.compression = compression
        self.max_size = max_size
        self.socket: ClientConnection | None = None
        self.replies: asyncio.Queue[ws.ServerReply] = asyncio.Queue()
        self._deliveries: asyncio.Queue[Delivery | SubscriberClosed] = asyncio.Queue(queue_size)
        self._waiting: dict[int, asyncio.Future[dict[str, JSON]]] = {}
        self._acks = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        url = self.url("ws").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        if self.after is not None:
            url += f"?after={self.after}"
        try:
            self.socket = await connect(
                url,
                compression="deflate" if self.compression else None,
                max_size=self.max_size,
                open_timeout=10,
                additional_headers=self.headers,
            )
        except InvalidStatus as exc:  # the handshake was refused with an HTTP status
            body = exc.response.body.decode(errors="replace")
            raise RequestRefused(exc.response.status_code, body) from None
        self._reader = asyncio.create_task(self._read(self.socket))

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for frame in socket:
                if isinstance(frame, bytes):  # a binary event
                    await self._deliveries.put(ws.parse_binary_event(frame))
                    continue
                item = ws.parse_server_frame(frame)
                if isinstance(item, ws.ServerReply):
                    ack = item.body.get("ack")
                    waiter = self._waiting.pop(ack, None) if isinstance(ack, int) else None
                    if waiter is not None and not waiter.done():
                        waiter.set_result(item.body)
                    else:
                        self.replies.put_nowait(item)
                else:
                    await self._deliveries.put(item)
        except ConnectionClosed:
            pass
        finally:
            code = socket.close_code
            reason = socket.close_reason or ""
            ended = SubscriberClosed(f"websocket closed {code} {reason}".rstrip())
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_exception(ended)
            self._waiting.clear()
            await self._deliveries.put(ended)

    @property
    def close_code(self) -> int | None:
        return self.socket.close_code if self.socket is not None else None

    async def receive_batch(self) -> list[Delivery]:
        first = await self._deliveries.get()
        items = [first]
        while not self._deliveries.empty():
            items.append(self._deliveries.get_nowait())
        batch: list[Delivery] = []
        for item in items:
            if isinstance(item, SubscriberClosed):
                self._pending.extend(batch)  # deliver what came before the close first
                if batch:
                    self._deliveries.put_nowait(item)
                    return []
                raise item
            batch.append(item)
        return batch

    async def request(self, op: ws.ClientOp, attachment: bytes | None = None) -> dict[str, JSON]:
        """Send an operation (and the binary frame it announces) and wait for its reply; raise
        OperationFailed on an error frame."""
        if self.socket is None:
            raise SubscriberClosed("not connected")
        ack = next(self._acks)
        op = dataclasses.replace(op, ack=ack)
        waiter: asyncio.Future[dict[str, JSON]] = asyncio.get_running_loop().create_future()
        self._waiting[ack] = waiter
        await self.socket.send(ws.encode_client_op(op))
        if attachment is not None:
            await self.socket.send(attachment)
        reply = await waiter
        if reply.get("op") == "error":
            raise OperationFailed(reply)
        return reply

    async def publish(
        self, data: JSON | bytes, *, room: str | None = None, except_self: bool = False
    ) -> int:
        """Publish JSON data, or bytes as a binary event (`publish_binary` + a binary frame)."""
        if isinstance(data, bytes):
            reply = await self.request(ws.PublishBinary(room, except_self), data)
        else:
            reply = await self.request(ws.Publish(data, room, except_self))
        event_id = reply["id"]
        assert isinstance(event_id, int)
        return event_id

    async def join(self, room: str, after: int | None = None) -> dict[str, JSON]:
        return await self.request(ws.Join(room, after))

    async def leave(self, room: str) -> dict[str, JSON]:
        return await self.request(ws.Leave(room))

    async def send_raw(self, frame: str | bytes) -> None:
        """Send any frame as is (tests of malformed input)."""
        if self.socket is None:
            raise SubscriberClosed("not connected")
        await self.socket.send(frame)

    async def next_reply(self) -> dict[str, JSON]:
        """The next reply that answered no pending operation (error frames, mostly)."""
        async with asyncio.timeout(10):
            reply = await self.replies.get()
        return reply.body

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
