"""What every scenario stands on: the servers under test (pinned to their core, started per
step kind and configuration), the worker processes (driver, publisher, proxies, browsers; pinned
to the other core), the run's TLS certificates and tokens, and CPU samples of both sides.

A scenario kind (`scenarios.kinds`) receives the `Fixtures` of the run and a step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.console import Console

from core.subscription import DROPPED
from monitoring.services import Prometheus
from network.hosts import Launcher, Namespace, runs_here
from network.topology import ADDRESSES
from peers import PEERS
from processes.server import ServerProcess
from processes.services import Nginx, RedisServer
from record import PinningRecord, Utilisation
from scenarios import figures as figure
from scenarios.load import null_server, textbook
from scenarios.measure import (
    CoreSample,
    ProcessSample,
    core_busy,
    sample_cores,
    sample_process,
    sample_processes,
    total_samples,
)
from scenarios.step import Step, uses_tls
from scenarios.target import Target
from scenarios.workers import RUN_MARKER, Worker

BENCH_LIMITS = """[limits]
max_connections = 100000
max_connections_per_address = 100000
"""
"""The benchmark's load comes from one address (loopback, or a load host's own in a topology):
the default per-address cap would refuse it, so the bench lifts it, for every server it starts."""
console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)


class Pinning:
    """Server on its own core(s); driver and publisher on the rest, when there is a rest."""

    def __init__(self, server: list[int] | None, driver: list[int] | None) -> None:
        available = sorted(os.sched_getaffinity(0))
        if server is None:
            server = available[:1]
        if driver is None:
            driver = [c for c in available if c not in server] or available
        self.server = server
        self.driver = driver
        self.shared = bool(set(server) & set(driver))

    def describe(self) -> PinningRecord:
        return {
            "server_cpus": self.server,
            "driver_cpus": self.driver,
            "shared": self.shared,
            "publisher_cpus": self.driver,
        }


GroupKey = tuple[str, str, bool, bool, str, str, bool, bool, bool]
"""What decides whether two steps can share one server (`group_key`)."""


class Fixtures:
    """The run's processes and credentials; a scenario's `measure` receives it as `run`."""

    def __init__(self, args: argparse.Namespace, drain_seconds: float) -> None:
        self.args = args
        self.drain_seconds = drain_seconds
        """How long a step waits, after its publisher stops, for the last events to arrive."""
        self.run_id = args.run_id or (
            dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
        )
        self.out = Path(args.out) / self.run_id
        self.pinning = Pinning(args.server_cpus, args.driver_cpus)
        self.workers: list[Worker] = []
        self.servers: list[ServerProcess] = []
        self.extra_servers: list[ServerProcess] = []
        """Servers a step started for itself (stop_extra_servers)."""
        self.services: list[RedisServer | Nginx] = []
        """redis-server and nginx of cluster steps: stopped with everything else."""
        self.monitor: Prometheus | None = None
        """A Prometheus watching the run's servers as they come and go (`--monitor`)."""

    @property
    def driver_cpus(self) -> str:
        return ",".join(map(str, self.pinning.driver))

    def tls_files(self) -> tuple[str, str, str]:
        """(CA, certificate chain, key) for 127.0.0.1 and every address a host of a topology
        can have (`network.topology`), made once per run with trustme."""
        folder = self.out / "tls"
        if not folder.exists():
            import trustme

            folder.mkdir(parents=True)
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost", *ADDRESSES)
            ca.cert_pem.write_to_path(str(folder / "ca.pem"))
            cert.private_key_pem.write_to_path(str(folder / "key.pem"))
            cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "chain.pem"))
        return str(folder / "ca.pem"), str(folder / "chain.pem"), str(folder / "key.pem")

    def tls_args(self, step: Step) -> list[str]:
        return ["--tls-ca", self.tls_files()[0]] if uses_tls(step.params) else []

    @property
    def secret(self) -> str:
        """This run's JWT secret (random: nothing outside the run can mint its tokens)."""
        if not hasattr(self, "_secret"):
            self._secret = uuid.uuid4().hex + uuid.uuid4().hex
        return self._secret

    def server_config(self, step: Step) -> Path:
        """The server config of a step: the bench's connection caps (every subscriber comes
        from 127.0.0.1, so the per-address cap is lifted to the step's own counts), and the
        step's knobs (auth, ratelimit, SSE proxy buffering). Rate limits are set far above the
        load: the step measures what checking them costs."""
        auth, limited = bool(step.params.get("auth")), bool(step.params.get("ratelimit"))
        unbuffered = step.params.get("sse_proxy_buffering_off", True)
        lines = [BENCH_LIMITS, "[heartbeat]"]
        lines.append(f"sse_proxy_buffering_off = {'true' if unbuffered else 'false'}")
        if auth or limited:
            lines += [f'[auth]\nsecret = "{self.secret}"\n', "[namespaces.default]"]
            lines.append(f"auth = {'true' if auth else 'false'}")
        if limited:
            lines += [
                "publish_per_second = 1e9",
                "publish_burst = 1000000000",
                "ws_messages_per_second = 1e9",
                "ws_burst = 1000000000",
            ]
        name = f"auth-{auth}-ratelimit-{limited}{'' if unbuffered else '-sse-buffered'}.toml"
        path = self.out / "config" / name.lower()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        return path

    def token_args(self, step: Step) -> list[str]:
        """A token granting every room, for drivers and publishers of an auth step."""
        if not step.params.get("auth"):
            return []
        from core import Auth
        from core.auth import mint

        token = mint(Auth(secret=self.secret), "rtbench-bench", subscribe=["*"], publish=["*"],
                     namespaces=["*"], ttl_seconds=24 * 3600)  # fmt: skip
        return ["--token", token]

    async def start_server(
        self, step: Step, address: str = "127.0.0.1", launcher: Namespace | None = None
    ) -> ServerProcess:
        """The step's server, pinned to the server core: on loopback, or on `address` inside
        a network namespace (a host of `network.topology`)."""
        transport, p = step.transport, step.params
        placed: dict[str, Any] = {"host": address, "launcher": launcher}
        extra = ["--log-level", "warning"] + (["--compression"] if p.get("compression") else [])
        extra += ["--fanout", str(p.get("fanout", "direct"))]
        if p.get("server", "uvicorn") != "uvicorn" or p.get("http2"):
            extra += ["--server", "hypercorn" if p.get("http2") else p["server"]]
        if uses_tls(p):
            _, chain, key = self.tls_files()
            extra += ["--ssl-certfile", chain, "--ssl-keyfile", key]
        if step.scenario == "baseline" or p.get("server") == "textbook":
            program = null_server if step.scenario == "baseline" else textbook
            server = ServerProcess(
                transport, module=program.__name__, env={RUN_MARKER: self.run_id}, **placed
            )
        elif transport in PEERS:
            server = ServerProcess(
                transport,
                module="peers",
                extra_args=["--log-level", "warning"],
                env={RUN_MARKER: self.run_id},
                **placed,
            )
        else:
            server = ServerProcess(
                transport,
                broker=self.args.broker,
                config=self.server_config(step),
                extra_args=extra,
                env={RUN_MARKER: self.run_id},
                **placed,
            )
        self.servers.append(server)
        await asyncio.to_thread(server.start)
        self.pin_server(server)
        if self.monitor is not None:
            self.monitor.watch(urlsplit(server.url).netloc)
        return server

    def pin_server(self, server: ServerProcess) -> None:
        """The server's processes on the server core: an nginx peer's worker too."""
        for pid in server.pids():
            os.sched_setaffinity(pid, set(self.pinning.server))

    async def stop_server(self, server: ServerProcess) -> None:
        if self.monitor is not None:
            self.monitor.unwatch(urlsplit(server.url).netloc)
        await asyncio.to_thread(server.stop)
        self.servers.remove(server)

    async def extra_server(self, transport: str, name: str, config_text: str) -> ServerProcess:
        """A server of a step's own, with `config_text` (top-level keys first, then tables)
        over the bench's limits, pinned to the server core; stop it with stop_extra_servers."""
        config = self.out / "config" / f"{transport}-{name}.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text.rstrip() + "\n" + BENCH_LIMITS)
        server = ServerProcess(transport, broker=self.args.broker, config=config,
                               env={RUN_MARKER: self.run_id},
                               extra_args=["--log-level", "warning"])  # fmt: skip
        self.servers.append(server)
        self.extra_servers.append(server)
        await asyncio.to_thread(server.start)
        self.pin_server(server)
        return server

    async def stop_extra_servers(self) -> None:
        for server in self.extra_servers:
            if server in self.servers:
                await self.stop_server(server)
        self.extra_servers.clear()

    @staticmethod
    def driver_args(step: Step, server: ServerProcess | Target, room: str, count: int) -> list[str]:
        """What every driver is told: transport, server, room, how many subscribers."""
        return [
            "--transport",
            step.transport,
            "--url",
            server.url,
            "--room",
            room,
            "--subscribers",
            str(count),
        ]

    async def worker(
        self, program: ModuleType, args: list[str], name: str, launcher: Launcher | None = None
    ) -> Worker:
        """A load program on the driver CPUs, here or in a namespace; on another machine
        (`launcher` not local) unpinned: that machine's CPUs are all the load's."""
        pinned = [*args, "--cpus", self.driver_cpus] if runs_here(launcher) else args
        worker = Worker(program, pinned, self.run_id, name, launcher=launcher)
        self.workers.append(worker)
        worker.start()
        return worker

    async def stop_pool(self, pool: dict[GroupKey, ServerProcess]) -> None:
        for server in pool.values():
            if server in self.servers:
                await self.stop_server(server)
        pool.clear()

    async def stop_all(self) -> None:
        await asyncio.gather(*(w.aclose() for w in self.workers), return_exceptions=True)
        self.workers.clear()
        for server in list(self.servers):
            await asyncio.to_thread(server.stop)
        self.servers.clear()
        for service in list(self.services):
            await asyncio.to_thread(service.stop)
        self.services.clear()

    def utilisation(
        self,
        before: dict[str, Any],
        end: dict[str, Any],
        driver_by_cpu: bool = False,
        driver: tuple[ProcessSample | None, ProcessSample | None] | None = None,
    ) -> Utilisation:
        """Both cores over the measured window (`before` to `end`, which `sample` stamped).

        `driver_by_cpu`: the load generator's processes cannot be listed (Chromium starts and
        ends renderers; the orchestrator's own clients), so its core is read from /proc/stat:
        everything that ran on the driver CPUs, which can only overstate it.
        `driver`: the load generator's CPU when the caller knows it otherwise (Locust's,
        from its reaped children); by default the sampled driver and publisher processes."""
        if driver is None:
            drivers = [(before[k], end[k]) for k in ("driver", "publisher") if before.get(k)]
            driver = (
                total_samples(b for b, _ in drivers),
                total_samples(a for _, a in drivers),
            ) if drivers else (None, None)  # fmt: skip
        busy = core_busy(before["cores"], end["cores"])
        found = figure.utilisation(
            (before["pinned_server"], end["pinned_server"]),
            driver,
            end["monotonic"] - before["monotonic"],
            len(self.pinning.server),
            len(self.pinning.driver),
            busy,
        )
        if driver_by_cpu:
            on_driver = [busy[str(cpu)] for cpu in self.pinning.driver if str(cpu) in busy]
            driver_core = round(sum(on_driver) / len(on_driver), 3) if on_driver else None
            found["driver_core"] = driver_core
            found["saturated_because"] = figure.saturation(found.get("server_core"), driver_core)
        return found

    async def server_closes(self, server: ServerProcess | Target) -> dict[str, int] | None:
        """The server's connection closes by reason, from `/status` (its detailed view, which
        the harness on loopback reads); None from a server that does not say (peers)."""
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.get(f"{Target.of(server).publish_url}/status")
            closes = answer.json().get("connections", {}).get("closes_by_reason")
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return dict(closes) if isinstance(closes, dict) else None

    async def dropped_since(
        self, server: ServerProcess | Target, before: dict[str, int] | None
    ) -> dict[str, int] | None:
        """Subscribers the server dropped since `before`: too slow (its queue was full) or
        stalled (it took no bytes for `limits.stall_seconds`)."""
        after = await self.server_closes(server)
        if before is None or after is None:
            return None
        return {
            reason: after.get(reason, 0) - before.get(reason, 0)
            for reason in (dropped.value for dropped in DROPPED)
        }

    @contextlib.contextmanager
    def on_driver_cpus(self) -> Iterator[None]:
        """Run the orchestrator's own thread on the driver CPUs, for steps whose clients live
        in it, so that they never share the server's core."""
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, set(self.pinning.driver))
        try:
            yield
        finally:
            os.sched_setaffinity(0, previous)

    def sample(
        self,
        server: ServerProcess | Target,
        drivers: Worker | list[Worker] | None,
        publisher: Worker | None,
    ) -> dict[str, Any]:
        """Process samples by role, the server core's pinned processes together (nodes,
        redis-server, nginx), per-CPU /proc/stat and the monotonic clock, at one instant."""
        if isinstance(drivers, Worker):
            drivers = [drivers]
        local = [d for d in drivers or [] if d.local]
        target = Target.of(server)
        by_name = {name: sample_processes(pids) for name, pids in target.pids.items()}
        nodes = [v for k, v in by_name.items() if k == "server" or k.startswith("node")]
        samples: dict[str, ProcessSample | CoreSample | float | None] = {
            "server": total_samples(nodes),
            "pinned_server": total_samples(by_name.values()),
            # A driver on another machine is an ssh client here: its CPU is not the driver's.
            "driver": sample_processes(d.pid for d in local) if local else None,
            "publisher": sample_process(publisher.pid) if publisher else None,
            "cores": sample_cores(),
            "monotonic": time.monotonic(),
        }
        if len(target.pids) > 1:
            samples.update({f"process:{name}": value for name, value in by_name.items()})
        return samples


def group_key(step: Step) -> GroupKey:
    """What decides whether two steps can share one server: transport, kind, server knobs."""
    options = step.params
    return (
        step.transport,
        step.scenario,
        bool(options.get("compression")),
        uses_tls(options),
        str(options.get("server", "uvicorn")) + ("-h2" if options.get("http2") else ""),
        str(options.get("fanout", "direct")),
        bool(options.get("auth")),
        bool(options.get("ratelimit")),
        bool(options.get("sse_proxy_buffering_off", True)),
    )
