"""The broadcast beyond loopback: the server on a host of its own, its subscribers on load hosts
behind a link that limits the rate, loses packets and adds delay (`network.links`), the
publisher beside the server. Hosts are network namespaces this step makes and deletes
(`network.topology`); the processes keep their cores, as in every step.

What loopback cannot show shows here: the retransmissions a lossy link costs each transport,
and what a lost segment does to the latency's tail (long polling's extra round trips, a
stream's head-of-line blocking). The delay is the user-space delay proxy's, on a router host
between the load hosts and the server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from network.links import LinkProfile, link
from network.topology import Host, Topology, tcp_counters
from processes.server import ServerProcess
from record import Delivery, Link, LocustRun, OverLink, StepResult
from scenarios import ipc
from scenarios.kind import Kind, Parameters
from scenarios.kinds import broadcast, locust_chat
from scenarios.load import delayproxy
from scenarios.step import Step
from scenarios.target import Target

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    """The broadcast by lean drivers, one on each load host."""
    p = step.params
    async with across(run, step) as (target, counts):
        outage = None
        if p["outage_seconds"]:
            outage = functools.partial(counts.outage, p["outage_after_seconds"],
                                       p["outage_seconds"])  # fmt: skip
        delivery = (await broadcast.broadcast(run, step, target, outage)).delivery
    over = counts.figures(delivery)
    if p["outage_seconds"]:
        over["outage_seconds"] = p["outage_seconds"]
        longest = delivery.get("latency_us", {}).get("max")
        if longest is not None:
            over["recovery_seconds"] = round(max(0.0, longest / 1e6 - p["outage_seconds"]), 3)
    by_lean_drivers: LocustRun = {}
    return {**step.header(), "result": "link", **delivery, **by_lean_drivers, **over}


async def measure_locust(
    run: Fixtures, step: Step, server: ServerProcess | Target | None
) -> StepResult:
    """The chat by Locust users in Locust's distributed mode: the master beside the publisher,
    a worker on each load host."""
    async with across(run, step) as (target, counts):
        delivery, locust = await locust_chat.drive(run, step, target)
    over = counts.figures(delivery)
    return {**step.header(), "result": "link", **delivery, **locust, **over}


class Counts:
    """The hosts' TCP counters at the start of a step, and the figures of the step's end."""

    def __init__(self, net: Topology, loads: list[str], profile: LinkProfile) -> None:
        self.net = net
        self.hosts = list(net.hosts.values())
        self.loads = loads
        """The load hosts' names: the hosts behind the link."""
        self.profile = profile
        self.before: dict[str, int] = {}
        self.after: dict[str, int] = {}

    async def outage(self, after: float, seconds: float) -> None:
        """Every load host's link down `after` seconds from now, for `seconds`; back up
        whatever happens meanwhile."""
        await asyncio.sleep(after)
        try:
            for name in self.loads:
                await asyncio.to_thread(self.net.cut, name)
            await asyncio.sleep(seconds)
        finally:
            for name in self.loads:
                await asyncio.to_thread(self.net.mend, name)

    def figures(self, delivery: Delivery) -> OverLink:
        over: OverLink = {"link": described(self.profile, len(self.loads))}
        if not self.after:
            return over
        retransmitted = self.after["RetransSegs"] - self.before["RetransSegs"]
        over["retransmitted_segments"] = retransmitted
        over["sent_segments"] = self.after["OutSegs"] - self.before["OutSegs"]
        delivered = delivery.get("delivered") or 0
        over["retransmissions_per_message"] = (
            round(retransmitted / delivered, 4) if delivered else None
        )
        return over


@contextlib.asynccontextmanager
async def across(run: Fixtures, step: Step) -> AsyncIterator[tuple[Target, Counts]]:
    """The step's hosts and its server on one of them: the target the load hosts reach, and
    the hosts' TCP counters from now to the end of the block. Every namespace goes after it,
    whatever happens in it."""
    p = step.params
    profile = link(p["link"])
    loads = [f"load-{index + 1}" for index in range(p["load_hosts"])]
    names = ["server", *loads] + (["router"] if profile.rtt_ms else [])
    net = Topology(names, {name: profile for name in loads})
    await asyncio.to_thread(net.__enter__)
    try:
        home = net.host("server")
        placed = await run.start_server(step, home.address, home.launcher)
        try:
            url = placed.url
            if profile.rtt_ms:
                url = await delayed(run, net.host("router"), placed.url, profile)
            target = Target(
                url,
                placed.publish_url,
                {"server": [placed.pid]},
                driver_hosts=tuple(net.host(name).launcher for name in loads),
                publisher_host=home.launcher,
                publisher_address=home.address,
            )
            counts = Counts(net, loads, profile)
            counts.before = await asyncio.to_thread(counted, counts.hosts)
            yield target, counts
            counts.after = await asyncio.to_thread(counted, counts.hosts)
        finally:
            await run.stop_server(placed)
    finally:
        await asyncio.to_thread(net.close)


