"""Run a benchmark profile against real servers and write a results file.

    python -m scenarios.run                          # the default profile: what `make bench` runs
    python -m scenarios.run --profile quick          # five minutes, loopback only
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
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import record
from core import ConfigError
from network.topology import remove_hosts_of
from peers import PEERS
from processes.server import ServerFailed, ServerProcess
from record import TRANSPORTS
from scenarios import figures as figure
from scenarios import machine
from scenarios import profile as profiles
from scenarios.fixtures import Fixtures, GroupKey, console, group_key
from scenarios.kinds import get_kind
from scenarios.step import Step, uses_tls
from scenarios.summary import print_summary
from scenarios.workers import WorkerFailed, processes_of_run


class Orchestrator(Fixtures):
    """A profile's steps, in order, each measured by its kind on the fixtures."""

    def __init__(self, args: argparse.Namespace, profile: profiles.Profile) -> None:
        super().__init__(args, profile.drain_seconds)
        self.profile = profile

    # -- the run --------------------------------------------------------------------------

    def header(self, steps: list[Step]) -> record.Results:
        """The results file before its first step: where, with what and how it is measured."""
        return {
            "schema": record.SCHEMA,
            "schema_version": record.SCHEMA_VERSION,
            "run_id": self.run_id,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "profile": {
                "name": self.profile.name,
                "description": self.profile.description,
                "definition": self.profile.raw,
            },
            "machine": machine.machine(),
            "software": machine.software(),
            "pinning": self.pinning.describe(),
            "settings": {
                "saturation": figure.thresholds(),
                "broker": self.args.broker,
                "tls": any(uses_tls(step.params) for step in steps),
                "driver": "lean asyncio (clients.aio.probe)",
            },
            "client_code_lines": client_code_lines(),
            "kinds": {
                name: get_kind(name).record() for name in dict.fromkeys(s.scenario for s in steps)
            },
            "steps": [],
        }

    async def measure(self, step: Step, pool: dict[GroupKey, ServerProcess]) -> record.StepResult:
        """One step by its kind, on a server from `pool` (started when missing); a step that
        fails says why, and everything it started is stopped."""
        started = time.monotonic()
        try:
            kind = get_kind(step.scenario)
            server: ServerProcess | None = None
            if kind.servers != "own":
                key = group_key(step)
                server = pool.get(key)
                if server is None or kind.servers == "fresh":
                    if server is not None:
                        await self.stop_server(server)
                    server = pool[key] = await self.start_server(step)
            entry = await kind.measure(self, step, server)
        except (WorkerFailed, ServerFailed, TimeoutError, OSError) as exc:
            entry = {
                **step.header(),
                "result": "failed",
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
            }
            console.print(f"[red]step {step.id} failed:[/] {exc}")
            await self.stop_all()
            pool.clear()
        entry["wall_seconds"] = round(time.monotonic() - started, 2)
        return entry

    async def execute(self) -> record.Results:
        steps = planned_steps(self.profile, self.args)
        results = self.header(steps)
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal and not self.args.progress,
        )
        # Servers are started once per (transport, kind, knobs) and kept while steps of one
        # scenario kind interleave across transports; an idle step gets a fresh server.
        pool: dict[GroupKey, ServerProcess] = {}
        kind_running: str | None = None
        began = time.monotonic()
        with progress:
            overall = progress.add_task("steps", total=len(steps))
            for step in steps:
                if step.scenario != kind_running:
                    await self.stop_pool(pool)
                    kind_running = step.scenario
                progress.update(overall, description=step.id)
                entry = await self.measure(step, pool)
                results["steps"].append(entry)
                record.write(self.out / "results.json", results)
                progress.advance(overall)
                if not console.is_terminal and not self.args.progress:
                    done = f"{len(results['steps'])}/{len(steps)}"
                    left = remaining(steps[len(results["steps"]) :], time.monotonic() - began,
                                     results["steps"], steps)  # fmt: skip
                    console.print(
                        f"{done} {step.id}: {entry['status']} ({entry['wall_seconds']} s)"
                        + (f", about {left} left" if left else "")
                    )
            await self.stop_pool(pool)
        record.write(self.out / "results.json", results, whole=True)
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


def parser(prog: str = "python -m scenarios.run") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        default="default",
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
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the steps the run would take, each with its estimated duration, and exit",
    )
    return p


