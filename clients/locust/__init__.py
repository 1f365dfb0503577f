"""Locust users, one per transport, behind one task interface.

Each user subscribes to a room in a greenlet of its own (reconnecting with backoff and resuming
by id) and publishes from its task. Every delivery is timed against the `t` its publisher put in
the event and recorded in a raw HdrHistogram per process (Locust's own percentiles are
bucketed, so they are never used for latency); a Locust request event is fired too, so the web
UI shows live delivery figures. The transports speak through the core's sans-I/O codecs on
plain (gevent-patched) sockets: Locust's `iter_lines` waits for 1,024 bytes (+500 ms on small
SSE frames) and httpx under gevent costs ~0.5 ms per request, so neither is used.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, task
from websockets.sync.client import connect as ws_connect

from clients.aio.probe import Tally
from clients.stamped import payload
from core import jsonc
from core.backoff import Backoff
from core.urls import events_path, room_path, subscribe_path
from core.wire import http, sse

LOWEST_US, HIGHEST_US = 1, 60_000_000


@dataclass
class Measurements:
    """Everything this Locust process saw; written out at test stop."""

    histogram: HdrHistogram = field(default_factory=lambda: HdrHistogram(LOWEST_US, HIGHEST_US, 3))
    tallies: list[tuple[str, Tally]] = field(default_factory=list)
    cursors: list[int] = field(default_factory=list)
    """Each user's room id when it subscribed: what it must receive starts after it."""
    published: int = 0
    publish_errors: int = 0
    reconnects: int = 0
    subscribe_errors: list[str] = field(default_factory=list)
    clock_offset_ns: int | None = None
    """What to add to this host's clock to read the reference host's, when this process runs
    on another host than the others (`scenarios.load.clock`); every stamp and receive time is
    read on that clock, so that a latency between two hosts is one clock's difference."""
    clock_uncertainty_ns: int = 0

    def now_ns(self) -> int:
        """The time on the reference clock."""
        return time.time_ns() + (self.clock_offset_ns or 0)

    def as_json(self, last_ids: dict[str, int]) -> dict[str, Any]:
        return {
            "histogram": self.histogram.encode().decode("ascii"),
            "delivered": sum(t.delivered for _, t in self.tallies),
            "expected": sum(
                max(0, last_ids.get(room, 0) - start)
                for (room, _), start in zip(self.tallies, self.cursors, strict=True)
            ),
            "lost": sum(t.lost(last_ids.get(room, 0)) for room, t in self.tallies),
            "duplicated": sum(t.duplicated for _, t in self.tallies),
            "reordered": sum(t.reordered for _, t in self.tallies),
            "gap_notices": sum(t.gap_notices for _, t in self.tallies),
            "published": self.published,
            "publish_errors": self.publish_errors,
            "reconnects": self.reconnects,
            "subscribe_errors": self.subscribe_errors[:5],
            "users": len(self.tallies),
            **({"clock_offset_ns": self.clock_offset_ns,
                "clock_uncertainty_ns": self.clock_uncertainty_ns}
               if self.clock_offset_ns is not None else {}),
        }  # fmt: skip


MEASUREMENTS = Measurements()


def measurements_file(environment: Any, path: str) -> None:
    """Write this process's measurements (with each room's last id, asked of the server) to
    `path`; a distributed worker appends its pid, so workers never overwrite each other."""
    import json as json_module
    import os
    import urllib.request

    last_ids = {}
    for room in sorted({room for room, _ in MEASUREMENTS.tallies}):
        with urllib.request.urlopen(environment.host + room_path(room), timeout=10) as response:
            last_ids[room] = json_module.load(response)["last_id"]
    if environment.runner is not None and type(environment.runner).__name__ == "WorkerRunner":
        path = f"{path}.{os.getpid()}"
    with open(path, "w") as f:
        json_module.dump({"pid": os.getpid(), **MEASUREMENTS.as_json(last_ids)}, f)


