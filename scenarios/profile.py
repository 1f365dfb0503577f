"""Benchmark profiles: TOML files that say which scenarios to run, with what load.

A scenario lists values per parameter; its steps are every combination, repeated `repeat`
times (the profile's, or the scenario's own). Unknown keys are refused, so a typo cannot
silently run the default.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from core import ConfigError
from peers import PEERS
from record import TRANSPORTS

BASELINE_TRANSPORTS = TRANSPORTS
"""What the null server speaks: each transport's floor, with no framework and no queues."""
PEER_SCENARIOS = ("broadcast", "knee", "idle")
"""What reference peers run: they have no resume (churn) and no member publishing (chat)."""
BINARY_PEER = "bare-ws"
"""The peer that broadcasts binary events (as binary frames, like ours)."""

# One room, N subscribers, an open-loop publisher: the load every broadcast-like scenario shares.
BROADCAST_LOAD: dict[str, list[Any]] = {
    "subscribers": [100],
    "rate": [50.0],
    "payload_bytes": [90],
    "duration_seconds": [5.0],
    "warmup_seconds": [1.0],
    "compression": [False],
}

# Locust users in rooms, each subscribing and publishing at a steady pace.
LOCUST_CHAT: dict[str, list[Any]] = {
    "users": [100],
    "spawn_rate": [100],
    "rooms": [10],
    "member_interval": [2.0],
    "run_seconds": [10],
    "quiet_seconds": [2],
    "warmup_seconds": [2.0],
}

