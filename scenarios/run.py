"""Run a benchmark profile against real servers and write a results file.

    python -m scenarios.run --profile quick          # what `make bench` runs
    python -m scenarios.run --profile full --transports ws,sse

Each transport's server runs as its own process, pinned to its own core; the driver and the
publisher share the other core. Every step records raw latency samples (HdrHistogram), wire
bytes (TCP_INFO), CPU and memory, and the load actually achieved. All child processes are
stopped on exit, after a failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import resource
import signal
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core import ConfigError
from peers import PEERS
from scenarios import browser, delay, proxy
from scenarios import figures as figure
from scenarios import profile as profiles
from scenarios import results as results_file
from scenarios.cluster import Nginx, RedisServer, find_binary, free_port
from scenarios.measure import (
    CoreSample,
    ProcessSample,
    core_busy,
    decode,
    encode,
    merge,
    sample_cores,
    sample_process,
    sample_processes,
    summary,
    total_samples,
)
from scenarios.summary import print_summary
from scenarios.target import Target
from scenarios.workers import RUN_MARKER, Worker, WorkerFailed, processes_of_run
from servers.process import ServerFailed, ServerProcess

LOCUSTFILE = Path(__file__).resolve().parent / "locustfiles" / "chat.py"
BENCH_LIMITS = """[limits]
max_connections = 100000
max_connections_per_address = 100000
"""
"""The benchmark's load all comes from loopback: the default per-address cap would refuse it."""
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

    def describe(self) -> dict[str, Any]:
        return {
            "server_cpus": self.server,
            "driver_cpus": self.driver,
            "shared": self.shared,
            "publisher_cpus": self.driver,
        }


