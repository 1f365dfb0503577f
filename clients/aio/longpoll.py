"""Long-polling subscriber: a loop of `GET /rooms/{room}/poll?after=<next>`."""

from __future__ import annotations

import httpx

from clients.aio.base import Subscriber, SubscriberClosed
from clients.aio.errors import RequestRefused
from core import Delivery
from core.wire import longpoll


class PollSubscriber(Subscriber):
    transport = "longpoll"

    def __init__(
        self,
        base_url: str,
        room: str,
        after: int | None = None,
        *,
        poll_timeout: float = 25.0,
        token: str | None = None,
    ) -> None:
        super().__init__(base_url, room, after, token=token)
        self.poll_timeout = poll_timeout
        self.polls = 0
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=poll_timeout + 10.0), headers=self.headers
        )
        self._next = after

    async def _poll(self, after: int | None) -> longpoll.PollResponse:
        params: dict[str, str] = {"timeout": f"{self.poll_timeout:g}"}
        if after is not None:
            params["after"] = str(after)
        response = await self._client.get(self.url("poll"), params=params)
        self.polls += 1
        if response.status_code != 200:
            raise RequestRefused(response.status_code, response.text)
        return longpoll.decode_response(response.content, self.room)

    async def connect(self) -> None:
        if self._next is None:
            # Without a cursor the first poll answers at once with the room's newest id.
            self._next = (await self._poll(None)).next

    async def receive_batch(self) -> list[Delivery]:
        if self._client.is_closed:
            raise SubscriberClosed("closed by client")
        result = await self._poll(self._next)
        self._next = result.next
        items: list[Delivery] = [result.gap] if result.gap is not None else []
        items.extend(result.events)
        return items

    async def close(self) -> None:
        await self._client.aclose()