# Per scenario kind: parameter -> default values. Lists expand into steps.
SCENARIOS: dict[str, dict[str, list[Any]]] = {
    # tls, auth (a JWT checked at each handshake) and ratelimit (buckets that never trigger):
    # knobs whose cost the report shows against the same step without them.
    "broadcast": {
        **BROADCAST_LOAD,
        "tls": [False],
        "auth": [False],
        "ratelimit": [False],
        "driver_processes": [1],
        # Polls and handshakes carry Chromium's header set and a cookie, not the lean client's.
        "browser_headers": [False],
        # Random bytes published as binary events: binary frames on a WebSocket, base64 in JSON
        # on SSE and long polling.
        "binary": [False],
        # The ASGI server of the same app: uvicorn (HTTP/1.1) or hypercorn.
        "server": ["uvicorn"],
        # How events reach SSE and WebSocket sockets: `direct` (framed once, written as
        # published) or `asgi` (each connection's queue and ASGI send).
        "fanout": ["direct"],
        # Long polling and SSE over HTTP/2 (hypercorn, TLS with ALPN h2), with this many
        # subscribers multiplexed on each connection.
        "http2": [False],
        "streams_per_connection": [1],
    },
    # The same measurement against scenarios.null_server: what the harness itself adds.
    "baseline": BROADCAST_LOAD,
    # Broadcast while subscribers drop and resume: loss must stay 0.
    "churn": {**BROADCAST_LOAD, "churn_per_second": [20.0]},
    # Every subscriber drops and resumes with its cursor within a second: 0 lost, and how
    # long until p99 is back to its level before.
    "storm": {
        **BROADCAST_LOAD,
        "subscribers": [2000],
        "rate": [10.0],
        "duration_seconds": [8.0],
        "storm_after_seconds": [2.0],
        "storm_within_seconds": [1.0],
        "driver_processes": [1],
    },
    # A long broadcast with churn: the server's RSS and open fds sampled throughout; after a
    # warm-up the RSS slope (MiB/h) and the fd range say whether anything leaks.
    "soak": {
        **BROADCAST_LOAD,
        "subscribers": [200],
        "rate": [20.0],
        "duration_seconds": [600.0],
        "warmup_seconds": [2.0],
        "churn_per_second": [5.0],
        "sample_seconds": [5.0],
        "soak_warmup_seconds": [60.0],
    },
    # Many rooms; every member publishes into its room through its own transport. `workload`
    # names what the conversation stands for: "chat", "collaboration" (editors of a document,
    # small edits, each `acknowledged` before the editor counts it done) or "games" (a few
    # players, many updates a second each, small payloads).
    "chat": {
        "workload": ["chat"],
        "acknowledged": [False],
        "rooms": [20],
        "members_per_room": [10],
        "member_rate": [0.5],
        "payload_bytes": [90],
        "duration_seconds": [5.0],
        "warmup_seconds": [1.0],
    },
    # The chat scenario with Locust users (gevent): realistic clients, in their own costs.
    "locust_chat": {**LOCUST_CHAT, "locust_workers": [0]},
    # Step the offered rate up until p99 exceeds the bound, loss appears or the rate is not met.
    "knee": {
        "subscribers": [100],
        "start_rate": [50.0],
        "factor": [2.0],
        "max_rate": [6400.0],
        "p99_bound_ms": [50.0],
        "payload_bytes": [90],
        "duration_seconds": [3.0],
        "warmup_seconds": [0.5],
        "fanout": ["direct"],
    },
    # Broadcast through several nodes on one broker, behind nginx when `lb` (make cluster).
    "cluster": {
        **BROADCAST_LOAD,
        "nodes": [2],
        "broker": ["redis"],
        "lb": [True],
        "driver_processes": [1],
    },
    # The Locust chat through the cluster; Locust distributed (a master and workers) when
    # locust_workers > 0.
    "cluster_locust": {
        **LOCUST_CHAT,
        "locust_workers": [2],
        "nodes": [2],
        "broker": ["redis"],
        "lb": [True],
    },
    # Each transport behind nginx: a distribution's defaults vs the cluster's tuned config.
    "proxy": {
        **BROADCAST_LOAD,
        "nginx": ["defaults", "tuned"],
        "read_timeout_seconds": [60.0],
        "sse_proxy_buffering_off": [True],
        "driver_processes": [1],
    },
    # Through the delay proxy at a round-trip time: time to first event, bursts, resume.
    "delay": {
        "rtt_ms": [0.0, 20.0, 100.0],
        "repeats": [5],
        "burst": [10],
    },
    # Headless Chromium with fetch, EventSource and WebSocket: latency and the browser's CPU,
    # the per-origin connection limit, cross-origin reads, EventSource's own reconnection.
    "browser": {
        "subscribers": [4],
        "rate": [20.0],
        "duration_seconds": [5.0],
        # Served by hypercorn over TLS, Chromium speaking HTTP/2: latency and the limit only.
        "http2": [False],
    },
    # Idle streams through both nginx configs, heartbeats on and off, past the read timeout.
    "proxy_idle": {
        "read_timeout_seconds": [60.0],
        "heartbeat_seconds": [15.0],
    },
    "idle": {
        "connections": [1000],
        "settle_seconds": [2.0],
        "auth": [False],
    },
}


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
        if self.scenario == "proxy_idle":
            parts.append(f"{self.params['read_timeout_seconds']:g}s-timeout")
        return "-".join(parts) + (f"-b{self.block}" if self.block else "") + f"-r{self.repeat}"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    transports: tuple[str, ...]
    scenarios: tuple[tuple[str, dict[str, list[Any]], int, tuple[str, ...] | None], ...]
    """(kind, parameter values, repeats, transports or None for all) per [[scenario]]."""
    repeat: int = 1
    drain_seconds: float = 5.0
    raw: dict[str, Any] = field(default_factory=dict)
    peers: tuple[str, ...] = ()
    """Reference peers (`peers.PEERS`) that run the scenarios they can next to ours."""

    def steps(self, transport: str | None = None) -> list[Step]:
        """Every step, transports interleaved within each repeat (A B C, A B C, …): a drift
        of the machine during the run then hits every transport alike."""
        made: list[tuple[Step, int]] = []
        for block, (kind, values, repeat, only) in enumerate(self.scenarios, 1):
            names = list(values)
            for combo in itertools.product(*(values[n] for n in names)):
                params = dict(zip(names, combo, strict=True))
                runs_here = [
                    t
                    for t in self.transports + self.peers
                    if (transport is None or t == transport)
                    and (not only or t in only)
                    and (kind != "baseline" or t in BASELINE_TRANSPORTS)
                    and (t not in self.peers or peer_can_run(kind, params, t))
                ]
                for r in range(1, repeat + 1):
                    made.extend((Step(kind, t, params, r), block) for t in runs_here)
        steps: list[Step] = []
        seen: set[str] = set()
        for step, block in made:
            if step.id in seen:  # a later block measuring the same load again
                step = dataclasses.replace(step, block=block)
            seen.add(step.id)
            steps.append(step)
        return steps