def point_latest_at(out: Path) -> None:
    """`results/latest` names this run from its start: an interrupted or failing run's report
    is its own, not the run before it."""
    out.mkdir(parents=True, exist_ok=True)
    latest = out.parent / "latest"
    latest.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        latest.symlink_to(out.name)


def planned_steps(profile: profiles.Profile, args: argparse.Namespace) -> list[Step]:
    """The steps the run takes, in order: the profile's, for `--transports` only, with the
    command line's overrides."""
    steps = [override(step, args) for step in profile.steps()]
    return [s for s in steps if s.transport in args.transports] if args.transports else steps


def override(step: Step, args: argparse.Namespace) -> Step:
    """`--cluster-broker` / `--cluster-nodes` replace the profile's values (and the id)."""
    if step.scenario not in ("cluster", "cluster_locust"):
        return step
    nodes = args.cluster_nodes if step.params.get("lb") else None  # 1-node steps stay
    changes = {
        key: value
        for key, value in (("broker", args.cluster_broker), ("nodes", nodes))
        if value is not None
    }
    if not changes:
        return step
    return Step(step.scenario, step.transport, {**step.params, **changes}, step.repeat)


STEP_OVERHEAD_SECONDS = 3.0
"""What a step costs beyond its declared seconds, here: processes started and stopped, the drain."""


def remaining(
    left: list[Step], spent: float, done: list[record.StepResult], steps: list[Step]
) -> str:
    """The time the steps left should take: their estimates, scaled by how the steps done so
    far compared with theirs."""
    if not left or not done:
        return ""
    estimated_done = sum(estimated_seconds(step) for step in steps[: len(done)])
    pace = spent / estimated_done if estimated_done else 1.0
    return minutes(pace * sum(estimated_seconds(step) for step in left))


def estimated_seconds(step: Step) -> float:
    """A step's declared seconds (warm-up, measured window, a Locust run) and its overhead."""
    p = step.params
    declared = sum(float(p.get(key) or 0) for key in ("warmup_seconds", "duration_seconds",
                                                        "run_seconds"))  # fmt: skip
    return declared + STEP_OVERHEAD_SECONDS


def dry_run(steps: list[Step]) -> str:
    """Every step the run would take, in order, with its estimated duration, and the total."""
    lines = [f"{index:>4}  {step.id}  ~{estimated_seconds(step):.0f} s"
             for index, step in enumerate(steps, start=1)]  # fmt: skip
    total = sum(estimated_seconds(step) for step in steps)
    lines.append(
        f"{len(steps)} steps, about {minutes(total)} (estimated from each step's declared "
        "seconds; kinds that search, like the knee, may take longer)"
    )
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


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
        remove_hosts_of(os.getpid())
        os._exit(130)

    threading.Thread(target=last_resort, daemon=True).start()


async def amain(args: argparse.Namespace, profile: profiles.Profile) -> bool:
    run = Orchestrator(args, profile)
    point_latest_at(run.out)
    # Ctrl-C or a SIGTERM (a CI job's timeout, `kill`) cancels the run, and `finally` stops
    # every child and deletes every host it made; a watchdog makes sure that whatever hangs
    # meanwhile, the run ends. The handler is ours, not asyncio.run's: that one is installed
    # only where SIGINT was left at its default, and a shell starts background jobs with
    # SIGINT ignored. A second signal stops at once.
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert main is not None
    signals = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            raise KeyboardInterrupt
        stop_within_grace(run.run_id)
        loop.call_soon_threadsafe(main.cancel)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
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
    return not failed


def main(argv: list[str] | None = None) -> int:
    invoked = sys.argv[0] if sys.argv and sys.argv[0].startswith("rtbench") else None
    args = (parser(invoked) if invoked else parser()).parse_args(argv)
    problem = machine.unsupported_platform()
    if problem is not None:
        console.print(f"[red]error:[/] {problem}")
        return 2
    if args.list_profiles:
        for name in profiles.builtin_profiles():
            print(f"{name:8} {profiles.load(name).description}")
        return 0
    try:
        profile = profiles.load(args.profile)
        if args.transports:
            known = TRANSPORTS + PEERS
            bad = [t for t in args.transports if t not in known]
            if bad:
                raise ConfigError(f"expected transports among {known}, got {bad}")
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        return 2
    if args.dry_run:
        print(dry_run(planned_steps(profile, args)))
        return 0
    try:
        complete = asyncio.run(amain(args, profile))
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[yellow]interrupted: every child process was stopped[/]")
        return 130
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
