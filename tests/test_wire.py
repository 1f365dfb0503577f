"""Wire codecs: the server's encoders and the clients' parsers agree, whatever the chunking."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from core import Event, Gap
from core.wire import http, longpoll, sse, ws

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def deliveries(draw: st.DrawFn) -> list[Event | Gap]:
    count = draw(st.integers(0, 12))
    items: list[Event | Gap] = []
    next_id = draw(st.integers(1, 1000))
    for _ in range(count):
        if draw(st.booleans()) and draw(st.integers(0, 5)) == 0:
            skip = draw(st.integers(1, 50))
            items.append(Gap("room", next_id, next_id + skip - 1))
            next_id += skip
        items.append(Event(next_id, "room", draw(json_values)))
        next_id += 1
    return items


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None)
@given(items=deliveries(), cuts=st.lists(st.integers(0, 10_000), max_size=30), crlf=st.booleans())
def test_sse_stream_parses_the_same_under_any_chunking(
    items: list[Event | Gap], cuts: list[int], crlf: bool
) -> None:
    stream = sse.encode_retry(1000) + sse.PING + b"".join(sse.encode(i) for i in items)
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    parser = sse.SSEParser()
    messages = [m for chunk in split(stream, cuts) for m in parser.feed(chunk)]
    assert [sse.decode(m) for m in messages] == items
    assert parser.retry_ms == 1000 and parser.comments == 1
    last_event = next((i for i in reversed(items) if isinstance(i, Event)), None)
    assert parser.last_event_id == (str(last_event.id) if last_event else None)


@settings(max_examples=100, deadline=None)
@given(items=deliveries(), crlf=st.booleans())
def test_sse_stream_read_a_record_and_a_chunk_at_a_time_parses_the_same(
    items: list[Event | Gap], crlf: bool
) -> None:
    """How a stream of small events arrives: one read per record, each in its own HTTP chunk.
    The reader's and the parser's shortcuts for that case agree with their state machines."""
    records = [sse.PING, *(sse.encode(i) for i in items), b"id: 3\n\n", b"id: 4\ndata: x\n"]
    if crlf:
        records = [r.replace(b"\n", b"\r\n") for r in records]
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    reader, parser, whole = http.ResponseReader(), sse.SSEParser(), sse.SSEParser()
    assert reader.feed(head) == [http.Head(200, {"transfer-encoding": "chunked"})]
    read = [part for r in records for part in reader.feed(http.encode_chunk(r))]
    assert read == [http.Body(r) for r in records]
    messages = [m for r in records for m in parser.feed(r)]
    assert messages == whole.feed(b"".join(records))
    assert [sse.decode(m) for m in messages] == items
    assert parser.last_event_id == whole.last_event_id
    # The measuring client's shortcut reads each event's chunk as the two of them do.
    by = [sse.SSEParser() for _ in records]
    read = [p.one_event_in_chunk(http.encode_chunk(r)) for p, r in zip(by, records, strict=True)]
    one_each = [sse.SSEParser().feed(r) for r in records]
    for found, shortcut, parsed in zip(read, by, one_each, strict=True):
        if found is not None:
            assert [(m.id, m.data) for m in parsed] == [(shortcut.last_event_id, found.decode())]
    assert [f is not None for f in read] == [
        isinstance(i, Event) and not crlf for i in [None, *items, None, None]
    ]


def test_sse_parser_follows_the_spec_edge_cases() -> None:
    parser = sse.SSEParser()
    stream = b"data: a\r\rdata:b\ndata:  c\n\nid: 7\n\n: comment\nevent: gap\ndata\n\nretry: x\n\n"
    messages = parser.feed(stream)
    assert [(m.event, m.data, m.id) for m in messages] == [
        ("message", "a", None),
        ("message", "b\n c", None),
        ("gap", "", "7"),
    ]
    assert parser.retry_ms is None


@settings(max_examples=200, deadline=None)
@given(
    items=deliveries(),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
)
def test_poll_response_parses_the_same_under_any_chunking(
    items: list[Event | Gap], cuts: list[int]
) -> None:
    events = [i for i in items if isinstance(i, Event)]
    gap = next((i for i in items if isinstance(i, Gap)), None)
    next_id = events[-1].id if events else 0
    body = longpoll.encode_response(events, next_id, gap)
    parser = longpoll.PollResponseParser(room="room")
    for chunk in split(body, cuts):
        parser.feed(chunk)
    result = parser.finish()
    assert result.events == events and result.next == next_id and result.gap == gap


@given(items=deliveries())
def test_ws_frames_round_trip(items: list[Event | Gap]) -> None:
    assert [ws.parse_server_frame(ws.encode(i)) for i in items] == items


@given(data=json_values, except_self=st.booleans(), ack=st.none() | st.integers(0, 99))
def test_ws_client_ops_round_trip(data: object, except_self: bool, ack: int | None) -> None:
    ops: list[ws.ClientOp] = [
        ws.Publish(data, None, except_self, ack),
        ws.Join("r.2", 5, ack),
        ws.Leave("r.2", ack),
    ]
    for op in ops:
        assert ws.parse_client_frame(ws.encode_client_op(op)) == op


def test_event_json_is_encoded_once_and_unescaped() -> None:
    event = Event(1, "r", "<script>é</script>")
    assert event.json == '{"id":1,"room":"r","data":"<script>é</script>"}'.encode()
    assert sse.encode_event(event) is sse.encode_event(event)


@st.composite
def http_responses(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A keep-alive stream of responses, some chunked, some with Content-Length."""
    stream, bodies = b"", []
    for _ in range(draw(st.integers(1, 4))):
        pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
        body = b"".join(pieces)
        if draw(st.booleans()):
            framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        else:
            framed = body
            head = b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n" % len(body)
        stream += head + framed
        bodies.append(body)
    return stream, bodies


