"""Long polling: `GET /rooms/{room}/poll?after=<id>&timeout=<s>`.

Answers at once when events after `after` exist; otherwise holds the request until one arrives,
the timeout passes, the client leaves or the server stops. Between polls the server keeps no
state for the client: the cursor lives in the client, so any node can answer the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from typing import Any

from starlette.routing import BaseRoute, Route

from core import CloseReason, Event, Gap, Item, RtbenchError, Subscription
from core.broker import MemoryBroker
from core.urls import SUBSCRIBE, parse_room_path
from core.wire import longpoll
from servers.asgi import (
    Receive,
    Scope,
    Send,
    address_of,
    parse_after,
    parse_seconds,
    query,
    room_of,
    send_json,
    wait_disconnect,
)
from servers.hot import HotRoutes
from servers.hub import Hub, Space
from servers.origins import foreign_origin
from servers.protocol import TakenRequest
from servers.transport import Endpoint, Transport, direct_respond, room_paths

log = logging.getLogger("rtbench.server")


class PollEndpoint(Endpoint):
    transport = "longpoll"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self.hub.limits
        try:
            room = room_of(scope)
            space, _ = self.admit(scope, room)
            broker = space.broker
            params = query(scope)
            after = parse_after(params.get("after"))
            timeout = parse_seconds(
                params.get("timeout"),
                limits.poll_timeout_default,
                limits.poll_timeout_max,
                "timeout",
            )
            if after is None:
                body = longpoll.encode_response([], await broker.last_id(room))
                await send_json(send, 200, body)
                return
            backlog = await broker.backlog(room, after, limits.poll_batch)
        except RtbenchError as exc:
            await self.refuse(send, scope, exc)
            return
        if backlog.events or backlog.gap is not None:
            await self.respond(send, backlog.events, backlog.gap, after, scope)
            return
        direct = self.direct(scope)
        if direct is not None:
            try:
                await self.hold(scope, send, space, room, after, timeout, direct)
            except RtbenchError as exc:  # a cap or the broker, before anything was answered
                await self.refuse(send, scope, exc)
            return

        await self.wait_through_asgi(scope, receive, send, space, room, after, timeout)

    async def wait_through_asgi(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        space: Space,
        room: str,
        after: int,
        hold_seconds: float,
    ) -> None:
        """A held poll on the pure-ASGI path: this request's task waits for an item, the
        timeout or the client leaving, then answers with what was queued. One more task
        reads `receive`, the only way ASGI tells that the client left."""
        hub, limits = self.hub, self.hub.limits
        subscription = Subscription(limits.poll_batch, one_shot=True, max_bytes=limits.queue_bytes)
        fields = {"room": room, "address": address_of(scope)}
        broker = space.broker
        try:
            await broker.subscribe(subscription, room, after)
            hub.opened(subscription, space, **fields)
        except RtbenchError as exc:
            subscription.close(CloseReason.POLICY)
            await broker.release(subscription)
            await self.refuse(send, scope, exc)
            return
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(hold_seconds, subscription.close, CloseReason.TIMEOUT)
        watcher = loop.create_task(wait_disconnect(receive))
        watcher.add_done_callback(lambda _: subscription.close(CloseReason.CLIENT_LEFT))
        try:
            await subscription.wait(loop)
            if subscription.close_reason is not CloseReason.CLIENT_LEFT:
                with contextlib.suppress(OSError):  # a client gone meanwhile has left
                    await self.answer_queued(subscription, send, after, scope)
        finally:
            expiry.cancel()
            watcher.cancel()
            subscription.close(CloseReason.CLIENT_LEFT)  # no-op once closed
            await broker.release(subscription)
            hub.closed(subscription, **fields)

    async def hold(
        self,
        scope: Scope,
        send: Send,
        space: Space,
        room: str,
        after: int,
        hold_seconds: float,
        direct: dict[str, Any],
    ) -> None:
        """A held poll on the fast path: answered by the publisher's call (`go_direct`), the
        client's leaving told by the protocol (`direct["on_lost"]`), the timeout by a timer on
        the protocol's loop (`direct["loop"]`). No task besides the request's own, which
        sleeps until one of them closes the subscription or an item is queued."""
        hub, limits = self.hub, self.hub.limits
        subscription = Subscription(limits.poll_batch, one_shot=True, max_bytes=limits.queue_bytes)
        fields = {"room": room, "address": address_of(scope)}
        hub.opened(subscription, space, **fields)
        expiry = None
        try:
            await space.broker.subscribe(subscription, room, after)
            self.go_direct(scope, subscription, direct_answer, kind="answer")
            loop: asyncio.AbstractEventLoop = direct["loop"]
            expiry = loop.call_later(hold_seconds, subscription.close, CloseReason.TIMEOUT)
            direct["on_lost"](functools.partial(subscription.close, CloseReason.CLIENT_LEFT))
            # Until an answer is written, the client leaves, the time is up, or an item is
            # queued: one that came while subscribing, or one the fast path could not write
            # (a connection that closes after this response, a socket that is not writable).
            await subscription.wait(loop)
            if subscription.close_reason not in (CloseReason.CLIENT_LEFT, CloseReason.ANSWERED):
                await self.answer_queued(subscription, send, after, scope)
        finally:
            if expiry is not None:
                expiry.cancel()
            subscription.close(CloseReason.CLIENT_LEFT)  # no-op once closed
            await space.broker.release(subscription)
            hub.closed(subscription, **fields)

    async def answer_queued(
        self, subscription: Subscription, send: Send, after: int, scope: Scope
    ) -> None:
        """A held poll's answer with what its subscription queued (nothing, at its timeout)."""
        items = subscription.take(self.hub.limits.poll_batch)
        events = [item for item in items if isinstance(item, Event)]
        gap = next((item for item in items if isinstance(item, Gap)), None)
        await self.respond(send, events, gap, after, scope)

    async def respond(
        self, send: Send, events: list[Event], gap: Gap | None, after: int, scope: Scope
    ) -> None:
        """The answer to a poll; written whole by the server's protocol when it offers that
        (the fast path: no ASGI messages, no per-header checks), else through `send`."""
        body = answer_body(events, gap, after)
        respond = direct_respond(scope, self.hub.config)
        if respond is None or not respond(body):
            await send_json(send, 200, body)
        self.count_delivered(events)


