"""The chat scenario with Locust users (gevent): realistic clients, in their own costs; Locust
distributed on loopback (a master and workers) when `locust_workers` > 0."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processes.server import ServerProcess
from processes.services import free_port
from record import Delivery, LocustRun, StepResult
from scenarios import figures as figure
from scenarios.clocks import clock_figures, start_clock
from scenarios.kind import Kind, Parameters
from scenarios.measure import (
    ProcessSample,
    decode,
    encode,
    merge,
    summary,
)
from scenarios.step import Step
from scenarios.target import Target
from scenarios.workers import Worker, WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures

LOCUSTFILE = Path(__file__).resolve().parents[1] / "load" / "locustfiles" / "chat.py"
"""Run by Locust itself, which takes a file, not a module."""


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    delivery, locust = await drive(run, step, server)
    return {**step.header(), "result": "locust", **delivery, **locust}


async def drive(
    run: Fixtures, step: Step, server: ServerProcess | Target | None
) -> tuple[Delivery, LocustRun]:
    """The chat scenario driven by Locust users: realistic clients, heavier per message.
    With `locust_workers` > 0, Locust runs distributed: a master and that many workers, each
    worker writing its own raw histogram, merged here; on loopback, or, when the target says
    where its clients run, the master beside the publisher and the workers on the load
    hosts."""
    assert server is not None, "a pooled scenario is given its server"
    p = step.params
    distributed = int(p.get("locust_workers", 0))
    results_path = run.out / "locust" / f"{step.id}.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    run_seconds = p["run_seconds"]
    args = locust_options(step, server.url, results_path)
    pin = set(run.pinning.driver)
    target = Target.of(server)
    hosts = target.driver_hosts
    locust_workers: list[Worker] = []
    # Users on several hosts stamp and receive on one clock: the publisher host's.
    clock = await start_clock(run, target) if distributed else None
    if clock is not None:
        args[2:2] = ["--clock", clock.address]
    if distributed:
        # The master beside the publisher; the workers on the load hosts, one after another.
        master = target.publisher_address
        port = free_port()
        args[2:2] = ["--master", "--master-bind-host", master, "--master-bind-port",
                     str(port), "--expect-workers", str(distributed)]  # fmt: skip
        worker_args = ["-f", str(LOCUSTFILE), "--worker", "--master-host", master,
                       "--master-port", str(port), "--loglevel", "WARNING"]  # fmt: skip
        for n in range(distributed):
            host = hosts[n % len(hosts)] if hosts else None
            name = f"locust worker {n}"
            locust_workers.append(Worker("locust", worker_args, run.run_id, name, pin=pin,
                                         launcher=host))  # fmt: skip
    locust = Worker("locust", args, run.run_id, "locust", pin=pin,
                    launcher=target.publisher_host)  # fmt: skip
    run.workers.extend([locust, *locust_workers])
    before = run.sample(server, None, None)
    # Locust exits before it can be sampled; its CPU shows in the reaped children's usage.
    children_before = children_cpu_seconds()
    locust.start()
    for worker in locust_workers:
        worker.start()
    code = await locust.finish(run_seconds + 120)
    for worker in locust_workers:
        await worker.finish(30)
    if clock is not None:
        await clock.worker.aclose()
    locust_cpu_seconds = children_cpu_seconds() - children_before
    after = run.sample(server, None, None)
    if not results_path.exists():
        tail = "\n".join(list(locust.stderr_tail)[-8:])
        raise WorkerFailed(f"locust exited ({code}) without results:\n{tail}")
    parts = [results_path, *sorted(results_path.parent.glob(f"{results_path.name}.*"))]
    measured = merge_locust_results([json.loads(path.read_text()) for path in parts])
    # Locust's CPU is known only in total (reaped children), over its whole run.
    locust_cpu = (ProcessSample(0, 0), ProcessSample(int(locust_cpu_seconds * 1e9), 0))
    figures = locust_figures(step, measured, locust_cpu_seconds)
    clock_figures([part for part in measured["parts"] if part.get("users")], figures)
    figures["utilisation"] = run.utilisation(before, after, driver=locust_cpu)
    figures["server_cpu_us_per_message"] = figure.cpu_us_per(
        before["server"], after["server"], measured["delivered"]
    )
    if code != 0:
        figures["status"] = "degraded"
        figures["degraded_because"] = "; ".join(
            filter(None, [figures.get("degraded_because"), f"locust exited with code {code}"])
        )
    run_by: LocustRun = {
        "driver": "locust",
        "locust_exit_code": code,
        "locust_workers": distributed,
        "locust_results_file": str(results_path.relative_to(run.out)),
        "locust_processes": len(parts),
    }
    return figures, run_by


def locust_options(step: Step, url: str, results_path: Path) -> list[str]:
    """Locust's command line for the step: headless, its users, the chat's pace, and where
    each process writes its raw results."""
    p = step.params
    run_seconds = p["run_seconds"]
    user_class = {
        "longpoll": "LongPollChatUser",
        "sse": "SSEChatUser",
        "ws": "WebSocketChatUser",
    }[step.transport]
    return [
        "-f", str(LOCUSTFILE), "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", str(p["users"]), "-r", str(p["spawn_rate"]), "--run-time", f"{run_seconds}s",
        "--host", url, "--rooms", str(p["rooms"]), "--member-interval", str(p["member_interval"]),
        "--publish-seconds", str(run_seconds - p["quiet_seconds"]), "--drain-seconds", "1",
        "--warmup-seconds", str(p["warmup_seconds"]), "--results-file", str(results_path),
        "--csv", str(results_path.with_suffix("")), user_class,
    ]  # fmt: skip


def locust_figures(step: Step, measured: dict[str, Any], locust_cpu_seconds: float) -> Delivery:
    """What the Locust users counted, against the pace the step asked for."""
    p = step.params
    delivered = measured["delivered"]
    nominal = round(p["users"] / p["member_interval"], 3)
    achieved = round(measured["published"] / (p["run_seconds"] - p["quiet_seconds"]), 3)
    degraded = figure.degraded_reasons(
        nominal, achieved, measured["lost"], measured["duplicated"], True, 0,
        measured["publish_errors"], 0,
    )  # fmt: skip
    return {
        "status": "degraded" if degraded else "ok",
        "degraded_because": "; ".join(degraded) or None,
        "nominal_rate": nominal,
        "achieved_rate": achieved,
        "published": measured["published"],
        # Locust's users count failed publishes without their reasons.
        "publish_errors": {"any": measured["publish_errors"]} if measured["publish_errors"] else {},
        "expected": measured["expected"],
        "delivered": delivered,
        "lost": measured["lost"],
        "duplicated": measured["duplicated"],
        "reordered": measured["reordered"],
        "gap_notices": measured["gap_notices"],
        "reconnects": measured["reconnects"],
        "latency_us": summary(decode(measured["histogram"])),
        "driver_cpu_us_per_message": (
            round(locust_cpu_seconds * 1e6 / delivered, 2) if delivered else None
        ),
    }


def merge_locust_results(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One Locust measurement from several processes (a master and its workers): raw
    histograms merged, counts summed."""
    counted = ("delivered", "expected", "lost", "duplicated", "reordered", "gap_notices",
               "published", "publish_errors", "reconnects", "users")  # fmt: skip
    merged: dict[str, Any] = {key: sum(int(part.get(key, 0)) for part in parts) for key in counted}
    merged["histogram"] = encode(merge([part["histogram"] for part in parts]))
    merged["subscribe_errors"] = [e for part in parts for e in part.get("subscribe_errors", [])][:5]
    merged["parts"] = parts
    return merged


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_text(p: dict[str, Any]) -> str:
    text = (
        f"Locust chat {p['users']} users, {p['rooms']} rooms, 1 msg/{p['member_interval']:g}s each"
    )
    return text + (f", master + {p['locust_workers']} workers" if p.get("locust_workers") else "")


# Locust users in rooms, each subscribing and publishing at a steady pace.
LOCUST_CHAT: Parameters = {
    "users": [100],
    "spawn_rate": [100],
    "rooms": [10],
    "member_interval": [2.0],
    "run_seconds": [10],
    "quiet_seconds": [2],
    "warmup_seconds": [2.0],
}
# The chat scenario with Locust users (gevent): realistic clients, in their own costs.
LOCUST_CHAT_PARAMETERS: Parameters = {**LOCUST_CHAT, "locust_workers": [0]}

KIND = Kind(
    name="locust_chat",
    about="The chat with Locust users (gevent): realistic clients, in their own costs.",
    parameters=LOCUST_CHAT_PARAMETERS,
    measure=measure,
    load=load_text,
)