class Run:
    def __init__(self, args: argparse.Namespace, profile: profiles.Profile) -> None:
        self.args = args
        self.profile = profile
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

    @property
    def driver_cpus(self) -> str:
        return ",".join(map(str, self.pinning.driver))

    # -- children -------------------------------------------------------------------------

    def tls_files(self) -> tuple[str, str, str]:
        """(CA, certificate chain, key) for 127.0.0.1, made once per run with trustme."""
        folder = self.out / "tls"
        if not folder.exists():
            import trustme

            folder.mkdir(parents=True)
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            ca.cert_pem.write_to_path(str(folder / "ca.pem"))
            cert.private_key_pem.write_to_path(str(folder / "key.pem"))
            cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "chain.pem"))
        return str(folder / "ca.pem"), str(folder / "chain.pem"), str(folder / "key.pem")

    def tls_args(self, step: profiles.Step) -> list[str]:
        return ["--tls-ca", self.tls_files()[0]] if profiles.uses_tls(step.params) else []

    @property
    def secret(self) -> str:
        """This run's JWT secret (random: nothing outside the run can mint its tokens)."""
        if not hasattr(self, "_secret"):
            self._secret = uuid.uuid4().hex + uuid.uuid4().hex
        return self._secret

    def server_config(self, step: profiles.Step) -> Path:
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

    def token_args(self, step: profiles.Step) -> list[str]:
        """A token granting every room, for drivers and publishers of an auth step."""
        if not step.params.get("auth"):
            return []
        from core import Auth
        from core.auth import mint

        token = mint(Auth(secret=self.secret), "rtbench-bench", subscribe=["*"], publish=["*"],
                     ttl_seconds=24 * 3600)  # fmt: skip
        return ["--token", token]

    async def start_server(self, step: profiles.Step) -> ServerProcess:
        transport, p = step.transport, step.params
        extra = ["--log-level", "warning"] + (["--compression"] if p.get("compression") else [])
        if p.get("server", "uvicorn") != "uvicorn" or p.get("http2"):
            extra += ["--server", "hypercorn" if p.get("http2") else p["server"]]
        if profiles.uses_tls(p):
            _, chain, key = self.tls_files()
            extra += ["--ssl-certfile", chain, "--ssl-keyfile", key]
        if step.scenario == "baseline":
            server = ServerProcess(
                transport, module="scenarios.null_server", env={RUN_MARKER: self.run_id}
            )
        elif transport in PEERS:
            server = ServerProcess(
                transport,
                module="peers",
                extra_args=["--log-level", "warning"],
                env={RUN_MARKER: self.run_id},
            )
        else:
            server = ServerProcess(
                transport,
                broker=self.args.broker,
                config=self.server_config(step),
                extra_args=extra,
                env={RUN_MARKER: self.run_id},
            )
        self.servers.append(server)
        await asyncio.to_thread(server.start)
        os.sched_setaffinity(server.pid, set(self.pinning.server))
        return server

    async def stop_server(self, server: ServerProcess) -> None:
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
        os.sched_setaffinity(server.pid, set(self.pinning.server))
        return server

    async def stop_extra_servers(self) -> None:
        for server in self.extra_servers:
            if server in self.servers:
                await self.stop_server(server)
        self.extra_servers.clear()

    @staticmethod
    def driver_args(
        step: profiles.Step, server: ServerProcess | Target, room: str, count: int
    ) -> list[str]:
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

    async def worker(self, module: str, args: list[str], name: str) -> Worker:
        worker = Worker(module, [*args, "--cpus", self.driver_cpus], self.run_id, name)
        self.workers.append(worker)
        await worker.start()
        return worker

    async def stop_pool(self, pool: dict[GroupKey, ServerProcess]) -> None:
        for server in pool.values():
            if server in self.servers:
                await self.stop_server(server)
        pool.clear()

    async def stop_all(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        self.workers.clear()
        for server in list(self.servers):
            await asyncio.to_thread(server.stop)
        self.servers.clear()
        for service in list(self.services):
            await asyncio.to_thread(service.stop)
        self.services.clear()

    # -- scenarios ------------------------------------------------------------------------

    async def broadcast(
        self, step: profiles.Step, server: ServerProcess | Target
    ) -> dict[str, Any]:
        p = step.params
        room = f"bench-{uuid.uuid4().hex[:10]}"
        warmup_events = int(p["warmup_seconds"] * p["rate"])
        options = ["--measure-from-seq", str(warmup_events)]
        options += ["--compression"] if p.get("compression") else []
        options += ["--browser-headers"] if p.get("browser_headers") else []
        if p.get("http2"):
            options += ["--http2", "--streams-per-connection", str(p["streams_per_connection"])]
        storm = p.get("storm_within_seconds")
        options += ["--latencies-over-time"] if storm else []
        if p.get("churn_per_second"):
            options += ["--churn-per-second", str(p["churn_per_second"])]
        options += self.tls_args(step) + self.token_args(step)
        origin_ns = time.time_ns()
        options += ["--timeline-origin-ns", str(origin_ns)]
        drivers = []
        for index, share in enumerate(split(p["subscribers"], p.get("driver_processes", 1))):
            args = [*self.driver_args(step, server, room, share), *options]
            drivers.append(await self.worker("scenarios.driver", args, f"driver {index}"))
        readies = await asyncio.gather(*(d.event("ready", patience=120) for d in drivers))
        failed = sum(ready["failed"] for ready in readies)
        if failed:
            errors = [e for ready in readies for e in ready["errors"]][:5]
            raise WorkerFailed(f"{failed} subscribers could not connect: {errors}")
        publisher = await self.worker(
            "scenarios.publisher",
            [
                "--url",
                server.publish_url,
                "--room",
                room,
                "--rate",
                str(p["rate"]),
                "--warmup",
                str(p["warmup_seconds"]),
                "--duration",
                str(p["duration_seconds"]),
                "--payload-bytes",
                str(p["payload_bytes"]),
                *(["--binary"] if p.get("binary") else []),
                *self.tls_args(step),
                *self.token_args(step),
            ],
            "publisher",
        )
        patience = p["warmup_seconds"] + p["duration_seconds"] + 60
        await publisher.event("measuring", patience)
        before = self.sample(server, drivers, publisher)
        storm_ns = 0
        if storm:
            # Every subscriber drops and resumes with its cursor, a while into the window.
            await asyncio.sleep(p["storm_after_seconds"])
            storm_ns = time.time_ns()
            for driver in drivers:
                await driver.send(cmd="storm", within=storm)
        published = await publisher.event("result", patience)
        window = self.sample(server, drivers, publisher)
        publisher_after = window["publisher"]
        for driver in drivers:
            await driver.send(
                cmd="drain", last_id=published["last_id"] or 0, seconds=self.profile.drain_seconds
            )
        received = merge_driver_results(
            await asyncio.gather(
                *(d.event("result", self.profile.drain_seconds + 60) for d in drivers)
            )
        )
        after = self.sample(server, drivers, None)
        after["publisher"] = publisher_after
        await asyncio.gather(publisher.stop(), *(d.stop() for d in drivers))
        figures = self.broadcast_figures(step, published, received, before, after)
        figures["utilisation"] = self.utilisation(before, window)
        figures["driver_processes"] = len(drivers)
        if storm:
            timeline = received["timeline"]
            bucket_ms = timeline["bucket_ms"]
            storm_bucket = (storm_ns - origin_ns) // (bucket_ms * 1_000_000)
            figures["storm"] = {
                "subscribers": p["subscribers"],
                "within_seconds": storm,
                "timeline_bucket": storm_bucket,
                **figure.storm_recovery(timeline["p99_us"], bucket_ms, storm_bucket, storm),
            }
        return figures

    def utilisation(self, before: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
        """Both cores over the measured window (`before` to `end`, which `sample` stamped)."""
        drivers = [(before[k], end[k]) for k in ("driver", "publisher") if before.get(k)]
        driver = (
            total_samples(b for b, _ in drivers),
            total_samples(a for _, a in drivers),
        ) if drivers else (None, None)  # fmt: skip
        return figure.utilisation(
            (before["pinned_server"], end["pinned_server"]),
            driver,
            end["monotonic"] - before["monotonic"],
            len(self.pinning.server),
            len(self.pinning.driver),
            core_busy(before["cores"], end["cores"]),
        )

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
        target = Target.of(server)
        by_name = {name: sample_processes(pids) for name, pids in target.pids.items()}
        nodes = [v for k, v in by_name.items() if k == "server" or k.startswith("node")]
        samples: dict[str, ProcessSample | CoreSample | float | None] = {
            "server": total_samples(nodes),
            "pinned_server": total_samples(by_name.values()),
            "driver": sample_processes(d.pid for d in drivers) if drivers else None,
            "publisher": sample_process(publisher.pid) if publisher else None,
            "cores": sample_cores(),
            "monotonic": time.monotonic(),
        }
        if len(target.pids) > 1:
            samples.update({f"process:{name}": value for name, value in by_name.items()})
        return samples

    def broadcast_figures(
        self,
        step: profiles.Step,
        published: dict[str, Any],
        received: dict[str, Any],
        before: dict[str, Any],
        after: dict[str, Any],
        nominal_rate: float | None = None,
    ) -> dict[str, Any]:
        p = step.params
        measured = received["measured"]
        delivered = received["delivered"]

        def cpu_us_per(name: str, count: int) -> float | None:
            return figure.cpu_us_per(before.get(name), after.get(name), count)

        histogram = merge([received["histogram"]])
        hist_path = self.out / "histograms" / f"{step.id}.hdr"
        hist_path.parent.mkdir(parents=True, exist_ok=True)
        hist_path.write_text(received["histogram"] + "\n")
        lag_path = self.out / "histograms" / f"{step.id}.publisher-lag.hdr"
        lag_path.write_text(published["lag_histogram"] + "\n")
        timeline_path = self.out / "timelines" / f"{step.id}.json"
        timeline_path.parent.mkdir(parents=True, exist_ok=True)
        timeline_path.write_text(json.dumps(received["timeline"]) + "\n")
        source = "tcp_info" if received["tcp_bytes_in"] is not None else "application"
        down = received["tcp_bytes_in"] if source == "tcp_info" else received["app_bytes_in"]
        up = received["tcp_bytes_out"] if source == "tcp_info" else received["app_bytes_out"]
        expected = received["expected"]
        segments_out, segments_in = (
            received.get("tcp_segments_out"),
            received.get("tcp_segments_in"),
        )
        per_segment = figure.ip_tcp_header_bytes()
        down_per = down / delivered if delivered else None
        polls = received["polls"] or 0
        split = (
            figure.wire_split(
                step.transport,
                "bench-0123456789",  # the length of the step's room name
                p["payload_bytes"],
                published["last_id"] or 1,
                down_per,
                delivered / polls if polls else 1.0,
                binary=bool(p.get("binary")),
            )
            if down_per is not None and source == "tcp_info"
            else {}
        )
        nominal = nominal_rate if nominal_rate is not None else p["rate"]
        kept_up = (published["achieved_rate"] or 0) >= figure.KEPT_UP * nominal
        degraded = figure.degraded_reasons(
            nominal,
            published["achieved_rate"],
            received["lost"],
            received["duplicated"],
            received["complete"],
            received["error_count"],
            sum(published["errors"].values()),
            received["reconnect_failures"],
        )
        server_after = after["server"]
        return {
            "status": "degraded" if degraded else "ok",
            "degraded_because": "; ".join(degraded) or None,
            "nominal_rate": nominal,
            "kept_up": kept_up,
            "achieved_rate": published["achieved_rate"],
            "published": published["published"],
            "publish_errors": published["errors"],
            "expected": expected,
            "delivered": delivered,
            "lost": received["lost"],
            "duplicated": received["duplicated"],
            "reordered": received["reordered"],
            "gap_notices": received["gap_notices"],
            "drained": received["complete"],
            "subscriber_errors": received["errors"],
            "latency_us": summary(histogram),
            "publisher_lag_us": summary(decode(published["lag_histogram"])),
            "bytes_per_message": {
                "down": round(down / delivered, 1) if delivered else None,
                "up": round(up / delivered, 1) if delivered else None,
                "payload": p["payload_bytes"],
                "source": source,
                "total_down": down,
                "total_up": up,
                "app_down": received["app_bytes_in"],
                "down_split": split,
                "segments_down": round(segments_in / delivered, 3)
                if segments_in is not None and delivered
                else None,
                "segments_up": round(segments_out / delivered, 3)
                if segments_out is not None and delivered
                else None,
                "ip_tcp_header_bytes_per_segment": per_segment,
            },
            "server_cpu_us_per_message": cpu_us_per("server", measured),
            **(
                {
                    "process_cpu_us_per_message": {
                        key.removeprefix("process:"): cpu_us_per(key, measured)
                        for key in after
                        if key.startswith("process:")
                    }
                }
                if any(key.startswith("process:") for key in after)
                else {}
            ),
            "driver_cpu_us_per_message": cpu_us_per("driver", measured),
            "publisher_cpu_us_per_event": cpu_us_per(
                "publisher", published["published"] - published["warmup"]
            ),
            "server_rss_bytes": server_after.rss_bytes if server_after else None,
            "polls": received["polls"] or None,
            "reconnects": received["reconnects"],
            "reconnect_failures": received["reconnect_failures"],
            "timeline_file": str(timeline_path.relative_to(self.out)),
            "histogram_file": str(hist_path.relative_to(self.out)),
        }

    async def chat(self, step: profiles.Step, server: ServerProcess) -> dict[str, Any]:
        p = step.params
        room = f"chat-{uuid.uuid4().hex[:8]}"
        members = p["rooms"] * p["members_per_room"]
        warmup_events = int(p["warmup_seconds"] * members * p["member_rate"])
        driver = await self.worker(
            "scenarios.driver",
            [
                *self.driver_args(step, server, room, members),
                *("--rooms", str(p["rooms"]), "--measure-from-seq", str(warmup_events)),
            ],
            "driver",
        )
        ready = await driver.event("ready", patience=120)
        if ready["failed"]:
            raise WorkerFailed(f"{ready['failed']} members could not connect: {ready['errors']}")
        await driver.send(
            cmd="chat",
            member_rate=p["member_rate"],
            warmup=p["warmup_seconds"],
            duration=p["duration_seconds"],
            payload_bytes=p["payload_bytes"],
            drain_seconds=self.profile.drain_seconds,
        )
        patience = p["warmup_seconds"] + p["duration_seconds"] + self.profile.drain_seconds + 60
        await driver.event("measuring", patience)
        before = self.sample(server, driver, None)
        received = await driver.event("result", patience)
        after = self.sample(server, driver, None)
        await driver.stop()
        nominal = members * p["member_rate"]
        figures = self.broadcast_figures(
            step, received["published"], received, before, after, nominal_rate=nominal
        )
        # The driver publishes too, and its result comes after the drain: a lower bound.
        figures["utilisation"] = self.utilisation(before, after)
        return figures

    async def locust_chat(
        self, step: profiles.Step, server: ServerProcess | Target
    ) -> dict[str, Any]:
        """The chat scenario driven by Locust users: realistic clients, heavier per message.
        With `locust_workers` > 0, Locust runs distributed on loopback: a master and that many
        workers, each worker writing its own raw histogram, merged here."""
        p = step.params
        distributed = int(p.get("locust_workers", 0))
        user_class = {
            "longpoll": "LongPollChatUser",
            "sse": "SSEChatUser",
            "ws": "WebSocketChatUser",
        }[step.transport]
        results_path = self.out / "locust" / f"{step.id}.json"
        results_path.parent.mkdir(parents=True, exist_ok=True)
        run_seconds = p["run_seconds"]
        args = [
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--only-summary",
            "--loglevel",
            "WARNING",
            "-u",
            str(p["users"]),
            "-r",
            str(p["spawn_rate"]),
            "--run-time",
            f"{run_seconds}s",
            "--host",
            server.url,
            "--rooms",
            str(p["rooms"]),
            "--member-interval",
            str(p["member_interval"]),
            "--publish-seconds",
            str(run_seconds - p["quiet_seconds"]),
            "--drain-seconds",
            "1",
            "--warmup-seconds",
            str(p["warmup_seconds"]),
            "--results-file",
            str(results_path),
            "--csv",
            str(results_path.with_suffix("")),
            user_class,
        ]
        pin = set(self.pinning.driver)
        locust_workers: list[Worker] = []
        if distributed:
            port = free_port()
            args[2:2] = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                         str(port), "--expect-workers", str(distributed)]  # fmt: skip
            worker_args = ["-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
                           "--master-port", str(port), "--loglevel", "WARNING"]  # fmt: skip
            locust_workers = [
                Worker("locust", worker_args, self.run_id, f"locust worker {n}", pin=pin)
                for n in range(distributed)
            ]
        locust = Worker("locust", args, self.run_id, "locust", pin=pin)
        self.workers.extend([locust, *locust_workers])
        before = self.sample(server, None, None)
        # Locust exits before it can be sampled; its CPU shows in the reaped children's usage.
        children_before = children_cpu_seconds()
        await locust.start()
        for worker in locust_workers:
            await worker.start()
        code = await locust.finish(run_seconds + 120)
        for worker in locust_workers:
            await worker.finish(30)
        locust_cpu_seconds = children_cpu_seconds() - children_before
        after = self.sample(server, None, None)
        wall = after["monotonic"] - before["monotonic"]
        if not results_path.exists():
            tail = "\n".join(locust.stderr_tail[-8:])
            raise WorkerFailed(f"locust exited ({code}) without results:\n{tail}")
        parts = [results_path, *sorted(results_path.parent.glob(f"{results_path.name}.*"))]
        measured = merge_locust_results([json.loads(path.read_text()) for path in parts])
        histogram = decode(measured["histogram"])
        delivered = measured["delivered"]
        server_us = figure.cpu_us_per(before["server"], after["server"], delivered)
        publish_seconds = run_seconds - p["quiet_seconds"]
        nominal = round(p["users"] / p["member_interval"], 3)
        achieved = round(measured["published"] / publish_seconds, 3)
        degraded = figure.degraded_reasons(
            nominal, achieved, measured["lost"], measured["duplicated"], True, 0,
            measured["publish_errors"], 0,
        )  # fmt: skip
        if code != 0:
            degraded.append(f"locust exited with code {code}")
        # Locust's CPU is known only in total (reaped children), over its whole run.
        locust_cpu = (ProcessSample(0, 0), ProcessSample(int(locust_cpu_seconds * 1e9), 0))
        utilisation = figure.utilisation(
            (before["pinned_server"], after["pinned_server"]),
            locust_cpu,
            wall,
            len(self.pinning.server),
            len(self.pinning.driver),
            core_busy(before["cores"], after["cores"]),
        )
        return {
            "status": "degraded" if degraded else "ok",
            "degraded_because": "; ".join(degraded) or None,
            "utilisation": utilisation,
            "driver": "locust",
            "nominal_rate": nominal,
            "achieved_rate": achieved,
            "published": measured["published"],
            "publish_errors": measured["publish_errors"],
            "expected": measured["expected"],
            "delivered": delivered,
            "lost": measured["lost"],
            "duplicated": measured["duplicated"],
            "reordered": measured["reordered"],
            "gap_notices": measured["gap_notices"],
            "reconnects": measured["reconnects"],
            "latency_us": summary(histogram),
            "server_cpu_us_per_message": server_us,
            "driver_cpu_us_per_message": (
                round(locust_cpu_seconds * 1e6 / delivered, 2) if delivered else None
            ),
            "locust_exit_code": code,
            "locust_results_file": str(results_path.relative_to(self.out)),
            "locust_processes": len(parts),
            "locust_workers": distributed,
        }

    async def knee(self, step: profiles.Step, server: ServerProcess) -> dict[str, Any]:
        """Broadcast at rising rates until the server stops keeping up: the last rate whose
        p99 stayed under the bound, with nothing lost and the rate achieved, is the knee."""
        p = step.params
        points: list[dict[str, Any]] = []
        knee_rate: float | None = None
        reason = f"reached max_rate {p['max_rate']:g}/s"
        lower_bound = True  # until the server itself is what stopped the sweep
        rate = float(p["start_rate"])
        while rate <= p["max_rate"]:
            params = {
                "subscribers": p["subscribers"],
                "rate": rate,
                "payload_bytes": p["payload_bytes"],
                "duration_seconds": p["duration_seconds"],
                "warmup_seconds": p["warmup_seconds"],
                "compression": False,
            }
            point_step = profiles.Step("knee", step.transport, params, step.repeat)
            figures = {"rate": rate, **await self.broadcast(point_step, server)}
            points.append(figures)
            p99 = figures["latency_us"]["p99"]
            achieved = figures["achieved_rate"] or 0.0
            if figures["lost"] or figures["duplicated"]:
                reason = f"{figures['lost']} lost, {figures['duplicated']} duplicated at {rate:g}/s"
            elif (figures["utilisation"]["driver_core"] or 0) > figure.DRIVER_SATURATED:
                # Past here the driver, not the server, would set the figures.
                reason = f"the driver saturated at {rate:g}/s: capacity is at least the last pass"
                break
            elif achieved < figure.KEPT_UP * rate:
                reason = f"publisher reached {achieved:.1f} of {rate:g}/s"
            elif figures["status"] != "ok":
                reason = f"{figures['degraded_because']} at {rate:g}/s"
            elif p99 is None or p99 > p["p99_bound_ms"] * 1000:
                reason = (
                    f"p99 {p99 / 1000 if p99 else float('nan'):.1f} ms over the bound at {rate:g}/s"
                )
            else:
                knee_rate = rate
                rate *= p["factor"]
                continue
            lower_bound = False
            break
        return {
            "status": "ok" if points else "failed",
            "max_sustainable_rate": knee_rate,
            "max_sustainable_deliveries_per_second": knee_rate * p["subscribers"]
            if knee_rate
            else None,
            "stopped_because": reason,
            "capacity_is_lower_bound": lower_bound,
            "points": points,
        }

    def override(self, step: profiles.Step) -> profiles.Step:
        """`--cluster-broker` / `--cluster-nodes` replace the profile's values (and the id)."""
        if step.scenario not in ("cluster", "cluster_locust"):
            return step
        nodes = self.args.cluster_nodes if step.params.get("lb") else None  # 1-node steps stay
        changes = {
            key: value
            for key, value in (("broker", self.args.cluster_broker), ("nodes", nodes))
            if value is not None
        }
        if not changes:
            return step
        return profiles.Step(step.scenario, step.transport, {**step.params, **changes}, step.repeat)

    async def cluster(self, step: profiles.Step) -> dict[str, Any]:
        """Broadcast through a cluster: `nodes` servers on one broker (redis-server or, to show
        why a backplane is needed, each its own memory), behind nginx when `lb`."""
        p = step.params
        broker, count = p["broker"], p["nodes"]
        env = {RUN_MARKER: self.run_id}
        cpus = set(self.pinning.server)
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
                self.services.append(redis)
                await asyncio.to_thread(redis.start)
                os.sched_setaffinity(redis.pid, cpus)
                pids["redis-server"] = [redis.pid]
                broker_url = redis.url
            for index in range(count):
                node = ServerProcess(
                    step.transport,
                    broker=broker_url,
                    config=self.server_config(step),
                    extra_args=["--log-level", "warning"],
                    env=env,
                )
                nodes.append(node)
                self.servers.append(node)
                await asyncio.to_thread(node.start)
                os.sched_setaffinity(node.pid, cpus)
                pids[f"node-{index + 1}"] = [node.pid]
            url = nodes[0].url
            if p["lb"]:
                binary = find_binary("nginx")
                if binary is None:
                    raise WorkerFailed("expected nginx: apt-get install nginx")
                lb = Nginx(binary, self.out / "nginx" / step.id, [n.url for n in nodes], env=env)
                started.append(lb)
                self.services.append(lb)
                await asyncio.to_thread(lb.start)
                await asyncio.sleep(0.2)  # workers forked
                for pid in lb.pids():
                    os.sched_setaffinity(pid, cpus)
                pids["nginx"] = lb.pids()
                url = lb.url
            target = Target(url, url, pids)
            if step.scenario == "cluster_locust":
                figures = await self.locust_chat(step, target)
            else:
                figures = await self.broadcast(step, target)
        finally:
            for node in nodes:
                await asyncio.to_thread(node.stop)
                self.servers.remove(node)
            for service in started:
                await asyncio.to_thread(service.stop)
                self.services.remove(service)
        figures.update(cluster={"nodes": count, "broker": broker, "load_balancer": p["lb"]})
        if step.scenario == "cluster" and figures["published"]:
            # Ids are per node without a backplane: each subscriber sees a gap-free sequence of
            # its own node's events, so the id-based loss count reads 0. Count against what
            # the publisher had accepted instead.
            should = p["subscribers"] * figures["published"]
            reached = figures["delivered"]
            figures["deliveries_of_accepted"] = round(reached / should, 4)
            if reached < 0.999 * should:
                figures["missed_other_nodes"] = should - reached
                figures["status"] = "degraded"
                figures["note"] = (
                    f"{broker} broker, {count} nodes: subscribers received {reached:,} of the "
                    f"{should:,} deliveries of what was published ({reached / should:.0%}): "
                    "each node delivers only what was published on it, and its ids look "
                    "gap-free. A backplane (--broker redis://) is what fixes this."
                )
                console.print(f"[yellow]{figures['note']}[/]")
        return figures

    async def idle(self, step: profiles.Step, server: ServerProcess) -> dict[str, Any]:
        p = step.params
        room = f"idle-{uuid.uuid4().hex[:10]}"
        await asyncio.sleep(0.5)
        before = sample_process(server.pid)
        args = [*self.driver_args(step, server, room, p["connections"]), *self.token_args(step)]
        driver = await self.worker("scenarios.driver", args, "driver")
        ready = await driver.event("ready", patience=300)
        await asyncio.sleep(p["settle_seconds"])
        after = sample_process(server.pid)
        driver_sample = sample_process(driver.pid)
        async with httpx.AsyncClient(timeout=10) as client:
            status = (await client.get(f"{server.publish_url}/status")).json()
        await driver.send(cmd="stop")
        await driver.event("result", 60)
        await driver.stop()
        held = status["connections"]["by_room"].get(room, 0)
        connected = ready["connected"]
        per_connection = (
            round((after.rss_bytes - before.rss_bytes) / connected)
            if before and after and connected
            else None
        )
        return {
            "status": "ok" if connected == p["connections"] == held else "degraded",
            "requested": p["connections"],
            "connected": connected,
            "held_by_server": held,
            "connect_seconds": ready["seconds"],
            "server_rss_before_bytes": before.rss_bytes if before else None,
            "server_rss_after_bytes": after.rss_bytes if after else None,
            "rss_per_connection_bytes": per_connection,
            # Server CPU to accept, check (TLS, token) and hold each connection, settle included.
            "server_cpu_us_per_connection": figure.cpu_us_per(before, after, connected),
            "driver_rss_bytes": driver_sample.rss_bytes if driver_sample else None,
            "errors": ready["errors"],
        }

    # -- the run --------------------------------------------------------------------------

    async def execute(self) -> dict[str, Any]:
        steps = [self.override(step) for step in self.profile.steps()]
        if self.args.transports:
            steps = [s for s in steps if s.transport in self.args.transports]
        results: dict[str, Any] = {
            "schema": results_file.SCHEMA,
            "schema_version": results_file.SCHEMA_VERSION,
            "run_id": self.run_id,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "profile": {
                "name": self.profile.name,
                "description": self.profile.description,
                "definition": self.profile.raw,
            },
            "machine": results_file.machine(),
            "software": results_file.software(),
            "pinning": self.pinning.describe(),
            "settings": {
                "saturation": figure.thresholds(),
                "broker": self.args.broker,
                "tls": any(profiles.uses_tls(step.params) for step in steps),
                "driver": "lean asyncio (clients.aio.probe)",
            },
            "client_code_lines": client_code_lines(),
            "steps": [],
        }
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal and not self.args.progress,
        )
        # Servers are started once per (transport, kind, knobs) and kept while steps of one
        # scenario kind interleave across transports; an idle step gets a fresh server.
        pool: dict[GroupKey, ServerProcess] = {}
        kind_running: str | None = None
        with progress:
            overall = progress.add_task("steps", total=len(steps))
            for step in steps:
                kind = step.scenario
                if kind != kind_running:
                    await self.stop_pool(pool)
                    kind_running = kind
                progress.update(overall, description=step.id)
                started = time.monotonic()
                entry: dict[str, Any] = {
                    "id": step.id,
                    "scenario": step.scenario,
                    "transport": step.transport,
                    "repeat": step.repeat,
                    "params": step.params,
                }
                try:
                    if kind in ("cluster", "cluster_locust"):  # they start their own
                        entry.update(await self.cluster(step))
                    elif kind == "proxy_idle":  # two servers of its own, heartbeats on and off
                        entry.update(await proxy.idle(self, step))
                    else:
                        key = group_key(step)
                        server = pool.get(key)
                        if server is None or kind == "idle":
                            if server is not None:
                                await self.stop_server(server)
                            server = pool[key] = await self.start_server(step)
                        runners: dict[str, Runner] = {
                            "idle": self.idle,
                            "knee": self.knee,
                            "chat": self.chat,
                            "locust_chat": self.locust_chat,
                            "proxy": functools.partial(proxy.proxied, self),
                            "delay": functools.partial(delay.measured, self),
                            "browser": functools.partial(browser.measured, self),
                        }
                        runner = runners.get(kind, self.broadcast)
                        entry.update(await runner(step, server))
                except (WorkerFailed, ServerFailed, TimeoutError, OSError) as exc:
                    entry.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                    console.print(f"[red]step {step.id} failed:[/] {exc}")
                    await self.stop_all()
                    pool.clear()
                entry["wall_seconds"] = round(time.monotonic() - started, 2)
                results["steps"].append(entry)
                results_file.write(self.out / "results.json", results)
                progress.advance(overall)
                if not console.is_terminal and not self.args.progress:
                    done = f"{len(results['steps'])}/{len(steps)}"
                    console.print(
                        f"{done} {step.id}: {entry['status']} ({entry['wall_seconds']} s)"
                    )
            await self.stop_pool(pool)
        return results