async def delayed(run: Fixtures, router: Host, url: str, profile: LinkProfile) -> str:
    """The delay proxy on the router host, in front of the server: the URL the load hosts use
    (TLS, when the step has it, passes through the proxy to the server)."""
    server = urlsplit(url)
    proxy = await run.worker(
        delayproxy,
        ["--target", server.netloc, "--delay-ms", f"{profile.one_way_delay_ms:g}",
         "--host", router.address],
        "delay proxy",
        router.launcher,
    )  # fmt: skip
    ready = await proxy.receive(ipc.ProxyReady, 30)
    return f"{server.scheme}://{urlsplit(str(ready['url'])).netloc}"


def counted(hosts: list[Host]) -> dict[str, int]:
    """Every host's TCP counters, summed: a segment sent again counts once, where it was sent."""
    total: dict[str, int] = {}
    for host in hosts:
        for name, value in tcp_counters(host).items():
            total[name] = total.get(name, 0) + value
    return total


def described(profile: LinkProfile, load_hosts: int) -> Link:
    return {
        "profile": profile.name,
        "down_kbit": profile.down_kbit,
        "up_kbit": profile.up_kbit,
        "loss": profile.loss,
        "rtt_ms": profile.rtt_ms,
        "load_hosts": load_hosts,
    }


def load_text(p: dict[str, Any]) -> str:
    return broadcast.load_text(p) + across_text(p)


def across_text(p: dict[str, Any]) -> str:
    hosts = f"{p['load_hosts']} load host" + ("s" if p["load_hosts"] > 1 else "")
    return f", {hosts} on {link(p['link']).describe()}"


def check(values: Parameters) -> None:
    for name in values["link"]:
        link(str(name))
    bad = [
        hosts for hosts in values["load_hosts"] if not (isinstance(hosts, int) and 1 <= hosts <= 8)
    ]
    if bad:
        raise ValueError(f"expected load_hosts from 1 to 8, got {bad}")


# The broadcast from a server host to subscribers on load hosts behind a link of
# `network.links` (lan, wifi, 4g, 3g); one driver process on each load host, the subscribers
# split between them.
NETWORK_PARAMETERS: Parameters = {
    **broadcast.BROADCAST_LOAD,
    "link": ["lan"],
    "load_hosts": [1],
    # Long polling and SSE over HTTP/2 (hypercorn, TLS with ALPN h2), this many subscribers
    # multiplexed on each connection.
    "http2": [False],
    "streams_per_connection": [1],
    # The load hosts' links go down for this long, this far into the measured window: nothing
    # may be lost, and the longest latency says how long after the link came back the last
    # event held by the outage arrived.
    "outage_seconds": [0.0],
    "outage_after_seconds": [2.0],
    # A subscriber whose connection ends (the server's keep-alive or head timeout during an
    # outage, the network) resumes on a new one from its last id, as a client does.
    "reconnect": [True],
}

# The chat by Locust users across the hosts, in Locust's distributed mode: the master beside the
# publisher, `locust_workers` workers on the load hosts, one after another.
NETWORK_LOCUST_PARAMETERS: Parameters = {
    **locust_chat.LOCUST_CHAT,
    "locust_workers": [2],
    "link": ["lan"],
    "load_hosts": [2],
}


def check_locust(values: Parameters) -> None:
    check(values)
    bad = [n for n in values["locust_workers"] if not (isinstance(n, int) and 1 <= n <= 8)]
    if bad:
        raise ValueError(f"expected locust_workers from 1 to 8, got {bad}")


def locust_load(p: dict[str, Any]) -> str:
    return locust_chat.load_text(p) + across_text(p)


KINDS = (
    Kind(
        name="network",
        about=(
            "Broadcast to subscribers on other hosts (network namespaces) behind a link with a "
            "rate, a loss and a delay: latency's tail, loss and TCP retransmissions per message."
        ),
        parameters=NETWORK_PARAMETERS,
        measure=measure,
        servers="own",
        load=load_text,
        check=check,
    ),
    Kind(
        name="network_locust",
        about=(
            "The chat by Locust users on other hosts, in Locust's distributed mode (a master, a "
            "worker on each load host), behind a link: latency, loss and retransmissions."
        ),
        parameters=NETWORK_LOCUST_PARAMETERS,
        measure=measure_locust,
        servers="own",
        load=locust_load,
        check=check_locust,
    ),
)
