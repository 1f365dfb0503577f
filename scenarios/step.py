"""One step of a run: a scenario kind, the transport it measures, one combination of its
parameters, and which repeat it is. Its id names its files and its row in every table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from record import StepHeader

ID_UNITS = {
    "subscribers": "sub",
    "connections": "conn",
    "rooms": "rooms",
    "users": "users",
    "members_per_room": "members",
    "rate": "hz",
    "churn_per_second": "drops",
    "start_rate": "hz0",
    "p99_bound_ms": "ms",
    "payload_bytes": "B",
    "nodes": "nodes",
}


@dataclass(frozen=True, slots=True)
class Step:
    scenario: str
    transport: str
    params: dict[str, Any]
    repeat: int
    block: int = 0
    """Which [[scenario]] block of the profile made it: names apart steps that two blocks
    would otherwise give the same id (a load measured twice in one profile)."""

    @property
    def id(self) -> str:
        """Short and file-name safe, e.g. `broadcast-sse-100sub-50hz-90B-r1`."""
        parts = [self.scenario, self.transport]
        for key, unit in ID_UNITS.items():
            if key in self.params:
                value = self.params[key]
                parts.append(f"{value:g}{unit}" if isinstance(value, float) else f"{value}{unit}")
        if self.params.get("compression"):
            parts.append("deflate")
        if self.params.get("locust_workers"):
            parts.append(f"{self.params['locust_workers']}workers")
        for flag in ("tls", "auth", "ratelimit", "lb", "browser_headers", "binary"):
            if self.params.get(flag):
                parts.append(flag)
        if self.params.get("server", "uvicorn") != "uvicorn":
            parts.append(str(self.params["server"]))
        if self.params.get("fanout", "direct") != "direct":
            parts.append(f"{self.params['fanout']}-fanout")
        if self.params.get("http2"):
            per = self.params.get("streams_per_connection")
            parts.append(f"h2-{per}per-conn" if per else "h2")
        if "broker" in self.params:
            parts.append(str(self.params["broker"]))
        if "nginx" in self.params:
            parts.append(f"nginx-{self.params['nginx']}")
        if self.params.get("sse_proxy_buffering_off") is False:
            parts.append("nginx-buffers-sse")
        if self.params.get("workload", "chat") != "chat":
            parts.append(str(self.params["workload"]))
        if self.scenario == "delay":
            parts.append(f"{self.params['rtt_ms']:g}ms-rtt")
        if "link" in self.params:
            hosts = self.params.get("load_hosts", 1)
            parts.append(str(self.params["link"]) + (f"-{hosts}hosts" if hosts != 1 else ""))
        if self.params.get("outage_seconds"):
            parts.append(f"down-{self.params['outage_seconds']:g}s")
        if self.scenario == "proxy_idle":
            parts.append(f"{self.params['read_timeout_seconds']:g}s-timeout")
        return "-".join(parts) + (f"-b{self.block}" if self.block else "") + f"-r{self.repeat}"

    def header(self) -> StepHeader:
        """What every recorded step starts with; the orchestrator sets `wall_seconds` when the
        step ends."""
        return {
            "id": self.id,
            "scenario": self.scenario,
            "transport": self.transport,
            "repeat": self.repeat,
            "params": self.params,
            "wall_seconds": 0.0,
        }


def uses_tls(params: dict[str, Any]) -> bool:
    """TLS asked for, or implied: HTTP/2 is negotiated by ALPN inside TLS."""
    return bool(params.get("tls") or params.get("http2"))


SERVER_SWITCHES = ("tls", "auth", "ratelimit", "http2")
"""Parameters that the harness turns on in the servers it starts."""


def server_settings(params: dict[str, Any]) -> list[str]:
    """What a step sets on its server beyond the plain one: switches on, another ASGI server,
    another fan-out. A server the harness does not configure (a peer, a `--target`) cannot
    take such a step."""
    found = [switch for switch in SERVER_SWITCHES if params.get(switch)]
    if params.get("server", "uvicorn") != "uvicorn":
        found.append(f"server={params['server']}")
    if params.get("fanout", "direct") != "direct":
        found.append(f"fanout={params['fanout']}")
    return found
