"""The cluster scenarios: `nodes` servers on one broker (redis-server or, to show why a
backplane is needed, each its own memory), behind nginx when `lb`; broadcast or the Locust
chat through them."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from processes.server import ServerProcess
from processes.services import Nginx, RedisServer, find_binary
from record import AcrossNodes, Delivery, LocustRun, StepResult
from scenarios.fixtures import console
from scenarios.kind import Kind, Parameters
from scenarios.kinds import broadcast, locust_chat
from scenarios.step import Step
from scenarios.target import Target
from scenarios.workers import RUN_MARKER, WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    """Broadcast through a cluster: `nodes` servers on one broker (redis-server or, to show
    why a backplane is needed, each its own memory), behind nginx when `lb`."""
    p = step.params
    broker, count = p["broker"], p["nodes"]
    env = {RUN_MARKER: run.run_id}
    cpus = set(run.pinning.server)
    pids: dict[str, list[int]] = {}
    broker_url = "memory"
    started: list[RedisServer | Nginx] = []
    nodes: list[ServerProcess] = []
    try:
        if broker == "redis":
            binary = find_binary("redis-server")
            if binary is None:
                raise WorkerFailed("expected redis-server: apt-get install redis-server")
            redis = RedisServer(binary, env=env)
            started.append(redis)
            run.services.append(redis)
            await asyncio.to_thread(redis.start)
            os.sched_setaffinity(redis.pid, cpus)
            pids["redis-server"] = [redis.pid]
            broker_url = redis.url
        for index in range(count):
            node = ServerProcess(
                step.transport,
                broker=broker_url,
                config=run.server_config(step),
                extra_args=["--log-level", "warning"],
                env=env,
            )
            nodes.append(node)
            run.servers.append(node)
            await asyncio.to_thread(node.start)
            os.sched_setaffinity(node.pid, cpus)
            pids[f"node-{index + 1}"] = [node.pid]
        url = nodes[0].url
        if p["lb"]:
            binary = find_binary("nginx")
            if binary is None:
                raise WorkerFailed("expected nginx: apt-get install nginx")
            lb = Nginx(binary, run.out / "nginx" / step.id, [n.url for n in nodes], env=env)
            started.append(lb)
            run.services.append(lb)
            await asyncio.to_thread(lb.start)
            await asyncio.sleep(0.2)  # workers forked
            for pid in lb.pids():
                os.sched_setaffinity(pid, cpus)
            pids["nginx"] = lb.pids()
            url = lb.url
        target = Target(url, url, pids)
        locust: LocustRun = {}
        if step.scenario == "cluster_locust":
            delivery, locust = await locust_chat.drive(run, step, target)
        else:
            delivery = (await broadcast.broadcast(run, step, target)).delivery
    finally:
        for node in nodes:
            await asyncio.to_thread(node.stop)
            run.servers.remove(node)
        for service in started:
            await asyncio.to_thread(service.stop)
            run.services.remove(service)
    nodes_of: AcrossNodes = {
        "cluster": {"nodes": count, "broker": broker, "load_balancer": p["lb"]}
    }
    if step.scenario == "cluster" and delivery.get("published"):
        count_against_accepted(
            delivery, nodes_of, p["subscribers"], f"{broker} broker, {count} nodes"
        )
    return {**step.header(), "result": "cluster", **delivery, **locust, **nodes_of}


def count_against_accepted(
    figures: Delivery, nodes_of: AcrossNodes, subscribers: int, cluster: str
) -> None:
    """Ids are per node without a backplane: each subscriber sees a gap-free sequence of its
    own node's events, so the id-based loss count reads 0. Count against what the publisher
    had accepted instead, and say so when a node's subscribers missed the others' events."""
    should = subscribers * figures["published"]
    reached = figures["delivered"]
    nodes_of["deliveries_of_accepted"] = round(reached / should, 4)
    if reached < 0.999 * should:
        nodes_of["missed_other_nodes"] = should - reached
        figures["status"] = "degraded"
        figures["note"] = (
            f"{cluster}: subscribers received {reached:,} of the {should:,} deliveries of what "
            f"was published ({reached / should:.0%}): each node delivers only what was "
            "published on it, and its ids look gap-free. A backplane (--broker redis://) is "
            "what fixes this."
        )
        console.print(f"[yellow]{figures['note']}[/]")


def nodes_text(p: dict[str, Any]) -> str:
    nodes = f"{p['nodes']} node" + ("s" if p["nodes"] > 1 else "")
    return f", {nodes} on {p['broker']}" + (", nginx" if p["lb"] else "")


def load_text(p: dict[str, Any]) -> str:
    return broadcast.load_text(p) + nodes_text(p)


def locust_load(p: dict[str, Any]) -> str:
    return locust_chat.load_text(p) + nodes_text(p)


# Broadcast through several nodes on one broker, behind nginx when `lb` (make cluster).
CLUSTER_PARAMETERS: Parameters = {
    **broadcast.BROADCAST_LOAD,
    "nodes": [2],
    "broker": ["redis"],
    "lb": [True],
    "driver_processes": [1],
}
# The Locust chat through the cluster; Locust distributed (a master and workers) when
# locust_workers > 0.
CLUSTER_LOCUST_PARAMETERS: Parameters = {
    **locust_chat.LOCUST_CHAT,
    "locust_workers": [2],
    "nodes": [2],
    "broker": ["redis"],
    "lb": [True],
}

KINDS = (
    Kind(
        name="cluster",
        about="Broadcast through several nodes on one broker, behind nginx when `lb`.",
        parameters=CLUSTER_PARAMETERS,
        measure=measure,
        servers="own",
        load=load_text,
    ),
    Kind(
        name="cluster_locust",
        about="The Locust chat through the cluster; Locust distributed when locust_workers > 0.",
        parameters=CLUSTER_LOCUST_PARAMETERS,
        measure=measure,
        servers="own",
        load=locust_load,
    ),
)
