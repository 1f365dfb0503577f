"""Locust broadcast: many listeners in one room, one announcer publishing at a steady rate.

    locust -f scenarios/locustfiles/broadcast.py --host http://127.0.0.1:8000 \
        SSEListener Announcer                      # web UI: pick the number of listeners
    locust -f scenarios/locustfiles/broadcast.py --headless -u 101 -r 50 --run-time 20s \
        --host http://127.0.0.1:8000 --rate 20 --results-file out.json WebSocketListener Announcer

Listeners subscribe (and never publish); the single Announcer posts `--rate` events per second.
Delivery latency is recorded raw, as in the chat locustfile, and shown live in the UI.
"""

from __future__ import annotations

import time
from typing import Any

from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

from clients.locust import LongPollUser, RealtimeUser, SSEUser, WebSocketUser, measurements_file
from clients.payload import payload
from core.urls import events_path

ROOM_COUNT = 1


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--rate", type=float, default=10.0, help="events per second announced")
    parser.add_argument("--payload-bytes", type=int, default=90)
    parser.add_argument("--results-file", default="", help="write raw measurements here at stop")


@events.test_start.add_listener
def configure(environment: Environment, **kwargs: Any) -> None:
    RealtimeUser.rooms = ROOM_COUNT  # every listener in room locust-0


@events.test_stop.add_listener
def write_results(environment: Environment, **kwargs: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.results_file:
        measurements_file(environment, options.results_file)


class Listener:
    """Subscribes only: its task does nothing but keep the user alive."""

    wait_time = constant_throughput(0.1)

    def publish(self) -> None:
        pass


class SSEListener(Listener, SSEUser):
    pass


class LongPollListener(Listener, LongPollUser):
    pass


class WebSocketListener(Listener, WebSocketUser):
    pass


class Announcer(FastHttpUser):
    fixed_count = 1
    seq = 0

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        rate = options.rate if options is not None else 10.0
        return float(constant_throughput(rate)(self))

    @task
    def announce(self) -> None:
        options = self.environment.parsed_options
        size = options.payload_bytes if options is not None else 90
        Announcer.seq += 1
        self.client.post(
            events_path("locust-0"),
            data=payload(Announcer.seq, time.time_ns(), size).decode(),
            headers={"content-type": "application/json"},
            name="announce",
        )
