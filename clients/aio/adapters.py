"""The wire protocols the lean driver speaks, by name, as `servers.registry` names transports:
rtbench's own (`docs/protocol.md`, which the bare websockets and picows peers speak too),
Socket.IO's and Nchan's. Each is one module of probes and one line here; the driver finds a
transport's probe, and the publisher learns whether the server numbers events, through this
registry alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from clients.aio import nchan_probe, probe, socketio_probe
from clients.aio.probe import Probe


@dataclass(frozen=True, slots=True)
class Adapter:
    name: str
    probes: Mapping[str, type[Probe]]
    """Its transports' names (those of the servers it reaches) and each one's probe."""
    numbers_events: bool = True
    """The server gives each published event its id (`201 {"id": n}`). False: it keeps the
    body as sent (Nchan), and the publisher's own sequence, plus one, is the event's id."""


ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        Adapter("rtbench", probe.PROBES),
        Adapter("socketio", socketio_probe.PROBES),
        Adapter("nchan", nchan_probe.PROBES, numbers_events=False),
    )
}

PROBES: dict[str, type[Probe]] = {
    name: found for adapter in ADAPTERS.values() for name, found in adapter.probes.items()
}
"""Every transport the driver can subscribe with, whatever its protocol."""


def adapter_of(transport: str) -> Adapter:
    for adapter in ADAPTERS.values():
        if transport in adapter.probes:
            return adapter
    raise ValueError(f"expected a transport among {', '.join(PROBES)}, got {transport!r}")
