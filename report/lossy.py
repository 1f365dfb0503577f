"""The items of Question 1 that a lossy, delayed link speaks to, judged by the same rule as the
rest (`report.claims`) on the run's `network` steps: at each lossy link the run measured, the
same claim, its figures read over that link.

Over loopback a poll asks again in microseconds and no segment is lost; over a link a poll
asks again a round trip later, and a lost segment costs a retransmission. The course's words
on long polling's latency and HTTP overhead, and on WebSocket's low latency, are the ones a
link tests.
"""

from __future__ import annotations

from collections.abc import Callable

from record import DeliveryStep, LinkStep, RecordedRun
from report.claims import Item, Judged, Measure, Reading, judge_item
from report.readings import figure_of, p99_ms


def plain_steps(run: RecordedRun, transport: str, profile: str) -> list[LinkStep]:
    """The lean drivers' broadcast over `profile`, on HTTP/1.1, with the link up throughout."""
    return [
        s
        for s in run.links(transport)
        if s["scenario"] == "network"
        and s["link"]["profile"] == profile
        and not s["params"].get("http2")
        and not s.get("outage_seconds")
    ]


def over(
    profile: str, get: Callable[[DeliveryStep], float | None], p99: bool = False
) -> Callable[[RecordedRun, str], Reading]:
    def read(run: RecordedRun, transport: str) -> Reading:
        return figure_of(plain_steps(run, transport, profile), get, f"the {profile} link", p99)

    return read


def p50_ms(step: DeliveryStep) -> float | None:
    value = step["latency_us"]["p50"]
    return None if value is None else value / 1000


def segments(step: DeliveryStep) -> float | None:
    if step["result"] != "link":
        return None
    delivered, sent = step.get("delivered"), step.get("sent_segments")
    return None if not delivered or sent is None else sent / delivered


def retransmissions(step: DeliveryStep) -> float | None:
    return step.get("retransmissions_per_message") if step["result"] == "link" else None


def items(profile: str) -> tuple[Item, ...]:
    """The claims a link tests, each with its figures read over `profile`."""
    p50 = Measure(
        f"{profile}_p50",
        f"p50 latency over {profile}",
        f"latence p50 sur {profile}",
        "ms",
        1,
        False,
        over(profile, p50_ms),
    )
    p99 = Measure(
        f"{profile}_p99",
        f"p99 latency over {profile}",
        f"latence p99 sur {profile}",
        "ms",
        1,
        False,
        over(profile, p99_ms, p99=True),
    )
    sent = Measure(
        f"{profile}_segments",
        f"TCP segments per message over {profile}",
        f"segments TCP par message sur {profile}",
        "",
        2,
        False,
        over(profile, segments),
    )
    again = Measure(
        f"{profile}_retransmissions",
        f"TCP retransmissions per message over {profile}",
        f"retransmissions TCP par message sur {profile}",
        "",
        3,
        False,
        over(profile, retransmissions),
    )
    return (
        Item("longpoll.latency", "limit", "longpoll", "Latence", "latency", (p50, p99),
             "higher", ("sse", "ws"), "an answered poll is asked for again a round trip later"),
        Item("longpoll.http_overhead", "limit", "longpoll", "Overhead HTTP", "HTTP overhead",
             (sent, again), "higher", ("sse", "ws"),
             "every answer is a request and a response on the link, and more to lose"),
        Item("ws.low_latency", "advantage", "ws", "Faible latence", "low latency", (p99,),
             "lower", ("longpoll",), "a pushed event waits for no request, unlike a poll"),
    )  # fmt: skip


def lossy_profiles(run: RecordedRun) -> list[str]:
    """The links of the run that lose packets, in the order the run measured them."""
    found: dict[str, None] = {}
    for step in run.links():
        if step["link"]["loss"] > 0:
            found.setdefault(step["link"]["profile"])
    return list(found)


def judge(run: RecordedRun) -> list[Judged]:
    return [judge_item(run, item) for profile in lossy_profiles(run) for item in items(profile)]
