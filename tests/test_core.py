"""The sans-I/O core on its own: buffer, subscriptions, broker, config, backoff."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from core import (
    CloseReason,
    ConfigError,
    Event,
    Gap,
    InvalidRoom,
    Item,
    Limits,
    MemoryBroker,
    PayloadTooLarge,
    ResumeBuffer,
    RoomLimitReached,
    ServerConfig,
    Subscription,
    jsonc,
    urls,
    validate_room,
)
from core.backoff import Backoff
from core.counters import Stats
from core.decoding import parse_publish_body
from core.subscription import fan_out


def event(n: int, room: str = "r", data: object = None) -> Event:
    return Event(n, room, data if data is not None else n)


def test_buffer_keeps_last_n_and_reports_gap() -> None:
    buffer = ResumeBuffer("r", max_events=3, max_bytes=1 << 20)
    for n in range(1, 8):
        buffer.append(event(n))
    assert [e.id for e in buffer.events] == [5, 6, 7]
    backlog = buffer.since(2)
    assert backlog.gap == Gap("r", 3, 4)
    assert [e.id for e in backlog.events] == [5, 6, 7]
    assert buffer.since(4).gap is None and [e.id for e in buffer.since(5).events] == [6, 7]
    assert buffer.since(7).events == [] and buffer.since(7).gap is None
    assert [e.id for e in buffer.since(0, limit=2).events] == [5, 6]


def test_buffer_since_is_the_slice_after_the_cursor_from_either_end() -> None:
    rng = random.Random(7)
    for _ in range(300):
        buffer = ResumeBuffer("r", max_events=rng.randint(1, 40), max_bytes=1 << 20)
        for n in range(1, rng.randint(1, 60)):
            buffer.append(event(n))
        kept = [e.id for e in buffer.events]
        after = rng.randint(max(0, kept[0] - 3), buffer.last_id) if kept else 0
        limit = rng.choice([None, 1, 2, 5, 100])
        wanted = [i for i in kept if i > after][:limit]
        assert [e.id for e in buffer.since(after, limit).events] == wanted


def test_buffer_byte_bound_keeps_newest_event() -> None:
    buffer = ResumeBuffer("r", max_events=100, max_bytes=10)
    for n in range(1, 4):
        buffer.append(event(n, data="x" * 50))
    assert [e.id for e in buffer.events] == [3]


def test_buffer_refuses_out_of_order_ids() -> None:
    buffer = ResumeBuffer("r", 10, 1000)
    with pytest.raises(ValueError, match="expected event id 1, got 2"):
        buffer.append(event(2))


def test_cursor_ahead_is_a_reset() -> None:
    buffer = ResumeBuffer("r", 10, 1000)
    buffer.append(event(1))
    backlog = buffer.since(9)
    assert backlog.gap == Gap("r", 1, 9, reset=True)
    assert [e.id for e in backlog.events] == [1]


def test_subscription_overflow_closes_as_slow() -> None:
    sub = Subscription(2)
    assert sub.offer(event(1)) and sub.offer(event(2))
    assert not sub.offer(event(3))
    assert sub.close_reason is CloseReason.SLOW
    assert [e.id for e in sub.take()] == [1, 2]  # type: ignore[union-attr]


def test_a_queue_is_bounded_in_bytes_as_well_as_in_items() -> None:
    size = len(event(1).json)
    sub = Subscription(100, max_bytes=3 * size)
    assert all(sub.offer(event(n)) for n in (1, 2, 3)) and sub.queued_bytes == 3 * size
    assert not sub.offer(event(4))
    assert sub.close_reason is CloseReason.SLOW
    alone = Subscription(100, max_bytes=1)  # one item is always taken, however large
    assert alone.offer(event(1)) and not alone.offer(event(2))


def test_taking_frees_the_bytes_and_the_replay_allowance_covers_them_once() -> None:
    size = len(event(1).json)
    sub = Subscription(100, max_bytes=2 * size)
    assert sub.offer(event(1)) and sub.offer(event(2))
    assert len(sub.take(1)) == 1 and sub.queued_bytes == size
    sub.take()
    backlog = [event(n) for n in range(3, 13)]
    assert sub.replay(backlog)  # ten, past the two the queue holds: room is made, once
    assert sub.max_bytes == sum(len(e.json) for e in backlog) + 2 * size
    sub.take()
    assert sub.queued_bytes == 0 and sub.max_bytes == 2 * size


def test_one_shot_subscription_fills_without_being_slow() -> None:
    sub = Subscription(1, one_shot=True)
    sub.offer(event(1))
    sub.offer(event(2))
    assert sub.close_reason is CloseReason.FULL


def test_replay_longer_than_queue_is_accepted() -> None:
    sub = Subscription(2)
    assert sub.replay([event(n) for n in range(1, 11)])
    assert len(sub.take()) == 10 and sub.capacity == 2


def test_the_replay_allowance_is_granted_once() -> None:
    sub = Subscription(4)
    assert sub.replay([event(n) for n in range(1, 11)])  # past the queue: room is made once
    assert sub.replay([event(n) for n in range(11, 13)])  # within the raised capacity
    assert not sub.replay([event(n) for n in range(13, 40)])  # no second allowance: slow
    assert sub.close_reason is not None


async def test_broker_ids_are_gap_free_per_room_and_fan_out() -> None:
    broker = MemoryBroker(Limits())
    a, b = Subscription(10), Subscription(10)
    await broker.subscribe(a, "one", None)
    await broker.subscribe(b, "two", None)
    e1 = await broker.publish("one", "x")
    e2 = await broker.publish("one", "y", exclude=a)
    e3 = await broker.publish("two", "z")
    assert (e1.id, e2.id, e3.id) == (1, 2, 1)
    assert a.take() == [e1] and b.take() == [e3]
    assert broker.subscribers_by_room() == {"one": 1, "two": 1}
    await broker.release(a)
    assert broker.subscribers_by_room() == {"two": 1}


async def test_broker_drops_slow_subscriber_and_counts_it() -> None:
    broker = MemoryBroker(Limits(queue_events=2))
    slow, fast = Subscription(2), Subscription(100)
    await broker.subscribe(slow, "r", None)
    await broker.subscribe(fast, "r", None)
    for n in range(5):
        await broker.publish("r", n)
    assert slow.close_reason is CloseReason.SLOW
    assert broker.stats.dropped_subscribers == 1
    assert [e.id for e in fast.take()] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert broker.subscribers_by_room() == {"r": 1}


async def test_broker_room_limit() -> None:
    broker = MemoryBroker(Limits(max_rooms=1))
    await broker.publish("a", 1)
    with pytest.raises(RoomLimitReached, match="expected at most 1 rooms"):
        await broker.publish("b", 1)


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "é", "a/b", None, 3])
def test_invalid_room_names(name: object) -> None:
    with pytest.raises(InvalidRoom, match="expected a room name of 1-64 characters"):
        validate_room(name)


def test_valid_room_names() -> None:
    for name in ["a", "A.b-c_9", "x" * 64]:
        assert validate_room(name) == name


def test_publish_body_errors_say_what_was_expected() -> None:
    assert parse_publish_body(b'{"data": [1]}', 100) == [1]
    with pytest.raises(PayloadTooLarge, match="expected a body of at most 5 bytes, got 13"):
        parse_publish_body(b'{"data": [1]}', 5)


def test_config_from_toml_mapping_and_errors() -> None:
    config = ServerConfig.from_mapping({"port": 9000, "limits": {"queue_events": 8}})
    assert config.port == 9000 and config.limits.queue_events == 8
    with pytest.raises(ConfigError, match=r"unknown limits\.queue"):
        ServerConfig.from_mapping({"limits": {"queue": 8}})
    with pytest.raises(ConfigError, match="expected int for port, got str"):
        ServerConfig.from_mapping({"port": "80"})
    with pytest.raises(ConfigError, match=r"expected a positive number for limits\.buffer_events"):
        Limits(buffer_events=0)


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0)
    assert [backoff.cap(n) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    rng = random.Random(7)
    delays = [backoff.delay(10, rng) for _ in range(200)]
    assert all(0 <= d <= 1.0 for d in delays) and len(set(delays)) == 200
    with pytest.raises(ConfigError):
        Backoff(initial=2, maximum=1)


class FakeSink:
    """A socket as the fast path sees it: what it was written, and whether it is ready; a
    watched one tells its subscription when that changes, an unwatched one is asked."""

    def __init__(self, ready: bool = True, watched: bool = True) -> None:
        self._ready = ready
        self.watched = watched
        self.on_change: Callable[[], None] | None = None
        self.written: list[bytes] = []

    @property
    def ready(self) -> bool:
        return self._ready

    @ready.setter
    def ready(self, ready: bool) -> None:
        self._ready = ready
        if self.on_change is not None:
            self.on_change()

    @property
    def writer(self) -> FakeSink:
        return self

    def watch(self, on_change: Callable[[], None] | None) -> bool:
        self.on_change = on_change if self.watched else None
        return self.watched

    def write(self, data: bytes) -> None:
        assert self.ready, "written to while not ready"
        self.written.append(data)


def event_frame(item: Item) -> bytes | None:
    return b"%d" % item.id if isinstance(item, Event) else None


@pytest.mark.parametrize("watched", [True, False], ids=["watched", "asked"])
def test_a_direct_writer_takes_items_only_when_nothing_is_waiting_before_them(
    watched: bool,
) -> None:
    sink = FakeSink(watched=watched)
    sub = Subscription(capacity=4)
    sub.attach(sink, event_frame)
    assert sub.offer(Event(1, "r", None)) and sink.written == [b"1"] and len(sub) == 0
    sink.ready = False  # the socket is paused: the item waits in the queue
    assert sub.offer(Event(2, "r", None)) and len(sub) == 1
    sink.ready = True  # writable again, but event 2 is queued: 3 must not overtake it
    assert sub.offer(Event(3, "r", None)) and sink.written == [b"1"] and len(sub) == 2
    taken = sub.take()
    assert [e.id for e in taken if isinstance(e, Event)] == [2, 3]
    assert sub.offer(Event(4, "r", None)) and len(sub) == 1  # 2 and 3 are being written
    sub.written()
    sub.take()
    sub.written()
    assert sub.offer(Event(5, "r", None)) and sink.written == [b"1", b"5"]
    assert sub.direct_writes == 2
    assert sub.offer(Gap("r", 6, 7)) and len(sub) == 1  # no frame for it: the queue takes it


def test_fan_out_counts_what_the_fast_path_wrote_and_returns_who_it_closed() -> None:
    direct, paused, queued, full, closed, excluded = (Subscription(capacity=1) for _ in range(6))
    sinks = {sub: FakeSink(ready=sub is not paused) for sub in (direct, paused, excluded)}
    for sub, sink in sinks.items():
        sub.attach(sink, event_frame)
    full.offer(Event(1, "r", None))  # its one place is taken
    closed.close(CloseReason.CLIENT_LEFT)
    members = [direct, paused, queued, full, closed, excluded]
    written, refused = fan_out(members, Event(2, "r", None), exclude=excluded)
    assert written == 1 and refused == [full, closed]
    assert sinks[direct].written == [b"2"] and direct.direct_writes == 1
    assert len(paused) == 1 and len(queued) == 1
    assert sinks[excluded].written == [] and excluded.direct_writes == 0
    assert full.close_reason is CloseReason.SLOW


class ClosedSink(FakeSink):
    """A transport closed between the first pass and the write: uvloop raises."""

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")


def test_a_writer_that_raises_does_not_stop_the_fan_out() -> None:
    subs = [Subscription(capacity=4) for _ in range(3)]
    sinks = [FakeSink(), ClosedSink(), FakeSink()]
    for sub, sink in zip(subs, sinks, strict=True):
        sub.attach(sink, event_frame)
    written, refused = fan_out(subs, Event(1, "r", None))
    assert sinks[0].written == sinks[2].written == [b"1"]
    assert written == 2 and refused == []


def test_fan_out_frames_once_per_kind_of_sink_and_answers_one_shots() -> None:
    calls: list[str] = []

    def framing(kind: str) -> Callable[[Item], bytes | None]:
        def frame(item: Item) -> bytes | None:
            calls.append(kind)
            return kind.encode()

        return frame

    frames = {"ws": framing("ws"), "sse": framing("sse"), "poll": framing("poll")}
    streams = [Subscription(capacity=1) for _ in range(4)]
    polls = [Subscription(capacity=1, one_shot=True) for _ in range(2)]
    sinks = [FakeSink(watched=n < 5) for n in range(6)]  # a poll's sink may or may not tell
    for n, sub in enumerate(streams):
        sub.attach(sinks[n], frames["ws" if n % 2 else "sse"])
    for n, sub in enumerate(polls, start=4):
        sub.attach(sinks[n], frames["poll"])
    written, refused = fan_out([*streams, *polls], Event(1, "r", None))
    assert written == 6 and refused == [] and sorted(calls) == ["poll", "poll", "sse", "ws"]
    expected = [[b"sse"], [b"ws"], [b"sse"], [b"ws"], [b"poll"], [b"poll"]]
    assert [s.written for s in sinks] == expected
    assert all(p.close_reason is CloseReason.ANSWERED for p in polls)
    assert not any(s.closed for s in streams)
    assert all(s.on_change is None for s in sinks[4:])  # an answered poll stops watching


def test_a_resume_backlog_is_queued_even_when_the_fast_path_is_open() -> None:
    sink = FakeSink()
    sub = Subscription(capacity=1)
    sub.attach(sink, event_frame)
    assert sub.replay([Event(n, "r", None) for n in (1, 2, 3)])  # past capacity: room is made
    assert sink.written == []
    assert [e.id for e in sub.take() if isinstance(e, Event)] == [1, 2, 3]
    sub.close(CloseReason.CLIENT_LEFT)
    assert not sub.replay([Event(4, "r", None)])


def test_deliveries_counted_at_once_equal_deliveries_counted_one_by_one() -> None:
    at_once, one_by_one = Stats(), Stats()
    for event_id, count in enumerate([1, 7, 8, 9, 100, 3, 4096, 5], start=1):
        published, written = event_id * 1_000_000, event_id * 1_000_000 + 300_000 * event_id
        at_once.count_direct(published, written, count)
        for _ in range(count):
            one_by_one.count_delivery(published, written)
            one_by_one.delivered_direct += 1
    assert at_once.delivered == one_by_one.delivered == at_once.delivered_direct
    assert at_once.latency_histogram.counts == one_by_one.latency_histogram.counts
    assert at_once.latency_histogram.total_s == pytest.approx(one_by_one.latency_histogram.total_s)
    assert at_once.delivery_latency.percentiles_ms() == one_by_one.delivery_latency.percentiles_ms()


def test_a_paused_direct_subscriber_is_still_dropped_past_its_queue() -> None:
    sub = Subscription(capacity=2)
    sub.attach(FakeSink(ready=False), event_frame)
    assert sub.offer(Event(1, "r", None)) and sub.offer(Event(2, "r", None))
    assert not sub.offer(Event(3, "r", None))
    assert sub.close_reason is CloseReason.SLOW


@pytest.mark.parametrize(
    "path",
    ["/rooms/a/events", "/rooms/a/poll", "/ns/chat/rooms/b-1/sse", "/rooms/a", "/rooms//events",
     "/ns//rooms/a/events", "/ns/x/a/events", "/rooms/a/b/c", "/status", "/ns/x/rooms/a/",
     "/rooms/a%2Fb/ws", "/roomsx/a/events"],
)  # fmt: skip
def test_the_hot_path_parser_matches_what_starlette_routes(path: str) -> None:
    from starlette.routing import compile_path

    expected = None
    for template in urls.route_templates("{suffix}"):
        regex, _, _ = compile_path(template)
        if (match := regex.match(path)) is not None:
            found = match.groupdict()
            expected = (found.get("namespace"), found["room"], found["suffix"])
    assert urls.parse_room_path(path) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data": [1, 2.5, "\\u00e9", null]}',
        '{"data": "caf\u00e9"}'.encode("utf-16"),
        '{"data": 1}'.encode("utf-32-le"),
        b'\xef\xbb\xbf{"data": 1}',  # a UTF-8 BOM on bytes is read past
        b'{"big": 123456789012345678901234567890}',
        '"\\ud800"',  # a lone surrogate escape
    ],
)
def test_the_shared_decoder_reads_what_json_loads_reads(raw: bytes | str) -> None:
    assert jsonc.loads(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", ["\ufeff{}", b"NaN", b'{"a": -Infinity}', b"{", b'{"a": 1} x'])
def test_the_shared_decoder_refuses_what_it_must(raw: bytes | str) -> None:
    with pytest.raises(ValueError):
        jsonc.loads(raw)