CLIENTS = Path(__file__).resolve().parent.parent / "clients" / "aio"


def client_code_lines() -> dict[str, int]:
    """Per transport, the lines of code of its asyncio subscriber (clients/aio/<name>.py):
    what "simple" costs a client author, counted rather than claimed."""
    modules = {"longpoll": "longpoll.py", "sse": "sse.py", "ws": "ws.py"}
    return {
        transport: figure.code_lines((CLIENTS / name).read_text())
        for transport, name in modules.items()
        if (CLIENTS / name).exists()
    }


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def split(total: int, parts: int) -> list[int]:
    """`total` subscribers over `parts` driver processes, as evenly as possible."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge_driver_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One driver result from several processes: counts add up, histograms merge (raw samples,
    not percentiles), timelines add bucket by bucket."""
    if len(results) == 1:
        return results[0]
    merged: dict[str, Any] = {}
    for key, value in results[0].items():
        values = [r[key] for r in results]
        if key == "histogram":
            merged[key] = encode(merge(values))
        elif key == "timeline":
            merged[key] = {
                **value,
                "delivered": add_series([v["delivered"] for v in values]),
                "reconnects": add_series([v["reconnects"] for v in values]),
            }
            if "p99_us" in value:  # percentiles do not add: the worst process stands
                merged[key]["p99_us"] = worst_series([v["p99_us"] for v in values])
        elif key == "complete":
            merged[key] = all(values)
        elif key.startswith("tcp_") or isinstance(value, int | float):
            merged[key] = None if any(v is None for v in values) else sum(values)
        elif isinstance(value, list):
            merged[key] = [item for v in values for item in v][:5]
        else:
            merged[key] = value
    return merged