def answer_body(events: list[Event], gap: Gap | None, after: int) -> bytes:
    """A poll's answer: its events, and the cursor of the next poll."""
    next_id = events[-1].id if events else (0 if gap is not None and gap.reset else after)
    return longpoll.encode_response(events, next_id, gap)


EXPIRY_SLOT_SECONDS = 0.1
"""Held polls' timeouts are kept by one timer per tenth of a second: a poll the protocol holds
is answered at most this long after its timeout."""


class ProtocolPolls:
    """Long polls answered by the HTTP protocol itself, with no ASGI cycle, no task and no
    middleware (`servers.protocol.RequestTaker`), on the direct fan-out with the memory
    broker: the poll is parsed and admitted, answered from the backlog or held, and the
    publisher's fan-out writes its answer.

    It takes only the plain case: a request with an `Origin` this server refuses, a token or
    parameter that does not pass, a poll without `after`, a backlog with a gap, or any other
    unusual request is left to the app, which checks it again and answers it (refusals are
    counted there). Every check of the app's path is made here first: the Origin rule, the
    token and its rights, the connection caps; the head's size and time limits are the
    protocol's own."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.endpoint = PollEndpoint(hub)
        self.expiring: dict[int, set[HeldPoll]] = {}
        """Held polls by the tenth of a second their timeout falls in (`expire_after`)."""
        self.settling: list[HeldPoll] = []
        """Polls woken since the loop's last turn, settled together (`settle_soon`)."""

    def take(self, request: TakenRequest) -> bool:
        hub, limits = self.hub, self.hub.limits
        parts = parse_room_path(request.path.decode("latin-1"))
        if parts is None or parts[2] != SUBSCRIBE["longpoll"]:
            return False
        namespace, room, _ = parts
        # The part of an ASGI scope the app's own checks read: they are the checks made here.
        scope: Scope = {
            "headers": request.headers,
            "query_string": request.query,
            "client": request.client,
            "path_params": {"room": room} if namespace is None else {"namespace": namespace,
                                                                    "room": room},
        }  # fmt: skip
        if foreign_origin(scope, hub.origins) is not None:
            return False
        try:
            space, _ = self.endpoint.admit(scope, room_of(scope))
            broker = space.broker
            if not isinstance(broker, MemoryBroker):
                return False
            params = query(scope)
            after = parse_after(params.get("after"))
            hold_seconds = parse_seconds(params.get("timeout"), limits.poll_timeout_default,
                                         limits.poll_timeout_max, "timeout")  # fmt: skip
            if after is None:
                return False
            backlog = broker.backlog_now(room, after, limits.poll_batch)
        except RtbenchError:
            return False
        if backlog.gap is not None:
            return False
        if backlog.events:
            request.respond(answer_body(backlog.events, None, after))
            self.endpoint.count_delivered(backlog.events)
            return True
        return self.hold(request, space, broker, room, after, hold_seconds, address_of(scope))

    def hold(
        self,
        request: TakenRequest,
        space: Space,
        broker: MemoryBroker,
        room: str,
        after: int,
        hold_seconds: float,
        address: str,
    ) -> bool:
        """Hold the poll: its subscription's sink is the request's answer; its timeout, the
        client leaving or a queued item end it."""
        hub, limits = self.hub, self.hub.limits
        subscription = Subscription(limits.poll_batch, one_shot=True, max_bytes=limits.queue_bytes)
        fields = {"room": room, "address": address}
        try:
            hub.opened(subscription, space, **fields)
        except RtbenchError:
            return False
        try:
            broker.subscribe_now(subscription, room, after)
        except RtbenchError:
            hub.closed(subscription, **fields)
            return False
        poll = HeldPoll(self, request, subscription, broker, after, fields)
        self.expire_after(poll, hold_seconds)
        subscription.attach(request, direct_answer)
        request.on_lost(poll.client_left)
        request.overtaken = poll.overtaken
        subscription.when_woken(poll.woken)
        return True

    def expire_after(self, poll: HeldPoll, hold_seconds: float) -> None:
        """Time the poll out with every poll due in the same tenth of a second: one timer
        for them all, instead of a timer created and cancelled for each poll."""
        loop = poll.request.loop
        slot = math.ceil((loop.time() + hold_seconds) / EXPIRY_SLOT_SECONDS)
        due = self.expiring.get(slot)
        if due is None:
            due = self.expiring[slot] = set()
            loop.call_at(slot * EXPIRY_SLOT_SECONDS, self.expire, slot)
        due.add(poll)
        poll.slot = slot

    def expire(self, slot: int) -> None:
        for poll in self.expiring.pop(slot, ()):
            poll.subscription.close(CloseReason.TIMEOUT)

    def settle_soon(self, poll: HeldPoll) -> None:
        """Settle `poll` on the loop's next turn (it may be woken inside a fan-out, which its
        release would change under it), with every poll a fan-out answered: one callback."""
        if not self.settling:
            poll.request.loop.call_soon(self.settle_all)
        self.settling.append(poll)

    def settle_all(self) -> None:
        polls, self.settling = self.settling, []
        for poll in polls:
            try:
                poll.settle()
            except Exception:  # one poll's failure must not leave the others held
                log.exception("a held poll could not be settled")


