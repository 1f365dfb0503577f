"""Scenarios by name, as `servers.registry` names transports: one module each, one shape.

Every scenario module has `async def measure(run, step, server) -> dict` returning the step's
figures. `server` is what the orchestrator started for the step: a server of the step's
transport and knobs, kept while steps of one kind interleave (`pooled`), a new one for each
step (`fresh`), or None for scenarios that start their own (`own`: clusters, proxies with
several servers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from scenarios import (
    broadcast,
    browser,
    chat,
    cluster,
    delay,
    idle,
    knee,
    locust_chat,
    proxy,
    proxy_idle,
)

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures
    from scenarios.profile import Step
    from scenarios.target import Target
    from servers.process import ServerProcess

Measure = Callable[["Fixtures", "Step", "ServerProcess | Target | None"], Awaitable[dict[str, Any]]]
Servers = Literal["pooled", "fresh", "own"]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    measure: Measure
    servers: Servers = "pooled"


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("broadcast", broadcast.measure),
        Scenario("baseline", broadcast.measure),  # against the null server of the transport
        Scenario("churn", broadcast.measure),
        Scenario("storm", broadcast.measure),
        Scenario("soak", broadcast.measure),
        Scenario("chat", chat.measure),
        Scenario("locust_chat", locust_chat.measure),
        Scenario("knee", knee.measure),
        Scenario("idle", idle.measure, servers="fresh"),
        Scenario("cluster", cluster.measure, servers="own"),
        Scenario("cluster_locust", cluster.measure, servers="own"),
        Scenario("proxy", proxy.measure),
        Scenario("proxy_idle", proxy_idle.measure, servers="own"),
        Scenario("delay", delay.measure),
        Scenario("browser", browser.measure),
    )
}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"expected a scenario among {', '.join(SCENARIOS)}, got {name!r}"
        ) from None
