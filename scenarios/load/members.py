"""Members that publish into their own room through their own transport, open loop: the
chat, collaboration and games workloads' sending side."""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from typing import Any

from clients.aio.probe import Probe, WSProbe
from clients.stamped import payload
from core import jsonc
from core.urls import events_path
from core.wire import http
from scenarios import ipc
from scenarios.load.publisher import PublishConnection, Schedule
from scenarios.load.recording import LatencyRecorder, drain, report
from scenarios.measure import encode, new_histogram, record_us, summary


class Chat:
    """Members publish into their own room through their own transport, open loop: over the
    socket for WebSocket (`{"op": "publish"}`), over a POST on the member's own keep-alive
    connection for SSE and long polling. Every member receives its room, its own messages
    included, so the cost of client-to-server traffic shows in the same figures.

    With `acknowledged`, each message waits for its acknowledgement, as an edit in a shared
    document does: the WebSocket frame carries an `ack` number the server echoes, a POST is
    acknowledged by its 201; the time from the scheduled send to the acknowledgement is kept."""

    def __init__(
        self,
        args: argparse.Namespace,
        probes: list[Probe],
        recorder: LatencyRecorder,
        command: dict[str, Any],
    ) -> None:
        self.args = args
        self.probes = probes
        self.recorder = recorder
        self.member_rate = float(command["member_rate"])
        self.warmup = float(command["warmup"])
        self.duration = float(command["duration"])
        self.size = int(command["payload_bytes"])
        self.drain_seconds = float(command["drain_seconds"])
        self.posts: dict[int, PublishConnection] = {}
        self.room_last: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.published = 0
        self.lag = new_histogram()
        self.acknowledged = bool(command.get("acknowledged"))
        self.acknowledgement = new_histogram()
        self.awaiting: dict[int, int] = {}
        """Scheduled send time (ns) of each measured WebSocket publish, by its `ack` number."""

    async def connect_posts(self) -> None:
        if self.args.transport == "ws":
            return
        loop = asyncio.get_running_loop()
        probe = self.probes[0]
        for index in range(len(self.probes)):
            _, conn = await loop.create_connection(
                PublishConnection,
                probe.host,
                probe.port,
                ssl=probe.tls,
                server_hostname=probe.host if probe.tls else None,
            )
            self.posts[index] = conn

    def send(self, index: int, seq: int, scheduled_ns: int, measured: bool) -> None:
        probe = self.probes[index]
        if measured:
            record_us(self.lag, (time.time_ns() - scheduled_ns) / 1000)
        body = payload(seq, scheduled_ns, self.size)
        if isinstance(probe, WSProbe):
            op = b'{"op":"publish",'
            if self.acknowledged:
                op += b'"ack":%d,' % seq
                if measured:
                    self.awaiting[seq] = scheduled_ns
            probe.publish(op + body[1:])  # body is {"data": ...}
            return
        request = http.build_request(
            "POST",
            events_path(probe.room),
            probe.netloc,
            {"content-type": "application/json"},
            body,
        )
        self.posts[index].request(request).add_done_callback(
            functools.partial(self.answered, probe.room, scheduled_ns if measured else None)
        )

    def answered(
        self, room: str, scheduled_ns: int | None, future: asyncio.Future[tuple[int, bytes]]
    ) -> None:
        try:
            status, body = future.result()
        except ConnectionError as exc:
            self.errors[str(exc)] = self.errors.get(str(exc), 0) + 1
            return
        if status == 201 and self.acknowledged and scheduled_ns is not None:
            record_us(self.acknowledgement, (time.time_ns() - scheduled_ns) / 1000)
        if status == 201:
            self.published += 1
            event_id = jsonc.loads_fast(body)["id"]
            self.room_last[room] = max(self.room_last.get(room, 0), event_id)
        else:
            self.errors[f"HTTP {status}"] = self.errors.get(f"HTTP {status}", 0) + 1

    def acked(self, number: int, received_ns: int) -> None:
        scheduled_ns = self.awaiting.pop(number, None)
        if scheduled_ns is not None:
            record_us(self.acknowledgement, (received_ns - scheduled_ns) / 1000)

    def last_id(self, probe: Probe) -> int:
        return self.room_last.get(probe.room, 0)

    async def run(self) -> None:
        await self.connect_posts()
        if self.acknowledged:
            for probe in self.probes:
                probe.on_ack = self.acked
        members = len(self.probes)
        schedule = Schedule(members * self.member_rate, self.warmup, self.duration)
        warmup_count, total = schedule.warmup_count, schedule.total
        async for seq, scheduled_ns in schedule:
            self.send(seq % members, seq, scheduled_ns, seq >= warmup_count)
        measured_ended = time.time_ns()
        measured_started = schedule.measured_started_ns
        await asyncio.sleep(0.5)  # the last answers and acks
        for probe in self.probes:
            if isinstance(probe, WSProbe):
                self.published += probe.acks
                self.room_last[probe.room] = max(self.room_last.get(probe.room, 0), probe.acked_id)
        complete = await drain(self.probes, self.last_id, self.drain_seconds)
        measured = total - warmup_count
        refused = sum(p.replies_refused for p in self.probes)
        if refused:
            self.errors["refused over the socket"] = refused
        if self.awaiting:
            self.errors["never acknowledged"] = len(self.awaiting)
        tcp, app = [0, 0], [0, 0]
        for conn in self.posts.values():
            counted = conn.wire_bytes() or (0, 0)
            tcp = [tcp[0] + counted[0], tcp[1] + counted[1]]
            app = [app[0] + conn.bytes_out, app[1] + conn.bytes_in]
        published = ipc.Published(
            published=self.published,
            warmup=warmup_count,
            measured=measured,
            last_id=max(self.room_last.values(), default=0),
            achieved_rate=round(measured / max(1e-9, (measured_ended - measured_started) / 1e9), 3),
            lag=summary(self.lag),
            lag_histogram=encode(self.lag),
            errors=self.errors,
        )
        if self.acknowledged:
            published["acknowledgement_histogram"] = encode(self.acknowledgement)
        report(self.probes, self.recorder, self.last_id, complete, None, (tcp, app), published)
        for conn in self.posts.values():
            if conn.transport is not None:
                conn.transport.close()
