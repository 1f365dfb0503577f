"""One subscriber connection, whatever the transport: a writer task pumping the subscription to
the client, raced against a watcher that notices the client leave.

A handler blocked on its queue never sees the client go (subscriptions leak, SIGTERM hangs);
a writer blocked on a client that stopped reading never sees its queue overflow. So the
watcher closes the subscription when the client leaves, and closing a subscription cancels
a writer stuck in `send`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from core import CloseReason, Item, RtbenchError, Subscription
from servers.asgi import Message, Send
from servers.hub import Hub, Space

TaskFn = Callable[[], Coroutine[Any, Any, None]]
"""A coroutine function run as one side of a connection."""

log = logging.getLogger("rtbench.server")


class Connection:
    def __init__(
        self,
        hub: Hub,
        space: Space,
        send: Send,
        *,
        capacity: int,
        max_bytes: int,
        stall_seconds: float = 0.0,
        one_shot: bool = False,
        expires_at: float | None = None,
        max_age: float = 0.0,
        **log_fields: Any,
    ) -> None:
        self.hub = hub
        self.space = space
        self.max_age = max_age
        """Seconds after which the stream is ended (0: never): the client resumes by id."""
        self.expires_at = expires_at
        """Wall-clock time its token expires: the connection is closed then (1008 on WS)."""
        self.farewell: str | None = None
        """A last text frame to send before closing (the error that caused the close)."""
        self.subscription = Subscription(
            capacity,
            one_shot=one_shot,
            on_close=self._on_close,
            max_bytes=max_bytes,
        )
        self.stall_seconds = stall_seconds
        """0: never. Else a send blocked that long closes the subscription as stalled: the
        client took no bytes, with or without more events coming."""
        self._send = send
        self._sending = False
        self._send_started = 0.0
        self._stall_timer: asyncio.TimerHandle | None = None
        self._writer: asyncio.Task[None] | None = None
        self._log_fields = log_fields

    async def send(self, message: Message) -> None:
        self._sending = True
        self._send_started = time.monotonic()
        try:
            await self._send(message)
        finally:
            self._sending = False

    async def send_final(self, message: Message, within: float = 1.0) -> None:
        """Best-effort last message (close frame, end of stream) to a client that may not read."""
        with contextlib.suppress(Exception, TimeoutError):
            await asyncio.wait_for(self._send(message), within)

    def _on_close(self, reason: CloseReason) -> None:
        if self._sending and self._writer is not None:
            self._writer.cancel()

    def _check_stall(self) -> None:
        """Close the subscription when one send has been blocked `stall_seconds`. Checked
        every half of it, so a stall is seen within 1.5 times the bound: one timer per
        connection instead of one per send."""
        period = self.stall_seconds / 2
        if self._sending and time.monotonic() - self._send_started >= self.stall_seconds:
            self.subscription.close(CloseReason.STALLED)
            return
        self._stall_timer = asyncio.get_running_loop().call_later(period, self._check_stall)

    async def open(self) -> None:
        """Count the connection in (`Hub.opened`), once subscribed; refused past a cap, with
        the subscription released."""
        try:
            self.hub.opened(self.subscription, self.space, **self._log_fields)
        except RtbenchError:
            self.subscription.close(CloseReason.POLICY)
            await self.space.broker.release(self.subscription)
            raise

    async def run(
        self,
        pump: TaskFn,
        watch: TaskFn,
    ) -> CloseReason:
        """Run `pump` until the subscription closes or the client leaves; always release.
        `open` came first."""
        subscription = self.subscription
        loop = asyncio.get_running_loop()
        expiry = None
        if self.expires_at is not None:
            expiry = loop.call_later(
                max(0.0, self.expires_at - time.time()), subscription.close, CloseReason.EXPIRED
            )
        aging = (
            loop.call_later(self.max_age, subscription.close, CloseReason.MAX_AGE)
            if self.max_age > 0
            else None
        )
        if self.stall_seconds > 0:
            self._stall_timer = loop.call_later(self.stall_seconds / 2, self._check_stall)
        self._writer = writer = asyncio.create_task(pump())
        watcher = asyncio.create_task(self._watch(watch))
        try:
            await asyncio.wait({writer})
            error = None if writer.cancelled() else writer.exception()
            # A send to a client that is gone fails with an OSError: that client has left.
            subscription.close(CloseReason.CLIENT_LEFT)  # no-op when already closed
            if error is not None and not isinstance(error, OSError):
                raise error
            return subscription.close_reason or CloseReason.CLIENT_LEFT
        finally:
            for timer in (expiry, aging, self._stall_timer):
                if timer is not None:
                    timer.cancel()
            for task in (writer, watcher):
                task.cancel()
            ended = await asyncio.gather(writer, watcher, return_exceptions=True)
            failed = ended[1]
            if isinstance(failed, Exception):
                log.error("reader failed", exc_info=failed, extra=self._log_fields)
            await self.space.broker.release(subscription)
            self.hub.closed(subscription, **self._log_fields)

    async def pump(
        self,
        write: Callable[[list[Item]], Awaitable[None]],
        idle: TaskFn | None = None,
        idle_seconds: float = 0.0,
    ) -> None:
        """Write queued items in batches until the subscription closes; call `idle` after
        `idle_seconds` without a write (heartbeats)."""
        subscription = self.subscription
        quiet = Quiet(subscription, idle_seconds) if idle is not None else None
        try:
            while True:
                await subscription.wait()
                if subscription.closed:
                    return
                items = subscription.take()
                if items:
                    await write(items)
                    subscription.written()
                    if quiet is not None:
                        quiet.wrote = True
                elif quiet is not None and quiet.due and idle is not None:
                    await idle()
                if quiet is not None:
                    quiet.due = False
        finally:
            if quiet is not None:
                quiet.cancel()

    async def _watch(self, watch: TaskFn) -> None:
        """Run the reader; however it ends, the subscription closes with it, so its writer,
        its place in the room and its connection slot go at once."""
        try:
            await watch()
        finally:
            self.subscription.close(CloseReason.CLIENT_LEFT)


class Quiet:
    """Notices a subscription that nothing was written to (queued or direct) for `seconds`:
    `due` is set and its writer woken, to send a heartbeat. One timer per connection, re-armed
    every `seconds`, instead of one per write."""

    __slots__ = ("_direct_writes", "_timer", "due", "seconds", "subscription", "wrote")

    def __init__(self, subscription: Subscription, seconds: float) -> None:
        self.subscription = subscription
        self.seconds = seconds
        self.wrote = True
        self.due = False
        self._direct_writes = subscription.direct_writes
        self._timer = asyncio.get_running_loop().call_later(seconds, self._tick)

    def _tick(self) -> None:
        subscription = self.subscription
        if not self.wrote and subscription.direct_writes == self._direct_writes:
            self.due = True
            subscription.wake()
        self.wrote = False
        self._direct_writes = subscription.direct_writes
        self._timer = asyncio.get_running_loop().call_later(self.seconds, self._tick)

    def cancel(self) -> None:
        """Stop; a cancelled timer drops its callback, so nothing holds this any more."""
        self._timer.cancel()
