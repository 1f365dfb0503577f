"""Hosts as network namespaces on one bridge: each with its own address, its own TCP stack and
counters, and its own link to the rest (`network.links`).

    with Topology(["server", "load-1", "load-2"], links={"load-1": "4g"}) as net:
        net.host("server").address            # 10.77.0.2
        ServerProcess(..., host=net.host("server").address, netns=net.host("server").netns)

The switch is a namespace of its own holding the bridge, so that nothing of the run touches
the machine's own interfaces, routes or firewall: every address and rule lives in a namespace
this module made, and goes with it. Each namespace's name carries the pid of the process that
made it (`rtb<pid>.<n>-<host>`): `close` deletes a topology's namespaces, after killing what
still runs in them, whether the run ended or failed, and `sweep` deletes those whose maker is
gone (a run killed before it could clean up).

It needs root (CI and `make test` run as root here) and iproute2; a lossy link needs iptables.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from network.hosts import Namespace
from network.links import LINKS, LinkProfile, link

SUBNET = "10.77.0"
PREFIX = 24
MAX_HOSTS = 32
ADDRESSES = tuple(f"{SUBNET}.{index + 2}" for index in range(MAX_HOSTS))
"""Every address a host can have, in the order hosts are given them."""
NAME = re.compile(r"^rtb(\d+)\.\d+-[a-z0-9-]+$")
HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_made = itertools.count(1)


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    netns: str
    address: str
    link: LinkProfile
    port: str
    """Its veth's end on the bridge, in the switch namespace."""

    @property
    def launcher(self) -> Namespace:
        """What starts a process inside this host."""
        return Namespace(self.netns)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host."""
        return self.launcher.command(list(argv), {})


def run(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NetworkError(
            f"expected {argv[0]} on this machine, got none (scripts/system-deps installs it)"
        ) from None
    if done.returncode != 0:
        raise NetworkError(
            f"expected `{' '.join(argv)}` to succeed, got exit {done.returncode}: "
            f"{done.stderr.strip()[:300]}"
        )
    return done.stdout


def check_can_build(lossy: bool) -> None:
    """Refuse early, saying what is missing, instead of half-building a topology."""
    if os.geteuid() != 0:
        raise NetworkError(f"expected root to create network namespaces, got uid {os.geteuid()}")
    for program in ["ip", "tc"] + (["iptables"] if lossy else []):
        if shutil.which(program) is None:
            raise NetworkError(
                f"expected {program} on this machine, got none (scripts/system-deps installs it)"
            )


def as_link(choice: str | LinkProfile) -> LinkProfile:
    return choice if isinstance(choice, LinkProfile) else link(choice)


class Topology:
    """N hosts on one bridge, each on its link; a context manager that always cleans up."""

    def __init__(
        self, names: Iterable[str], links: Mapping[str, str | LinkProfile] | None = None
    ) -> None:
        self.names = list(names)
        if not 1 <= len(self.names) <= MAX_HOSTS:
            raise ValueError(f"expected 1 to {MAX_HOSTS} hosts, got {len(self.names)}")
        for name in self.names:
            if not HOST_NAME.match(name):
                raise ValueError(f"expected a host name like 'load-1', got {name!r}")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"expected distinct host names, got {self.names}")
        unknown = set(links or {}) - set(self.names)
        if unknown:
            raise ValueError(f"expected links for hosts of {self.names}, got {sorted(unknown)}")
        chosen = links or {}
        self.links = {name: as_link(chosen.get(name, "lan")) for name in self.names}
        self.tag = f"rtb{os.getpid()}.{next(_made)}"
        self.switch = f"{self.tag}-switch"
        self.hosts: dict[str, Host] = {}
        self.made: list[str] = []

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(f"expected one of the hosts {list(self.hosts)}, got {name!r}") from None

    def __enter__(self) -> Self:
        check_can_build(any(profile.loss > 0 for profile in self.links.values()))
        sweep()  # what a killed run left behind
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def build(self) -> None:
        self.add_namespace(self.switch)
        run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.switch, "link", "set", "br0", "up"])
        for index, name in enumerate(self.names, start=1):
            host = Host(name, f"{self.tag}-{name}", ADDRESSES[index - 1], self.links[name],
                        f"p{index}")  # fmt: skip
            self.add_namespace(host.netns)
            run(["ip", "-n", self.switch, "link", "add", host.port, "type", "veth",
                 "peer", "name", "eth0", "netns", host.netns])  # fmt: skip
            run(["ip", "-n", self.switch, "link", "set", host.port, "master", "br0", "up"])
            run(["ip", "-n", host.netns, "addr", "add", f"{host.address}/{PREFIX}", "dev", "eth0"])
            run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
            self.hosts[name] = host
        for host in self.hosts.values():
            self.shape(host)
        for host in self.hosts.values():
            if host.link.loss > 0:
                self.lose(host)

    def add_namespace(self, netns: str) -> None:
        run(["ip", "netns", "add", netns])
        self.made.append(netns)
        run(["ip", "-n", netns, "link", "set", "lo", "up"])

    def shape(self, host: Host) -> None:
        """The host's rate each way: on its own end of the veth what it sends, on the bridge's
        end what it receives."""
        for netns, device, rate in (
            (host.netns, "eth0", host.link.up_kbit),
            (self.switch, host.port, host.link.down_kbit),
        ):
            if rate is not None:
                burst = max(3200, rate * 1000 // 8 // 100)  # 10 ms of the rate, two frames at least
                run(["tc", "-n", netns, "qdisc", "add", "dev", device, "root", "tbf",
                     "rate", f"{rate}kbit", "burst", str(burst), "latency", "200ms"])  # fmt: skip

    def lose(self, host: Host) -> None:
        """Drop packets at random, each direction on its own."""
        probability = f"{host.link.loss:.6f}"
        self.drop_arriving(host, "-A", ["-m", "statistic", "--mode", "random",
                                        "--probability", probability])  # fmt: skip

    def cut(self, name: str) -> None:
        """The host's link goes down: every packet to or from it is dropped where it arrives,
        without a reset, as when a radio link drops; connections stay open on both ends."""
        self.drop_arriving(self.host(name), "-I", [])

    def mend(self, name: str) -> None:
        """The host's link is back: what `cut` added goes, the link's own loss stays."""
        self.drop_arriving(self.host(name), "-D", [])

    def drop_arriving(self, host: Host, action: str, match: list[str]) -> None:
        """Add (`-A`, `-I`) or delete (`-D`) a DROP of the host's packets matching `match`,
        where they arrive: what it receives in its own namespace, what it sends in every other
        host's. A drop on the sending side would fail the sender's write instead of losing a
        packet on the way."""
        if shutil.which("iptables") is None:
            raise NetworkError("expected iptables to drop packets, got none (scripts/system-deps)")
        rule = [*match, "-j", "DROP"]
        run(host.command(["iptables", "-w", action, "INPUT", "-i", "eth0", *rule]))
        for other in self.hosts.values():
            if other is not host:
                run(other.command(["iptables", "-w", action, "INPUT", "-s", host.address, *rule]))

    def close(self) -> None:
        """Stop what still runs in the hosts, then delete every namespace this topology made."""
        for netns in reversed(self.made):
            delete(netns)
        self.made.clear()
        self.hosts.clear()


def delete(netns: str) -> None:
    """Kill what runs in the namespace, then delete it (its veth ends and rules go with it)."""
    kill_processes_in(netns)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


def kill_processes_in(netns: str) -> None:
    done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    for pid in done.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def namespaces() -> list[str]:
    return sorted(path.name for path in Path("/run/netns").glob("rtb*"))


def remove_hosts_of(pid: int) -> list[str]:
    """Delete every namespace process `pid` made, after what runs in it: a run's last resort
    when it cannot close its topologies in order."""
    gone = []
    for netns in namespaces():
        matched = NAME.match(netns)
        if matched is not None and int(matched.group(1)) == pid:
            delete(netns)
            gone.append(netns)
    return gone


def orphaned() -> list[str]:
    """The namespaces of topologies whose maker is gone: what a killed run left behind."""
    found = []
    for netns in namespaces():
        matched = NAME.match(netns)
        if matched is not None and not alive(int(matched.group(1))):
            found.append(netns)
    return found


def sweep() -> list[str]:
    """Delete the namespaces of topologies whose maker is gone; the names deleted."""
    gone = orphaned()
    for netns in gone:
        delete(netns)
    return gone


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tcp_counters(host: Host) -> dict[str, int]:
    """The host's kernel TCP counters (`/proc/net/snmp`, `Tcp:` lines), of its own namespace:
    `RetransSegs`, `OutSegs`, `InSegs`, … summed over every socket the host had, closed ones
    included (a long poll's connections come and go)."""
    text = run(host.command(["cat", "/proc/net/snmp"]))
    names, values = [line.split()[1:] for line in text.splitlines() if line.startswith("Tcp:")]
    return {name: int(value) for name, value in zip(names, values, strict=True)}


__all__ = ["LINKS", "Host", "NetworkError", "Topology", "sweep", "tcp_counters"]