class HeldPoll:
    """A poll the protocol holds (`ProtocolPolls.hold`), until its answer is written, its
    timeout passes or its client leaves."""

    __slots__ = ("after", "broker", "fields", "polls", "request", "slot", "subscription")

    def __init__(
        self,
        polls: ProtocolPolls,
        request: TakenRequest,
        subscription: Subscription,
        broker: MemoryBroker,
        after: int,
        fields: dict[str, str],
    ) -> None:
        self.polls = polls
        self.request = request
        self.subscription = subscription
        self.broker = broker
        self.after = after
        self.fields = fields
        self.slot = 0

    def woken(self) -> None:
        self.polls.settle_soon(self)

    def client_left(self) -> None:
        self.subscription.close(CloseReason.CLIENT_LEFT)

    def overtaken(self) -> None:
        self.subscription.close(CloseReason.TIMEOUT)  # answered now with what it has

    def settle(self) -> None:
        """Answer with what was queued unless the fan-out answered or the client left; then
        let the subscription go."""
        polls, subscription = self.polls, self.subscription
        due = polls.expiring.get(self.slot)
        if due is not None:
            due.discard(self)
        if subscription.close_reason not in (CloseReason.CLIENT_LEFT, CloseReason.ANSWERED):
            items = subscription.take(polls.hub.limits.poll_batch)
            events = [item for item in items if isinstance(item, Event)]
            gap = next((item for item in items if isinstance(item, Gap)), None)
            if self.request.respond(answer_body(events, gap, self.after)):
                polls.endpoint.count_delivered(events)
        subscription.close(CloseReason.CLIENT_LEFT)  # no-op once closed
        self.broker.release_now(subscription)
        polls.hub.closed(subscription, **self.fields)


def direct_answer(item: Item) -> bytes | None:
    """A held poll's answer by the fast path: one event, its body built once for every
    subscriber; anything else (a gap notice) goes the ASGI way."""
    return longpoll.event_response(item) if isinstance(item, Event) else None


class LongPollTransport(Transport):
    name = "longpoll"

    def routes(self, hub: Hub) -> list[BaseRoute]:
        endpoint = PollEndpoint(hub)
        return [Route(path, endpoint, methods=["GET"]) for path in room_paths(SUBSCRIBE[self.name])]

    def hot_routes(self, hub: Hub) -> HotRoutes:
        return {("GET", SUBSCRIBE[self.name]): PollEndpoint(hub)}

    def taker(self, hub: Hub) -> ProtocolPolls | None:
        """Polls answered by the protocol: on the direct fan-out (with the memory broker:
        other brokers' polls go to the app)."""
        return ProtocolPolls(hub) if hub.config.fanout == "direct" else None
