"""Subscribers of Nchan (nginx's pub/sub module, `peers/nchan.py`) on its three subscriber
protocols, for the same driver as ours.

Nchan delivers each published body unchanged and numbers messages its own way (`<time>:<tag>`):
the event's id, for loss and order, is the publisher's sequence in the data plus one (the
publisher numbers events itself for a server that does not: `Adapter.numbers_events`). Each
probe keeps Nchan's id of the newest message in its tally's `resume_token`, and a subscriber
that reconnects resumes from it (`Last-Event-ID`), as Nchan's own clients do.

- `nchan-sse`: EventSource; Nchan's id is the `id:` line.
- `nchan-longpoll`: one message a response; the next request carries the response's
  `Last-Modified` and `Etag` back (`If-Modified-Since`, `If-None-Match`), Nchan's long-poll
  protocol; its id is `<Last-Modified as a Unix time>:<Etag>`.
- `nchan-ws`: the `ws+meta.nchan` subprotocol, whose text frames start with `id: …` headers
  and a blank line before the body.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from clients.aio.probe import PollProbe, Probe, SSEProbe, WSProbe
from core import jsonc
from core.urls import subscribe_path
from core.wire import http, sse


def event_of(body: bytes | str, room: str) -> dict[str, Any]:
    """Our event object from a body Nchan delivered: the publisher's `{"data": {...}}`."""
    data = jsonc.loads_fast(body)["data"]
    return {"id": int(data["seq"]) + 1, "room": room, "data": data}


def resumed(probe: Probe) -> dict[str, str]:
    """The header that resumes after the newest message the subscriber had, when it had one."""
    token = probe.tally.resume_token
    return {"last-event-id": token} if token else {}


class NchanSSEProbe(SSEProbe):
    transport_name = "nchan-sse"

    def start(self) -> None:
        self.reader = http.ResponseReader()
        self.parser = sse.SSEParser()
        headers = {**self.headers, "accept": "text/event-stream", **resumed(self)}
        path = subscribe_path("sse", self.room)
        self.write(http.build_request("GET", path, self.netloc, headers))

    def feed(self, data: bytes, received_ns: int) -> None:
        self.feed_parts(data, received_ns)  # Nchan's records are not ours: no fast path

    def message(self, message: sse.SSEMessage, received_ns: int) -> None:
        if message.data:
            self.tally.resume_token = message.id
            self.deliver(event_of(message.data, self.room), received_ns)


class NchanPollProbe(PollProbe):
    transport_name = "nchan-longpoll"

    def start(self) -> None:
        self.since: dict[str, str] = {}
        """The previous answer's Last-Modified and Etag, sent back as Nchan asks."""
        super().start()

    def poll(self) -> None:
        headers = {**self.headers, **(self.since or resumed(self))}
        path = subscribe_path("longpoll", self.room)
        self.write(http.build_request("GET", path, self.netloc, headers))
        self.polls += 1

    def answered(self, body: bytes, received_ns: int) -> None:
        if self.status != 200:
            self.fail(f"expected 200 for an Nchan long poll, got {self.status}")
            return
        headers = self.answer_head.headers if self.answer_head is not None else {}
        modified = headers.get("last-modified", "")
        tag = headers.get("etag", "").strip('"')
        self.since = {"if-modified-since": modified, "if-none-match": tag}
        self.tally.resume_token = f"{int(parsedate_to_datetime(modified).timestamp())}:{tag}"
        self.poll()  # ask again before counting, as ours does
        self.deliver(event_of(body, self.room), received_ns)


class NchanWSProbe(WSProbe):
    transport_name = "nchan-ws"
    SUBPROTOCOL = "ws+meta.nchan"

    def start(self) -> None:
        self.headers = {**self.headers, "sec-websocket-protocol": self.SUBPROTOCOL,
                        **resumed(self)}  # fmt: skip
        super().start()

    def target(self) -> str:
        return subscribe_path("ws", self.room)

    def text(self, data: bytes, received_ns: int) -> None:
        meta, _, body = data.partition(b"\n\n")
        for line in meta.split(b"\n"):
            name, _, value = line.partition(b": ")
            if name == b"id":
                self.tally.resume_token = value.decode()
        self.deliver(event_of(body, self.room), received_ns)


PROBES: dict[str, type[Probe]] = {
    "nchan-longpoll": NchanPollProbe,
    "nchan-sse": NchanSSEProbe,
    "nchan-ws": NchanWSProbe,
}