def peer_can_run(kind: str, params: dict[str, Any], peer: str) -> bool:
    """Peers run plain broadcast, knee and idle: no TLS, compression or churn knobs; binary
    events only on the bare websockets peer (its binary frames are ours)."""
    knobs = ("tls", "compression", "auth", "ratelimit", "browser_headers", "http2")
    if params.get("server", "uvicorn") != "uvicorn" or params.get("fanout", "direct") != "direct":
        return False
    if params.get("binary") and peer != BINARY_PEER:
        return False
    return kind in PEER_SCENARIOS and not any(params.get(knob) for knob in knobs)


def uses_tls(params: dict[str, Any]) -> bool:
    """TLS asked for, or implied: HTTP/2 is negotiated by ALPN inside TLS."""
    return bool(params.get("tls") or params.get("http2"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parse(raw: dict[str, Any], name: str) -> Profile:
    known = {"name", "description", "transports", "peers", "repeat", "drain_seconds", "scenario"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"expected profile keys among {sorted(known)}, got {unknown}")
    transports = tuple(raw.get("transports", TRANSPORTS))
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad:
        raise ConfigError(f"expected transports among {TRANSPORTS}, got {bad}")
    peers = tuple(raw.get("peers", ()))
    bad = [t for t in peers if t not in PEERS]
    if bad:
        raise ConfigError(f"expected peers among {PEERS}, got {bad}")
    scenarios = []
    for entry in raw.get("scenario", []):
        entry = dict(entry)
        kind = entry.pop("kind", None)
        repeat = int(entry.pop("repeat", raw.get("repeat", 1)))
        only = entry.pop("transports", None)
        if only is not None:
            bad = [t for t in only if t not in transports + peers]
            if bad:
                raise ConfigError(
                    f"expected {kind} transports among {transports + peers}, got {bad}"
                )
            only = tuple(only)
        if kind not in SCENARIOS:
            raise ConfigError(f"expected scenario kind among {sorted(SCENARIOS)}, got {kind!r}")
        defaults = SCENARIOS[kind]
        unknown = sorted(set(entry) - set(defaults))
        if unknown:
            raise ConfigError(f"expected {kind} keys among {sorted(defaults)}, got {unknown}")
        values = {k: _as_list(entry.get(k, v)) for k, v in defaults.items()}
        scenarios.append((kind, values, repeat, only))
    if not scenarios:
        raise ConfigError(f"expected at least one [[scenario]] in profile {name!r}")
    return Profile(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")),
        transports=transports,
        scenarios=tuple(scenarios),
        repeat=int(raw.get("repeat", 1)),
        drain_seconds=float(raw.get("drain_seconds", 5.0)),
        raw=raw,
        peers=peers,
    )


def builtin_profiles() -> list[str]:
    folder = resources.files("scenarios") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load(name_or_path: str) -> Profile:
    """A profile by built-in name (`quick`, `full`, …) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.exists():
            raise ConfigError(f"expected a profile file at {path}, got nothing there")
        text = path.read_text()
        name = path.stem
    else:
        resource = resources.files("scenarios") / "profiles" / f"{name_or_path}.toml"
        if not resource.is_file():
            raise ConfigError(
                f"expected a profile among {', '.join(builtin_profiles())} or a .toml path, "
                f"got {name_or_path!r}"
            )
        text = resource.read_text()
        name = name_or_path
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"expected valid TOML in profile {name!r}, got {exc}") from exc
    return parse(raw, name)
