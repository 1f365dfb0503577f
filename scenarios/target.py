"""Where a scenario points its clients, in one module every scenario imports: the class must
be one class whether the orchestrator runs as `scenarios.run` or as `__main__`."""

from __future__ import annotations

from dataclasses import dataclass

from processes.server import ServerProcess


@dataclass(frozen=True, slots=True)
class Target:
    """Where a scenario points its clients, and the processes whose CPU counts as the server's:
    one node, or a cluster (nodes, redis-server, nginx) behind one URL."""

    url: str
    publish_url: str
    pids: dict[str, list[int]]
    """By name: `server` or `node-N` count as the server; others (redis-server, nginx) apart."""

    @classmethod
    def of(cls, server: ServerProcess | Target) -> Target:
        if isinstance(server, Target):
            return server
        return cls(server.url, server.publish_url, {"server": [server.pid]})
