"""Nodes on one broker behind nginx: what the backplane delivers and costs."""

from __future__ import annotations

from record import DeliveryStep, RecordedRun
from record.display import ms, num, us
from report.charts import plain
from report.drawing import SERIES
from report.model import Section, Table
from report.selection import NAMES


def cluster_section(run: RecordedRun) -> Section | None:
    steps = [s for s in run.deliveries("cluster") if s["status"] != "failed"]
    if not steps:
        return None
    rows = []
    for t in SERIES:
        mine = [s for s in steps if s["transport"] == t]
        if not mine:
            continue
        load = int(mine[0]["params"]["subscribers"])
        single = plain(run, "broadcast", t, load)
        one_redis = next(
            (s for s in mine if s["params"]["nodes"] == 1 and s["params"]["broker"] == "redis"),
            None,
        )
        for label, step in [("1 node, memory broker", single)] + [
            (
                f"{s['params']['nodes']} node{'s' if int(s['params']['nodes']) > 1 else ''}, "
                f"{s['params']['broker']}{' + nginx' if s['params']['lb'] else ''}",
                s,
            )
            for s in mine
        ]:
            if step is None:
                continue
            added = ""
            if step is one_redis and single is not None:
                with_redis, without = one_redis["latency_us"]["p50"], single["latency_us"]["p50"]
                added = ms(None if with_redis is None or without is None else with_redis - without)
            rows.append(setup_row(NAMES[t], label, step, added))
    section = Section("Scale-out: a Redis backplane behind nginx")
    section.blocks.append(
        "The same broadcast on one node (memory broker), on one node whose events go through "
        "Redis Pub/Sub (what the backplane adds), and on several nodes on Redis behind nginx "
        "(round robin, no stickiness: the resume cursor lives in the client). Every process "
        "of the cluster shares the server CPUs of the run, so on a 2-core machine a second "
        "node adds no capacity: it shows the cost of the extra hops, not a speed-up. CPU is "
        "µs per delivered message, per process. With the memory broker, nodes do not see "
        "each other's events: the lost count is the failure a backplane exists to fix."
    )
    section.blocks.append(
        Table(
            [
                "transport",
                "setup",
                "status",
                "publish rate",
                "p50",
                "p99",
                "Redis adds (p50)",
                "nodes CPU/msg",
                "per node",
                "redis-server",
                "nginx",
            ],
            rows,
        )
    )
    notes = [s["note"] for s in steps if s.get("note")]
    section.blocks.extend(notes[:3])
    return section


def setup_row(transport: str, label: str, step: DeliveryStep, added: str) -> list[str]:
    """One setup of one transport: how it ended, its rate, latency and each process's CPU."""
    processes = step.get("process_cpu_us_per_message") or {}
    nodes = {k: v for k, v in processes.items() if k.startswith("node")}
    missed = step.get("missed_other_nodes")
    return [
        transport,
        label,
        step["status"]
        + (f" ({step['lost']:,} lost)" if step["lost"] else "")
        + (f" ({missed:,} deliveries missed: other nodes' events)" if missed else ""),
        f"{num(step['achieved_rate'], '/s', 1)}",
        ms(step["latency_us"]["p50"]),
        ms(step["latency_us"]["p99"]),
        added,
        us(step["server_cpu_us_per_message"]),
        ", ".join(f"{k} {v:.1f}" for k, v in nodes.items() if v is not None) or "",
        us(processes.get("redis-server")) if "redis-server" in processes else "",
        us(processes.get("nginx")) if "nginx" in processes else "",
    ]
