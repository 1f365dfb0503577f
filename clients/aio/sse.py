"""SSE subscriber over a raw httpx stream, parsed by the core's incremental SSE parser
(no line iterator: those wait for a full buffer and add latency on small frames)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx

from clients.aio.base import Subscriber, SubscriberClosed
from clients.aio.errors import RequestRefused
from core import Delivery
from core.wire import sse


class SSESubscriber(Subscriber):
    transport = "sse"

    def __init__(
        self,
        base_url: str,
        room: str,
        after: int | None = None,
        *,
        use_last_event_id: bool = True,
        token: str | None = None,
    ) -> None:
        super().__init__(base_url, room, after, token=token)
        self.use_last_event_id = use_last_event_id
        self.parser = sse.SSEParser()
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None))
        self._stack = AsyncExitStack()
        self._chunks: AsyncIterator[bytes] | None = None

    async def connect(self) -> None:
        headers = {"accept": "text/event-stream", **self.headers}
        params = {}
        if self.after is not None:
            if self.use_last_event_id:
                headers["last-event-id"] = str(self.after)
            else:
                params["after"] = str(self.after)
        request = self._client.build_request("GET", self.url("sse"), headers=headers, params=params)
        response = await self._client.send(request, stream=True)
        self._stack.push_async_callback(response.aclose)
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            raise RequestRefused(response.status_code, body)
        self._chunks = response.aiter_raw()

    async def receive_batch(self) -> list[Delivery]:
        if self._chunks is None:
            raise SubscriberClosed("not connected")
        try:
            chunk = await anext(self._chunks)
        except StopAsyncIteration:
            raise SubscriberClosed("stream ended by server") from None
        except httpx.RemoteProtocolError as exc:
            raise SubscriberClosed(f"stream broken: {exc}") from None
        return [sse.decode(message) for message in self.parser.feed(chunk)]

    async def close(self) -> None:
        await self._stack.aclose()
        await self._client.aclose()
