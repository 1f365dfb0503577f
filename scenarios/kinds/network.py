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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from network.links import LinkProfile, link
from network.topology import Host, Topology, tcp_counters
from processes.server import ServerProcess
from record import Link, OverLink, StepResult
from scenarios import ipc
from scenarios.kind import Kind, Parameters
from scenarios.kinds import broadcast
from scenarios.load import delayproxy
from scenarios.step import Step
from scenarios.target import Target

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    p = step.params
    profile = link(p["link"])
    loads = [f"load-{index + 1}" for index in range(p["load_hosts"])]
    names = ["server", *loads] + (["router"] if profile.rtt_ms else [])
    net = Topology(names, {name: profile for name in loads})
    await asyncio.to_thread(net.__enter__)
    try:
        placed = await run.start_server(step, net.host("server").address,
                                        net.host("server").netns)  # fmt: skip
        try:
            url = placed.url
            if profile.rtt_ms:
                url = await delayed(run, net.host("router"), placed.url, profile)
            target = Target(
                url,
                placed.publish_url,
                {"server": [placed.pid]},
                driver_hosts=tuple(net.host(name).netns for name in loads),
                publisher_host=net.host("server").netns,
            )
            hosts = list(net.hosts.values())
            before = await asyncio.to_thread(counted, hosts)
            delivery = (await broadcast.broadcast(run, step, target)).delivery
            after = await asyncio.to_thread(counted, hosts)
        finally:
            await run.stop_server(placed)
    finally:
        await asyncio.to_thread(net.close)
    over: OverLink = {"link": described(profile, len(loads))}
    retransmitted = after["RetransSegs"] - before["RetransSegs"]
    over["retransmitted_segments"] = retransmitted
    over["sent_segments"] = after["OutSegs"] - before["OutSegs"]
    delivered = delivery.get("delivered") or 0
    over["retransmissions_per_message"] = round(retransmitted / delivered, 4) if delivered else None
    return {**step.header(), "result": "link", **delivery, **over}


async def delayed(run: Fixtures, router: Host, url: str, profile: LinkProfile) -> str:
    """The delay proxy on the router host, in front of the server: the URL the load hosts use
    (TLS, when the step has it, passes through the proxy to the server)."""
    server = urlsplit(url)
    proxy = await run.worker(
        delayproxy,
        ["--target", server.netloc, "--delay-ms", f"{profile.one_way_delay_ms:g}",
         "--host", router.address],
        "delay proxy",
        router.netns,
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
    hosts = f"{p['load_hosts']} load host" + ("s" if p["load_hosts"] > 1 else "")
    return f"{broadcast.load_text(p)}, {hosts} on {link(p['link']).describe()}"


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
}

KIND = Kind(
    name="network",
    about=(
        "Broadcast to subscribers on other hosts (network namespaces) behind a link with a rate, "
        "a loss and a delay: latency's tail, loss and TCP retransmissions per message."
    ),
    parameters=NETWORK_PARAMETERS,
    measure=measure,
    servers="own",
    load=load_text,
    check=check,
)
