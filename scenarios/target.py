"""Where a scenario points its clients, in one module every scenario imports: the class must
be one class whether the orchestrator runs as `scenarios.run` or as `__main__`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from network.hosts import Launcher
from processes.server import ServerProcess
from record import TargetRecord


@dataclass(frozen=True, slots=True)
class Target:
    """Where a scenario points its clients, from where, and the processes whose CPU counts as
    the server's: one node, or a cluster (nodes, redis-server, nginx) behind one URL, or a
    server on a host of a topology that its clients reach from other hosts, or a server the
    harness did not start (`--target`), whose CPU is measured only when its pid is known."""

    url: str
    publish_url: str
    pids: dict[str, list[int]]
    """By name: `server` or `node-N` count as the server; others (redis-server, nginx) apart."""
    driver_hosts: tuple[Launcher, ...] = ()
    """Where the drivers run, one after another: hosts of `network.topology` or machines
    reached by ssh; none: this machine's own network, where the target is on loopback."""
    publisher_host: Launcher | None = None
    """The network namespace the publisher runs in; None: this machine's."""
    publisher_address: str = "127.0.0.1"
    """The publisher's host's address, where what the drivers ask of it listens (its clock,
    a Locust master)."""

    @classmethod
    def of(cls, server: ServerProcess | Target) -> Target:
        if isinstance(server, Target):
            return server
        return cls(server.url, server.publish_url, {"server": server.pids()})

    def describe(self) -> TargetRecord:
        """A server the harness did not start, as the results file names it."""
        pids = self.pids.get("server", [])
        return {
            "url": self.url,
            "pid": pids[0] if pids else None,
            "server_measured": bool(pids),
            "load_hosts": [host.describe() for host in self.driver_hosts],
        }


def targeted(url: str, pid: int | None, load_hosts: tuple[Launcher, ...] = ()) -> Target:
    """A server already running at `url` (`--target`), with its process `pid` on this machine
    when known: its CPU and memory are then measured; otherwise they are not. With
    `load_hosts` (other machines), the drivers run there and reach the server at `url`; the
    publisher and its clock stay here, at the URL's address, which they reach too."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        # The lean clients trust only the run's own CA: a target's TLS is not driven yet.
        raise ValueError(f"expected a server's base URL like http://127.0.0.1:8000, got {url!r}")
    if load_hosts and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        raise ValueError(
            f"expected a --target address that the load hosts can reach, got {parts.hostname}"
        )
    base = f"{parts.scheme}://{parts.netloc}"
    pids = {"server": [pid]} if pid is not None else {}
    if not load_hosts:
        return Target(base, base, pids)
    return Target(base, base, pids, driver_hosts=load_hosts, publisher_address=parts.hostname)
