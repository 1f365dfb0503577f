"""The Redis broker: what lets several server nodes behind a load balancer act as one.

- Ids: `INCR` per room, so they stay gap-free across nodes.
- Resume buffer: a capped Redis stream per room (entry id `<event id>-0`), read with `XRANGE`.
- Fan-out: one Lua script assigns the id, appends to the stream and `PUBLISH`es the event, so
  Pub/Sub order is id order. Each node holds one pattern subscription (not one per client) and
  offers every event to its own local subscribers: the Socket.IO Redis-adapter idea.
- Failure: if the Pub/Sub connection drops, the node reconnects with capped exponential
  backoff and full jitter, then re-reads each local room's stream after the last id it
  delivered: what is still buffered is recovered, what is not is announced as a gap; a Redis
  that came back empty (ids started again) is announced as a reset gap. Never silent loss.

Keys carry the room in a hash tag (`rtbench:{ns:room}:id`), so a Redis Cluster keeps a room's
keys on one shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from core import (
    JSON,
    Event,
    Gap,
    Item,
    Limits,
    RoomLimitReached,
    RtbenchError,
    Stats,
    Subscription,
    jsonc,
)
from core.backoff import Backoff
from core.broker import Broker, detach
from core.buffer import Backlog
from core.events import data_of, dump_json, event_json
from core.rooms import validate_room
from core.subscription import CloseReason, fan_out
from core.urls import redact

log = logging.getLogger("rtbench.redis")

T = TypeVar("T")
Entries = list[tuple[bytes, dict[bytes, bytes]]]

# ARGV[6] is what follows the data in the event object: `,"encoding":"base64"` for a binary event.
# The stream keeps at most ARGV[3] events and about ARGV[5] bytes of them: the per-room bounds
# of the memory broker (buffer_events, buffer_bytes), so a room of large events stays small.
PUBLISH = """
local id = redis.call('INCR', KEYS[1])
local event = '{"id":' .. id .. ',"room":"' .. ARGV[1] .. '","data":' .. ARGV[2] .. ARGV[6] .. '}'
local keep = math.max(1, math.min(tonumber(ARGV[3]), math.floor(tonumber(ARGV[5]) / #event)))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', keep, id .. '-0', 'e', event, 't', ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[4] .. ' ' .. event)
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return id
"""


WARN_EVERY_SECONDS = 5.0
"""At most one "redis unavailable" log line per this many seconds."""


class BrokerUnavailable(RtbenchError):
    status_code = 503
    close_code = 1011
    kind = "broker_unavailable"


@dataclass(slots=True, eq=False)
class _LocalRoom:
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    delivered_id: int = 0
    """Newest id offered to this node's subscribers (what a recovery resumes after)."""
    catching_up: dict[int, list[Event]] = field(default_factory=dict)
    """Live events held for subscriptions still reading their backlog, by subscription id."""
    floors: dict[int, int] = field(default_factory=dict)
    """Per subscription: the newest id its backlog carried; live copies up to it are skipped."""


class RedisBroker(Broker):
    kind = "redis"

    def __init__(
        self, url: str, limits: Limits, stats: Stats | None = None, namespace: str = "default"
    ) -> None:
        self.url = redact(url)
        """Without its password: the URL as `/status`, logs and messages show it."""
        self._password = urlsplit(url).password
        self.limits = limits
        self.stats = stats if stats is not None else Stats()
        self.prefix = f"rtbench:{namespace}"
        # Bounded: at most 64 connections to Redis per node; a burst of requests waits for one
        # (up to 5 s) instead of opening a connection per client.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=5,
            socket_timeout=5,
            socket_connect_timeout=5,
            # A connection idle for a second is PINGed before use, and a failed PING (or
            # command) is retried once on a new connection: one that died with a restarted
            # Redis is replaced instead of failing a publish. A command lost mid-flight could
            # thus run twice; with Redis gone mid-command that is the lesser evil.
            health_check_interval=1,
            retry=Retry(NoBackoff(), 1),
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self._publish = self.redis.register_script(PUBLISH)
        self._rooms: dict[str, _LocalRoom] = {}
        self._known_rooms: OrderedDict[str, float] = OrderedDict()
        """Rooms this node placed in the cluster's cap, and when (a cache)."""
        self._rooms_key = f"{self.prefix}:room_seen"
        self._warned_at = -WARN_EVERY_SECONDS
        self._unsaid = 0
        """Failed calls since the last warning was logged."""
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._excluded: OrderedDict[tuple[str, int], int] = OrderedDict()
        """(room, id) -> subscription that published it with except_self (bounded)."""
        self.connected = False
        self.reconnects = 0
        self.malformed = 0
        """Pub/Sub payloads this node could not read, skipped."""
        self.recovered = 0
        self.gaps = 0

    # -- keys -----------------------------------------------------------------------------

    def _keys(self, room: str) -> tuple[str, str, str]:
        tag = f"{{{self.prefix.partition(':')[2]}:{room}}}"
        return (
            f"rtbench:{tag}:id",
            f"rtbench:{tag}:buf",
            f"{self.prefix}:ch:{room}",
        )

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            # The client learns only that the broker is away; the log says why, with the URL
            # redacted (a driver's message may quote its connection parameters), once every
            # few seconds: an outage under load would otherwise write a line per request.
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_SECONDS:
                log.warning(
                    "redis unavailable",
                    extra={"url": self.url, "error": self._said(exc), "since_last": self._unsaid},
                )
                self._warned_at, self._unsaid = now, 0
            else:
                self._unsaid += 1
            raise BrokerUnavailable(
                "expected the broker to answer, got no answer: it is unavailable"
            ) from None

    def _said(self, exc: BaseException) -> str:
        """What an exception says, with the password (should a driver quote it) masked."""
        text = f"{type(exc).__name__}: {exc}"
        return text.replace(self._password, "***") if self._password else text

    # -- the Broker interface ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the node's one Pub/Sub listener and wait until it listens (or give up)."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 5)

    @property
    def _idle_seconds(self) -> int:
        return max(1, round(self.limits.room_idle_seconds))

    async def admit_room(self, room: str) -> None:
        """`limits.max_rooms` across the cluster: room names in a Redis sorted set, scored by
        when a node last published to them; names idle for `room_idle_seconds` leave it, as
        their keys expire. Nodes adding rooms at the same instant may pass the cap by one each."""
        now = time.time()
        seen = self._known_rooms.get(room)
        if seen is not None and now - seen < self._idle_seconds / 4:
            return
        key, idle = self._rooms_key, self._idle_seconds

        async def claim() -> tuple[int, int]:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(key, "-inf", now - idle)
                pipe.zadd(key, {room: now})
                pipe.zcard(key)
                _, added, count = await pipe.execute()
            return int(added), int(count)

        added, count = await self._call(claim)
        if added and count > self.limits.max_rooms:
            await self._call(lambda: self.redis.zrem(key, room))
            raise RoomLimitReached(
                f"expected at most {self.limits.max_rooms} rooms on this cluster, "
                f"got a request for a new room {room!r}"
            )
        self._known_rooms[room] = now
        while len(self._known_rooms) > 100_000:  # a cache, bounded
            self._known_rooms.popitem(last=False)

    async def reclaim_idle(self) -> None:
        """Redis expires idle rooms' keys itself; the rooms this node's subscribers watch are
        not idle, so their keys and their place in the cap are renewed."""
        watched = [room for room, local in self._rooms.items() if local.subscriptions]
        if not watched:
            return
        now, idle = time.time(), self._idle_seconds

        async def renew() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for room in watched:
                    id_key, buf_key, _ = self._keys(room)
                    pipe.expire(id_key, idle)
                    pipe.expire(buf_key, idle)
                pipe.zadd(self._rooms_key, {room: now for room in watched}, xx=True)
                await pipe.execute()

        await self._call(renew)

    async def publish(self, room: str, data: JSON, *, exclude: Subscription | None = None) -> Event:
        validate_room(room)
        await self.start()
        await self.admit_room(room)
        id_key, buf_key, channel = self._keys(room)
        now = time.time_ns()
        form = event_json(0, room, data)
        data_json = dump_json(form["data"])
        encoding = b',"encoding":"%s"' % form["encoding"].encode() if "encoding" in form else b""
        args: list[bytes | str | int] = [
            room,
            data_json,
            self.limits.buffer_events,
            now,
            self.limits.buffer_bytes,
            encoding,
            self._idle_seconds,
        ]
        event_id = await self._call(
            lambda: self._publish(keys=[id_key, buf_key, channel], args=args)
        )
        self.stats.published += 1
        self.stats.published_window.add(now / 1e9)
        event = Event(int(event_id), room, data, now)
        if exclude is not None:
            # Pub/Sub brings the event back to this node too; remember whom to skip.
            self._excluded[(room, event.id)] = exclude.id
            while len(self._excluded) > 10_000:
                self._excluded.popitem(last=False)
        return event

    async def subscribe(self, subscription: Subscription, room: str, after: int | None) -> int:
        # Watching a room claims no room of the cluster's cap: only a publish creates one, so
        # subscriptions to new names cannot fill the cluster's `…:room_seen` set.
        validate_room(room)
        await self.start()
        local = self._rooms.get(room)
        fresh = local is None
        if local is None:
            local = self._rooms[room] = _LocalRoom()
        if after is None:
            # Attach first: what is published while the id is read is delivered, not missed.
            local.subscriptions[subscription.id] = subscription
            subscription.rooms.add(room)
            try:
                last_id = await self._call(lambda: self._last_id(room))
            except BaseException:
                await self.unsubscribe(subscription, room)
                raise
            if fresh:
                local.delivered_id = max(local.delivered_id, last_id)
            return last_id
        # Hold live events for this subscription while its backlog is read, so the backlog
        # is delivered first and nothing is delivered twice.
        local.catching_up[subscription.id] = []
        try:
            backlog = await self._call(lambda: self._backlog(room, after, None))
        except BaseException:
            await self.unsubscribe(subscription, room)  # forgets the room if it was only ours
            raise
        held = local.catching_up.pop(subscription.id, [])
        items: list[Item] = [backlog.gap] if backlog.gap else []
        items.extend(backlog.events)
        items.extend(event for event in held if event.id > backlog.last_id)
        if fresh:
            local.delivered_id = max(local.delivered_id, backlog.last_id)
        if not subscription.replay(items):
            if not local.subscriptions:
                self._rooms.pop(room, None)
            return backlog.last_id
        local.subscriptions[subscription.id] = subscription
        local.floors[subscription.id] = max(backlog.last_id, held[-1].id if held else 0)
        subscription.rooms.add(room)
        return backlog.last_id

    async def unsubscribe(self, subscription: Subscription, room: str) -> None:
        local = self._rooms.get(room)
        if local is not None:
            local.subscriptions.pop(subscription.id, None)
            local.catching_up.pop(subscription.id, None)
            local.floors.pop(subscription.id, None)
            if not local.subscriptions and not local.catching_up:
                del self._rooms[room]
        subscription.rooms.discard(room)

    async def release(self, subscription: Subscription) -> None:
        for room in list(subscription.rooms):
            await self.unsubscribe(subscription, room)

    async def backlog(self, room: str, after: int, limit: int) -> Backlog:
        validate_room(room)
        return await self._call(lambda: self._backlog(room, after, limit))

    async def last_id(self, room: str) -> int:
        validate_room(room)
        return await self._call(lambda: self._last_id(room))

    def subscribers_by_room(self) -> dict[str, int]:
        return {name: len(r.subscriptions) for name, r in self._rooms.items() if r.subscriptions}

    def health(self) -> dict[str, JSON]:
        return {
            "kind": self.kind,
            "ok": self.connected,
            "url": self.url,
            "rooms": len(self._rooms),
            "reconnects": self.reconnects,
            "malformed_payloads": self.malformed,
            "recovered_events": self.recovered,
            "gap_notices": self.gaps,
        }

    async def close(self) -> None:
        for local in self._rooms.values():
            for sub in list(local.subscriptions.values()):
                sub.close(CloseReason.SHUTDOWN)
            local.subscriptions.clear()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # -- reading Redis ----------------------------------------------------------------------

    async def _last_id(self, room: str) -> int:
        value = await self.redis.get(self._keys(room)[0])
        return int(value) if value is not None else 0

    async def _backlog(self, room: str, after: int, limit: int | None) -> Backlog:
        id_key, buf_key, _ = self._keys(room)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(id_key)
            pipe.xrange(buf_key, min="-", max="+", count=1)
            pipe.xrange(buf_key, min=f"{after + 1}-0", max="+", count=limit)
            raw_last, first_entry, entries = await pipe.execute()
        last_id = int(raw_last) if raw_last is not None else 0
        events = [self._event_of(room, fields) for _, fields in entries]
        if after > last_id:
            # The room started again (Redis lost its data): the cursor is from an earlier life.
            everything = cast(
                Entries, await self.redis.xrange(buf_key, min="-", max="+", count=limit)
            )
            events = [self._event_of(room, fields) for _, fields in everything]
            return Backlog(Gap(room, 1, after, reset=True), events, last_id)
        first = int(first_entry[0][0].split(b"-")[0]) if first_entry else last_id + 1
        gap = Gap(room, after + 1, first - 1) if after + 1 < first else None
        return Backlog(gap, events, last_id)

    @staticmethod
    def _event_of(room: str, fields: dict[bytes, bytes]) -> Event:
        return RedisBroker._decode(room, fields[b"e"], int(fields[b"t"]))

    @staticmethod
    def _decode(room: str, raw: bytes, ts_ns: int) -> Event:
        body: dict[str, Any] = jsonc.loads_fast(raw)
        event = Event(int(body["id"]), room, data_of(body), ts_ns)
        event.frames["json"] = raw  # encoded once, by the publishing node's script
        return event

    # -- the node's Pub/Sub listener --------------------------------------------------------

    async def _listen(self) -> None:
        backoff = Backoff(initial=0.1, maximum=5.0)
        attempt = 0
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{self.prefix}:ch:*")
                if not first:
                    self.reconnects += 1
                    await self._recover()
                first = False
                self.connected = True
                self._listening.set()
                attempt = 0
                log.info("redis listening", extra={"url": self.url, "prefix": self.prefix})
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message["type"] == "pmessage":
                        try:
                            self._dispatch(message["channel"], message["data"])
                        except Exception as exc:
                            # Anyone who can PUBLISH to Redis can send anything: a payload
                            # this node cannot read is skipped and counted, and the listener
                            # goes on delivering the rest.
                            self.malformed += 1
                            log.warning("redis payload skipped", extra={
                                "channel": repr(message["channel"])[:120],
                                "error": f"{type(exc).__name__}: {exc}"[:200]})  # fmt: skip
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected = False
                delay = backoff.delay(attempt)
                attempt += 1
                log.warning(
                    "redis connection lost",
                    extra={
                        "url": self.url,
                        "error": self._said(exc),
                        "retry_in_s": round(delay, 3),
                    },
                )
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _dispatch(self, channel: bytes, payload: bytes) -> None:
        room = channel.decode().rpartition(":ch:")[2]
        local = self._rooms.get(room)
        if local is None:
            return
        stamp, _, raw = payload.partition(b" ")
        event = self._decode(room, raw, int(stamp))
        self._offer(room, local, event)

    def _offer(self, room: str, local: _LocalRoom, event: Event) -> None:
        if event.id <= local.delivered_id:
            return  # already delivered (a recovery read it from the stream first)
        local.delivered_id = event.id
        for held in local.catching_up.values():
            held.append(event)
        skip = self._excluded.pop((room, event.id), None)
        floors = local.floors
        members = list(local.subscriptions.values())
        if floors or skip is not None:
            members = [
                sub for sub in members if self._past_floor(floors, sub, event) and sub.id != skip
            ]
        written, refused = fan_out(members, event)
        if written:
            self.stats.count_direct(event.ts_ns, time.time_ns(), written)
        for sub in refused:
            self._drop(room, sub)

    @staticmethod
    def _past_floor(floors: dict[int, int], sub: Subscription, event: Event) -> bool:
        """False for an event a subscriber joining mid-recovery already had from its backlog."""
        floor = floors.get(sub.id)
        if floor is None:
            return True
        if event.id <= floor:
            return False
        del floors[sub.id]
        return True

    def _drop(self, room: str, subscription: Subscription) -> None:
        detach(subscription, self._members, self.stats)

    def _members(self, room: str) -> dict[int, Subscription] | None:
        local = self._rooms.get(room)
        return None if local is None else local.subscriptions

    async def _recover(self) -> None:
        """After a reconnect: deliver what each local room missed, or say it is gone."""
        for room, local in list(self._rooms.items()):
            backlog = await self._backlog(room, local.delivered_id, None)
            if backlog.gap is not None:
                self.gaps += 1
                for sub in list(local.subscriptions.values()):
                    if not sub.offer(backlog.gap):
                        self._drop(room, sub)
                if backlog.gap.reset:
                    local.delivered_id = 0
                else:
                    local.delivered_id = backlog.gap.last
            for event in backlog.events:
                self.recovered += 1
                self._offer(room, local, event)
            log.info(
                "redis recovered room",
                extra={
                    "room": room,
                    "events": len(backlog.events),
                    "gap": backlog.gap.as_json() if backlog.gap else None,
                },
            )
