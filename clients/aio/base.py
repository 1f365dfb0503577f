"""The interface every asyncio subscriber shares, whatever its transport."""

from __future__ import annotations

import abc
from collections import deque
from types import TracebackType
from typing import Self

from core import Delivery, Event, Gap
from core.urls import room_path


class SubscriberClosed(Exception):
    """The server ended the subscription (stream end, close frame); `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscriber(abc.ABC):
    """`async with Subscriber(...) as sub: async for item in sub` yields events and gap notices.

    Once `__aenter__` returns, the subscription is live on the server: anything published
    afterwards is delivered. Iteration ends (StopAsyncIteration) when the server closes the
    subscription; `closed_reason` then says why. Network failures raise.
    """

    transport: str

    def __init__(
        self, base_url: str, room: str, after: int | None = None, *, token: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        """The server, or a namespace of it: `http://host:port/ns/admin`."""
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        """Sent with every request: the token, when the namespace requires one."""
        self.room = room
        self.after = after
        self.last_id: int | None = after
        """Id of the newest event received (the `after` to resume from)."""
        self.closed_reason: str | None = None
        self._pending: deque[Delivery] = deque()

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the subscription; return once the server has it."""

    @abc.abstractmethod
    async def receive_batch(self) -> list[Delivery]:
        """Wait for the next deliveries (possibly none); raise SubscriberClosed at the end."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Delivery:
        while not self._pending:
            try:
                self._pending.extend(await self.receive_batch())
            except SubscriberClosed as closed:
                self.closed_reason = closed.reason
                raise StopAsyncIteration from None
        item = self._pending.popleft()
        if isinstance(item, Event):
            self.last_id = item.id
        elif isinstance(item, Gap) and item.reset:
            self.last_id = 0
        return item

    def url(self, path: str) -> str:
        return self.base_url + room_path(self.room, path)