def worst_series(series: list[list[int | None]]) -> list[int | None]:
    length = max(map(len, series), default=0)
    worst: list[int | None] = []
    for i in range(length):
        present = [v for s in series if i < len(s) and (v := s[i]) is not None]
        worst.append(max(present) if present else None)
    return worst


def add_series(series: list[list[int]]) -> list[int]:
    length = max(map(len, series), default=0)
    return [sum(s[i] for s in series if i < len(s)) for i in range(length)]


GroupKey = tuple[str, str, bool, bool, str, bool, bool, bool]
Runner = Callable[[profiles.Step, ServerProcess], Awaitable[dict[str, Any]]]


def merge_locust_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One Locust measurement from several processes (a master and its workers): raw
    histograms merged, counts summed."""
    counted = ("delivered", "expected", "lost", "duplicated", "reordered", "gap_notices",
               "published", "publish_errors", "reconnects", "users")  # fmt: skip
    merged: dict[str, Any] = {key: sum(int(part.get(key, 0)) for part in parts) for key in counted}
    merged["histogram"] = encode(merge([part["histogram"] for part in parts]))
    merged["subscribe_errors"] = [e for part in parts for e in part.get("subscribe_errors", [])][:5]
    return merged


def group_key(step: profiles.Step) -> GroupKey:
    """What decides whether two steps can share one server: transport, kind, server knobs."""
    options = step.params
    return (
        step.transport,
        step.scenario,
        bool(options.get("compression")),
        profiles.uses_tls(options),
        str(options.get("server", "uvicorn")) + ("-h2" if options.get("http2") else ""),
        bool(options.get("auth")),
        bool(options.get("ratelimit")),
        bool(options.get("sse_proxy_buffering_off", True)),
    )


def cpu_list(text: str) -> list[int]:
    try:
        cpus = sorted({int(c) for c in text.split(",") if c.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected CPU numbers like 0 or 1,2, got {text!r}"
        ) from None
    available = os.sched_getaffinity(0)
    if not cpus or not set(cpus) <= available:
        raise argparse.ArgumentTypeError(f"expected CPUs among {sorted(available)}, got {text!r}")
    return cpus


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        default="quick",
        help=f"built-in ({', '.join(profiles.builtin_profiles())}) or a .toml path",
    )
    p.add_argument(
        "--cluster-broker",
        choices=["redis", "memory"],
        help="cluster steps: the broker, overriding the profile's (memory shows why a backplane "
        "is needed)",
    )
    p.add_argument("--cluster-nodes", type=int, help="cluster steps: override the node count")
    p.add_argument(
        "--transports",
        type=lambda s: [t for t in s.split(",") if t],
        help="subset to run, e.g. ws,sse (default: the profile's)",
    )
    p.add_argument("--out", default="results", help="folder for runs (default: results/)")
    p.add_argument("--broker", default="memory", help="broker for the servers (default memory)")
    p.add_argument("--server-cpus", type=cpu_list, help="CPUs for servers (default: the first)")
    p.add_argument("--driver-cpus", type=cpu_list, help="CPUs for driver and publisher")
    p.add_argument("--progress", action="store_true", help="progress bars even when not a tty")
    p.add_argument("--run-id", help="name of the run folder (default: timestamp)")
    p.add_argument("--list-profiles", action="store_true", help="list built-in profiles and exit")
    return p


INTERRUPT_GRACE_SECONDS = 20.0


def stop_within_grace(run_id: str) -> None:
    """Ctrl-C's last resort: if the orderly stop has not ended the run after the grace time,
    kill every process carrying this run's marker and leave with 130."""

    def last_resort() -> None:
        time.sleep(INTERRUPT_GRACE_SECONDS)
        for pid in processes_of_run(run_id):
            if pid != os.getpid():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        os._exit(130)

    threading.Thread(target=last_resort, daemon=True).start()


