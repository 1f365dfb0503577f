"""A subscriber's mailbox: a bounded queue that a slow reader cannot grow.

The broker offers items; the connection's writer takes them. When the queue is full, in
items or in bytes, the subscription is closed as `slow` instead of buffering without bound; the
client resumes by id.

The fast path: a server that can write to the client's socket synchronously attaches a `Sink`,
and an item offered while nothing is queued or being written goes straight out through it,
framed once per event, with no task switch. When the sink is not ready (the socket is paused or
closing) the item is queued, and the queue's bound still decides when the subscriber is too
slow.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol, TypeAlias

from core.config import QUEUE_BYTES
from core.events import Event, Item

_ids = itertools.count(1)

CONTROL_BYTES = 64
"""What a gap notice or a reply is counted as."""


def item_bytes(item: Item) -> int:
    """What a queued item holds, counted by its JSON (shared with the resume buffer)."""
    return len(item.json) if isinstance(item, Event) else CONTROL_BYTES


REFUSED, QUEUED, WRITTEN = 0, 1, 2
"""What `Subscription.offer` did with an item: refused it (the subscription is closed), queued
it, or wrote it to the client at once (the fast path)."""


class Writer(Protocol):
    def write(self, data: bytes, /) -> object: ...


class Sink(Protocol):
    """A client's socket as the fast path writes to it (the server's protocol makes them).

    While `ready` (open, not paused, not closing: the connection keeps it so as it hears of
    changes), `writer.write(data)` sends a whole frame, chunk or response at once. `writer` is
    the transport itself where it can be, so that writing runs no Python of ours."""

    @property
    def ready(self) -> bool: ...

    @property
    def writer(self) -> Writer: ...

    def watch(self, on_change: Callable[[], None] | None) -> bool:
        """Call `on_change` whenever `ready` changes (None: stop); False when this sink
        cannot tell, and `ready` must be asked before each write."""


Frame: TypeAlias = Callable[[Item], bytes | None]
"""An item's bytes as a sink takes them, shared by every subscriber of its kind; None leaves
the item to the queue."""


class CloseReason(enum.Enum):
    CLIENT_LEFT = "client_left"
    SLOW = "slow_subscriber"
    STALLED = "stalled_subscriber"
    """A send to it was blocked `limits.stall_seconds`: the client took no bytes."""
    SHUTDOWN = "shutdown"
    TIMEOUT = "timeout"
    POLICY = "policy_violation"
    EXPIRED = "token_expired"
    RATE_LIMITED = "rate_limited"
    MAX_AGE = "max_age"
    """The stream lived `heartbeat.stream_max_seconds`; the client resumes by id."""
    FULL = "batch_full"
    """A one-shot (long-poll) subscription has a full batch; nothing is lost, it resumes by id."""
    ANSWERED = "answered"
    """A one-shot (long-poll) subscription was answered by the fast path: its work is done."""


DROPPED = (CloseReason.SLOW, CloseReason.STALLED)
"""The reasons that mean the server dropped a subscriber (counted as dropped, resumable)."""


class Subscription:
    """Bounded queue of items for one client connection, attached to one or more rooms."""

    __slots__ = (
        "_in_flight",
        "_on_close",
        "_on_wake",
        "_queue",
        "_queued_bytes",
        "_replayed",
        "_waiter",
        "base_capacity",
        "base_max_bytes",
        "capacity",
        "close_reason",
        "direct_writes",
        "fast",
        "frame",
        "id",
        "max_bytes",
        "one_shot",
        "rooms",
        "sink",
        "watched",
        "writer",
    )

    def __init__(
        self,
        capacity: int,
        *,
        one_shot: bool = False,
        on_close: Callable[[CloseReason], None] | None = None,
        max_bytes: int = QUEUE_BYTES,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"expected capacity >= 1, got {capacity}")
        if max_bytes < 1:
            raise ValueError(f"expected max_bytes >= 1, got {max_bytes}")
        self.id = next(_ids)
        self.base_capacity = capacity
        self.capacity = capacity
        self.base_max_bytes = max_bytes
        self.max_bytes = max_bytes
        """Bytes queued at most (`item_bytes`); one item alone is always taken."""
        self._queued_bytes = 0
        self.one_shot = one_shot
        self.rooms: set[str] = set()
        self.close_reason: CloseReason | None = None
        self._queue: deque[Item] = deque()
        self._replayed = False
        """Whether the one replay allowance is spent."""
        self._waiter: asyncio.Future[None] | None = None
        self._on_wake: Callable[[], None] | None = None
        self._on_close = on_close
        self._in_flight = False
        """Items taken and not yet written: a direct write now would overtake them."""
        self.sink: Sink | None = None
        self.frame: Frame | None = None
        self.writer: Writer | None = None
        self.watched = False
        """The sink tells this subscription when its readiness changes."""
        self.fast = False
        """A watched sink is ready, and nothing is queued or being written that an item
        written now would overtake: the fan-out writes to `writer` without asking more."""
        self.direct_writes = 0

    def __repr__(self) -> str:
        return f"<Subscription {self.id} rooms={sorted(self.rooms)} queued={len(self._queue)}>"

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    def __len__(self) -> int:
        return len(self._queue)

    def attach(self, sink: Sink, frame: Frame) -> None:
        """Open the fast path: items offered from now on go to `sink`, as `frame` makes them,
        whenever it is ready and nothing waits before them. A one-shot subscription is done
        (`ANSWERED`) after its first direct write."""
        if self.close_reason is None:
            self.sink, self.frame, self.writer = sink, frame, sink.writer
            self.watched = sink.watch(self._refresh)
            self._refresh()

    def offer(self, item: Item) -> int:
        """Write `item` now (`WRITTEN`) or queue it (`QUEUED`); `REFUSED` (falsy, and the
        subscription closes) when it is full or closed."""
        sink, frame = self.sink, self.frame
        if (
            sink is not None
            and frame is not None
            and not self._queue
            and not self._in_flight
            and sink.ready
        ):
            data = frame(item)
            if data is not None:
                sink.writer.write(data)
                self.direct_writes += 1
                if self.one_shot:
                    self.close(CloseReason.ANSWERED)
                return WRITTEN
        return self.queue(item)

    def queue(self, item: Item) -> int:
        """Queue `item` (`QUEUED`), past the fast path; `REFUSED` when full or closed."""
        if self.close_reason is not None:
            return REFUSED
        return self._enqueue(item)

    def _enqueue(self, item: Item) -> int:
        size = item_bytes(item)
        queue = self._queue
        if len(queue) >= self.capacity or (queue and self._queued_bytes + size > self.max_bytes):
            self.close(CloseReason.FULL if self.one_shot else CloseReason.SLOW)
            return REFUSED
        queue.append(item)
        self._queued_bytes += size
        self.fast = False
        self._wake()
        return QUEUED

    def _refresh(self) -> None:
        sink = self.sink
        self.fast = (
            self.watched
            and not self.one_shot  # its answer closes it: `offer` writes it
            and sink is not None
            and sink.ready
            and self.close_reason is None
            and not self._queue
            and not self._in_flight
        )

    def replay(self, items: list[Item]) -> bool:
        """Queue a resume backlog. It is bounded by the resume buffer, not by the live queue,
        so room is made for it, once: a resume longer than the queue must not drop the
        subscriber it is resuming, but a socket that joins room after room without reading
        must not grow its queue by a buffer each time. Later replays fit the queue or drop
        the subscriber as slow. A backlog is always queued, never written by the fast path:
        what the fast path writes, the fan-out counts (`fan_out`), and a backlog is no
        fan-out."""
        if self.close_reason is not None:
            return False
        if not self._replayed:
            self._replayed = True
            self.capacity = max(self.capacity, len(self._queue) + len(items) + self.base_capacity)
            self.max_bytes = max(
                self.max_bytes,
                self._queued_bytes + sum(map(item_bytes, items)) + self.base_max_bytes,
            )
        return all(self._enqueue(item) for item in items)

    def take(self, limit: int | None = None) -> list[Item]:
        """Remove and return up to `limit` queued items without waiting."""
        queue = self._queue
        if queue:
            self._in_flight = True
            self.fast = False
        if limit is None or limit >= len(queue):
            items = list(queue)
            queue.clear()
            self._queued_bytes = 0
            # Any replay allowance is used up.
            self.capacity, self.max_bytes = self.base_capacity, self.base_max_bytes
            return items
        items = [queue.popleft() for _ in range(limit)]
        self._queued_bytes -= sum(map(item_bytes, items))
        return items

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def written(self) -> None:
        """What `take` returned is written: direct writes may go out again."""
        self._in_flight = False
        self._refresh()

    async def wait(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Return when an item is queued or the subscription is closed. `loop`: the running
        loop, when the caller has it (finding it costs a system call, `getpid`)."""
        if self._queue or self.close_reason is not None:
            return
        self._waiter = (loop or asyncio.get_running_loop()).create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def when_woken(self, callback: Callable[[], None]) -> None:
        """`wait` for a caller without a task: `callback` once, when an item is queued or the
        subscription closes (at once, if one is queued or it is closed). It may be called from
        inside a fan-out: it should only schedule its work."""
        if self._queue or self.close_reason is not None:
            callback()
        else:
            self._on_wake = callback

    def wake(self) -> None:
        """Return from a pending `wait` with nothing queued (a heartbeat is due)."""
        self._wake()

    def close(self, reason: CloseReason) -> None:
        """Stop accepting items; queued ones stay readable. The first reason wins."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        # Nothing is written to a closed subscription, and its sink is let go with it (the
        # sink's watch held this subscription: a cycle until now).
        if self.sink is not None and self.watched:
            self.sink.watch(None)
        self.sink = self.frame = self.writer = None
        self.fast = self.watched = False
        self._wake()
        if self._on_close is not None:
            callback, self._on_close = self._on_close, None
            callback(reason)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        callback = self._on_wake
        if callback is not None:
            self._on_wake = None
            callback()


def fan_out(
    subscriptions: Iterable[Subscription], item: Item, exclude: Subscription | None = None
) -> tuple[int, list[Subscription]]:
    """Offer `item` to every subscription but `exclude`: (how many the fast path wrote it to,
    the subscriptions it closed as too slow).

    In two passes: the first decides who is written to now and who is offered the item one by
    one (queued, or a sink that must be asked), and frames the item once per kind of sink; the
    second only writes. Each write's system call runs enough kernel code to evict the caches,
    so whatever Python runs between two writes runs cold (a few times slower than in a warm
    loop): the second pass keeps that to a loop step, and the first reads nothing but the
    subscription itself."""
    batches: dict[Frame, tuple[bytes | None, list[Writer]]] = {}
    last_frame: Frame | None = None
    data: bytes | None = None
    writers: list[Writer] = []
    written = 0
    refused: list[Subscription] = []
    for subscription in subscriptions:
        if subscription is exclude:
            continue
        if subscription.fast:
            frame = subscription.frame
            if frame is not last_frame:
                assert frame is not None
                batch = batches.get(frame)
                if batch is None:
                    batch = batches[frame] = (frame(item), [])
                last_frame, (data, writers) = frame, batch
            if data is not None:
                writers.append(subscription.writer)  # type: ignore[arg-type]
                subscription.direct_writes += 1
                continue
        outcome = subscription.offer(item)
        if outcome == WRITTEN:
            written += 1
        elif not outcome:
            refused.append(subscription)
    for data, writers in batches.values():
        if data is not None:
            for writer in writers:
                try:
                    writer.write(data)
                except Exception:
                    # A transport closed under us (uvloop raises where asyncio logs): that
                    # connection's own close detaches it; everyone after it still gets the item.
                    written -= 1
            written += len(writers)
    return written, refused