class RealtimeUser(FastHttpUser):
    """Subscribe to one room, publish into it; the transport decides how."""

    abstract = True
    transport = ""
    rooms = 10
    publish_until = float("inf")
    """Wall-clock time after which users stop publishing (so the run can drain)."""
    payload_bytes = 90
    record_after = 0.0
    """Wall-clock time before which latencies are not recorded (users still spawning)."""

    def on_start(self) -> None:
        parts = urlsplit(str(self.host))
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.netloc = parts.netloc
        self.room = f"locust-{random.randrange(self.rooms)}"
        self.sent = 0
        self.tally = Tally()
        response = self.client.get(room_path(self.room), name="/rooms/[room]")
        self.tally.last_id = response.json()["last_id"] if response.status_code == 200 else 0
        MEASUREMENTS.tallies.append((self.room, self.tally))
        MEASUREMENTS.cursors.append(self.tally.last_id)
        self.subscriber = gevent.spawn(self.subscribe_forever)

    def on_stop(self) -> None:
        self.subscriber.kill(block=False)

    def subscribe_forever(self) -> None:
        backoff, attempt = Backoff(initial=0.05, maximum=2.0), 0
        while True:
            try:
                self.subscribe(self.tally.last_id)
                attempt = 0
            except gevent.GreenletExit:
                raise
            except Exception as exc:
                MEASUREMENTS.subscribe_errors.append(f"{type(exc).__name__}: {exc}")
            MEASUREMENTS.reconnects += 1
            gevent.sleep(backoff.delay(attempt))
            attempt += 1

    def subscribe(self, after: int) -> None:
        raise NotImplementedError

    def received(self, body: dict[str, Any], size: int) -> None:
        now_ns = MEASUREMENTS.now_ns()
        if "gap" in body:
            self.tally.gap_notices += 1
            return
        if "op" in body or not self.tally.see(body["id"]):
            return
        data = body.get("data")
        if isinstance(data, dict) and "t" in data and now_ns >= self.record_after * 1e9:
            latency_us = min(max((now_ns - data["t"]) / 1000, LOWEST_US), HIGHEST_US)
            MEASUREMENTS.histogram.record_value(int(latency_us))
            self.environment.events.request.fire(
                request_type=self.transport,
                name="deliver",
                response_time=latency_us / 1000,
                response_length=size,
                exception=None,
                context={},
            )

    def body(self) -> bytes:
        """The publish body `{"data": {"seq", "t", "pad"}}`, sized as the lean driver's."""
        self.sent += 1
        return payload(self.sent, MEASUREMENTS.now_ns(), self.payload_bytes)

    @task
    def chat(self) -> None:
        """The one task: say something in the room (until the run stops publishing)."""
        if time.time() < self.publish_until:
            self.publish()

    def publish(self) -> None:
        response = self.client.post(
            events_path(self.room),
            data=self.body().decode(),
            headers={"content-type": "application/json"},
            name="/rooms/[room]/events",
        )
        if response.status_code == 201:
            MEASUREMENTS.published += 1
        else:
            MEASUREMENTS.publish_errors += 1


class SSEUser(RealtimeUser):
    abstract = True
    transport = "sse"

    def subscribe(self, after: int) -> None:
        with socket.create_connection(self.address, timeout=60) as sock:
            headers = {"accept": "text/event-stream", "last-event-id": str(after)}
            path = subscribe_path("sse", self.room)
            sock.sendall(http.build_request("GET", path, self.netloc, headers))
            reader, parser = http.ResponseReader(), sse.SSEParser()
            while chunk := sock.recv(65536):
                for part in reader.feed(chunk):
                    if isinstance(part, http.Head) and part.status != 200:
                        raise ConnectionError(f"expected 200 for the SSE stream, got {part.status}")
                    if isinstance(part, http.Body):
                        for message in parser.feed(part.data):
                            self.received(jsonc.loads_fast(message.data), len(message.data))


class LongPollUser(RealtimeUser):
    abstract = True
    transport = "longpoll"

    def subscribe(self, after: int) -> None:
        with socket.create_connection(self.address, timeout=60) as sock:
            reader, cursor = http.ResponseReader(), after
            while True:
                target = subscribe_path("longpoll", self.room, cursor, timeout=25)
                sock.sendall(http.build_request("GET", target, self.netloc))
                status, body = 0, b""
                done = False
                while not done:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the poll connection")
                    for part in reader.feed(chunk):
                        if isinstance(part, http.Head):
                            status = part.status
                        elif isinstance(part, http.Body):
                            body += part.data
                        else:
                            done = True
                if status != 200:
                    raise ConnectionError(f"expected 200 for a poll, got {status}")
                response = jsonc.loads_fast(body)
                cursor = response["next"]
                if "gap" in response:
                    self.tally.gap_notices += 1
                for event in response["events"]:
                    self.received(event, len(body) // max(1, len(response["events"])))


class WebSocketUser(RealtimeUser):
    """Publishes over its own socket, as a WebSocket client would."""

    abstract = True
    transport = "ws"

    def on_start(self) -> None:
        self.socket: Any = None
        self.connected = gevent.event.Event()
        super().on_start()

    def subscribe(self, after: int) -> None:
        url = f"ws://{self.netloc}" + subscribe_path("ws", self.room, after)
        with ws_connect(url, compression=None, open_timeout=10) as websocket:
            self.socket = websocket
            self.connected.set()
            try:
                for frame in websocket:
                    self.received(jsonc.loads_fast(frame), len(frame))
            finally:
                self.connected.clear()

    def publish(self) -> None:
        if not self.connected.wait(timeout=10):  # the socket is (re)connecting
            MEASUREMENTS.publish_errors += 1
            return
        started = time.perf_counter()
        try:
            self.socket.send((b'{"op":"publish",' + self.body()[1:]).decode())
        except Exception as exc:
            MEASUREMENTS.publish_errors += 1
            self.environment.events.request.fire(
                request_type="ws",
                name="publish",
                response_time=0,
                response_length=0,
                exception=exc,
                context={},
            )
            return
        MEASUREMENTS.published += 1
        self.environment.events.request.fire(
            request_type="ws",
            name="publish",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None,
            context={},
        )
