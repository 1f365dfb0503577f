"""Locust chat: users in rooms, each subscribing through its transport and publishing into its
room at a steady pace (WebSocket users over their socket, the others with a POST).

    locust -f scenarios/load/locustfiles/chat.py --host http://127.0.0.1:8000 SSEChatUser
    locust -f scenarios/load/locustfiles/chat.py --headless -u 200 -r 100 --run-time 20s \
        --host http://127.0.0.1:8000 --rooms 20 --publish-seconds 17 WebSocketChatUser

Raw delivery latencies go to an HdrHistogram per process; with --results-file each process
writes them (and its delivery counts) there at test stop, for `scenarios.run` to merge.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import constant_pacing, events
from locust.env import Environment

from clients.locust import (
    MEASUREMENTS,
    LongPollUser,
    RealtimeUser,
    SSEUser,
    WebSocketUser,
    measurements_file,
)
from scenarios.load.clock import offset_blocking


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    parser.add_argument("--rooms", type=int, default=10, help="rooms the users spread over")
    parser.add_argument(
        "--member-interval", type=float, default=2.0, help="seconds between one user's messages"
    )
    parser.add_argument(
        "--publish-seconds",
        type=float,
        default=0.0,
        help="stop publishing this long after the test starts (0: never)",
    )
    parser.add_argument("--payload-bytes", type=int, default=90)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=0.0,
        help="record no latency for this long after the start (users spawning)",
    )
    parser.add_argument("--results-file", default="", help="write raw measurements here at stop")
    parser.add_argument(
        "--clock",
        default="",
        metavar="HOST:PORT",
        help="read every stamp and receive time on this clock (scenarios.load.clock), measured "
        "at the start: for workers on other hosts than each other",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=1.0,
        help="wait this long at stop for the last deliveries",
    )


@events.test_start.add_listener
def configure(environment: Environment, **kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if options.clock:
        host, _, port = options.clock.rpartition(":")
        found = offset_blocking(host, int(port))
        MEASUREMENTS.clock_offset_ns = found.offset_ns
        MEASUREMENTS.clock_uncertainty_ns = found.uncertainty_ns
    RealtimeUser.rooms = options.rooms
    RealtimeUser.payload_bytes = options.payload_bytes
    RealtimeUser.record_after = time.time() + options.warmup_seconds
    if options.publish_seconds:
        RealtimeUser.publish_until = time.time() + options.publish_seconds


@events.test_stopping.add_listener
def drain(environment: Environment, **kwargs: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.drain_seconds:
        gevent.sleep(options.drain_seconds)


@events.test_stop.add_listener
def write_results(environment: Environment, **kwargs: Any) -> None:
    options = environment.parsed_options
    if options is not None and options.results_file:
        measurements_file(environment, options.results_file)


def _pacing(user: RealtimeUser) -> float:
    options = user.environment.parsed_options
    interval = options.member_interval if options is not None else 2.0
    return float(constant_pacing(interval)(user))


class SSEChatUser(SSEUser):
    wait_time = _pacing


class LongPollChatUser(LongPollUser):
    wait_time = _pacing


class WebSocketChatUser(WebSocketUser):
    wait_time = _pacing