@settings(max_examples=200, deadline=None)
@given(responses=http_responses(), cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_http_reader_reassembles_responses_under_any_chunking(
    responses: tuple[bytes, list[bytes]], cuts: list[int]
) -> None:
    stream, bodies = responses
    reader = http.ResponseReader()
    parts = [part for chunk in split(stream, cuts) for part in reader.feed(chunk)]
    got: list[bytes] = []
    for part in parts:
        if isinstance(part, http.Head):
            got.append(b"")
        elif isinstance(part, http.Body):
            got[-1] += part.data
    assert got == bodies
    assert sum(isinstance(p, http.End) for p in parts) == len(bodies)


@st.composite
def server_messages(draw: st.DrawFn) -> list[tuple[int, bytes, list[int]]]:
    """Messages as (opcode, payload, fragment sizes); control frames are never fragmented."""
    messages = []
    for _ in range(draw(st.integers(0, 8))):
        opcode = draw(st.sampled_from([ws.OP_TEXT, ws.OP_BINARY, ws.OP_PING, ws.OP_CLOSE]))
        size = draw(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]))
        payload = draw(st.binary(min_size=min(size, 8), max_size=8)) * (size // 8 + 1)
        payload = payload[:size] if opcode < ws.OP_CLOSE else payload[:125]
        splits = [] if opcode >= ws.OP_CLOSE else draw(st.lists(st.integers(1, 70000), max_size=3))
        messages.append((opcode, payload, splits))
    return messages


@settings(max_examples=100, deadline=None)
@given(messages=server_messages(), cuts=st.lists(st.integers(0, 300_000), max_size=30))
def test_server_frames_read_what_websockets_writes_under_any_chunking(
    messages: list[tuple[int, bytes, list[int]]], cuts: list[int]
) -> None:
    from websockets.frames import Frame, Opcode

    stream = b""
    for opcode, payload, splits in messages:
        bounds = sorted({0, len(payload), *(s for s in splits if s < len(payload))})
        pieces = [payload[a:b] for a, b in itertools.pairwise(bounds)] or [b""]
        for index, piece in enumerate(pieces):
            kind = Opcode(opcode) if index == 0 else Opcode.CONT
            frame = Frame(kind, piece, fin=index == len(pieces) - 1)
            stream += frame.serialize(mask=False)
    reader, got = ws.ServerFrames(), []
    for chunk in split(stream, cuts):
        got += reader.feed(chunk)
    assert got == [(opcode, payload) for opcode, payload, _ in messages]


@given(payload=st.binary(max_size=70_000), opcode=st.sampled_from([ws.OP_TEXT, ws.OP_BINARY]))
def test_client_frames_are_masked_frames_websockets_reads(payload: bytes, opcode: int) -> None:
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(ws.client_frame(payload, opcode))
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode.value == opcode and frame.data == payload and frame.fin


def test_server_frames_refuse_masked_compressed_and_oversized_frames() -> None:
    import pytest

    from core.errors import ProtocolError

    for frame, error in [
        (ws.client_frame(b"hi"), "expected an unmasked frame"),
        (bytes((0xC1, 2)) + b"hi", "without extensions"),  # RSV1: a compressed message
        (ws.server_frame(b"x" * 200), "at most 100 bytes, got 200"),
    ]:
        with pytest.raises(ProtocolError, match=error):
            ws.ServerFrames(max_size=100).feed(frame)
