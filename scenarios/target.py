"""Where a scenario points its clients, in one module every scenario imports: the class must
be one class whether the orchestrator runs as `scenarios.run` or as `__main__`."""

from __future__ import annotations

from dataclasses import dataclass

from processes.server import ServerProcess


@dataclass(frozen=True, slots=True)
class Target:
    """Where a scenario points its clients, from where, and the processes whose CPU counts as
    the server's: one node, or a cluster (nodes, redis-server, nginx) behind one URL, or a
    server on a host of a topology that its clients reach from other hosts."""

    url: str
    publish_url: str
    pids: dict[str, list[int]]
    """By name: `server` or `node-N` count as the server; others (redis-server, nginx) apart."""
    driver_hosts: tuple[str, ...] = ()
    """The network namespaces the drivers run in, one after another (`network.topology`);
    none: the machine's own network, where the target is on loopback."""
    publisher_host: str | None = None
    """The network namespace the publisher runs in."""
    publisher_address: str = "127.0.0.1"
    """The publisher's host's address, where what the drivers ask of it listens (its clock,
    a Locust master)."""

    @classmethod
    def of(cls, server: ServerProcess | Target) -> Target:
        if isinstance(server, Target):
            return server
        return cls(server.url, server.publish_url, {"server": [server.pid]})