async def amain(args: argparse.Namespace, profile: profiles.Profile) -> tuple[Path, bool]:
    run = Run(args, profile)
    # asyncio.run's own SIGINT handler cancels the run (and `finally` stops every child);
    # a watchdog makes sure that whatever hangs meanwhile, the run ends.
    orderly = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        stop_within_grace(run.run_id)
        if callable(orderly):
            orderly(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    console.print(
        f"[bold]rtbench[/] profile [cyan]{profile.name}[/]: {profile.description}\n"
        f"server on CPU {run.pinning.server}, driver and publisher on CPU {run.pinning.driver}"
        + (" [yellow](shared: figures include contention)[/]" if run.pinning.shared else "")
    )
    try:
        results = await run.execute()
    finally:
        await run.stop_all()
    print_summary(results, console)
    console.print(f"results: [bold]{run.out / 'results.json'}[/]")
    failed = [step["id"] for step in results["steps"] if step["status"] == "failed"]
    if failed:
        console.print(f"[red]{len(failed)} step(s) could not run:[/] {', '.join(failed)}")
    return run.out, not failed


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list_profiles:
        for name in profiles.builtin_profiles():
            print(f"{name:8} {profiles.load(name).description}")
        return 0
    try:
        profile = profiles.load(args.profile)
        if args.transports:
            known = profiles.TRANSPORTS + PEERS
            bad = [t for t in args.transports if t not in known]
            if bad:
                raise ConfigError(f"expected transports among {known}, got {bad}")
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        return 2
    try:
        out, complete = asyncio.run(amain(args, profile))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: every child process was stopped[/]")
        return 130
    latest = Path(args.out) / "latest"
    latest.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        latest.symlink_to(out.name)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
