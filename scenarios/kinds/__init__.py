"""Scenario kinds by name, as `servers.registry` names transports: one module each, filling in
`scenarios.kind.Kind`, and one line here. Profiles accept these names and each kind's
parameters, and nothing else."""

from __future__ import annotations

from scenarios.kind import Kind
from scenarios.kinds import (
    backlog,
    broadcast,
    browser,
    chat,
    cluster,
    delay,
    idle,
    knee,
    locust_chat,
    network,
    proxy,
    proxy_idle,
)

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        *broadcast.KINDS,
        chat.KIND,
        locust_chat.KIND,
        knee.KIND,
        idle.KIND,
        *cluster.KINDS,
        proxy.KIND,
        proxy_idle.KIND,
        delay.KIND,
        browser.KIND,
        backlog.KIND,
        *network.KINDS,
    )
}


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(
            f"expected a scenario kind among {', '.join(KINDS)}, got {name!r}"
        ) from None
