"""The orchestrator of `rtbench bench` (`python -m scenarios.run`): a profile's steps in order,
each measured by its kind, into a results file; every child process stopped on exit, after a
failure or Ctrl-C. Its options are `scenarios.options`."""

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
from monitoring.services import MissingTool, Prometheus, binary
from network.topology import remove_hosts_of
from peers import PEERS
from processes.server import ServerFailed, ServerProcess
from record import TRANSPORTS, thresholds
from scenarios import figures as figure
from scenarios import machine
from scenarios import profile as profiles
from scenarios.fixtures import Fixtures, GroupKey, console, group_key
from scenarios.kinds import get_kind
from scenarios.options import check_target, list_kinds, parser
from scenarios.plan import dry_run, planned_steps, remaining
from scenarios.step import Step, uses_tls
from scenarios.summary import print_summary
from scenarios.target import Target
from scenarios.workers import WorkerFailed, processes_of_run


class Orchestrator(Fixtures):
    """A profile's steps, in order, each measured by its kind on the fixtures."""

    def __init__(
        self, args: argparse.Namespace, profile: profiles.Profile, target: Target | None = None
    ) -> None:
        super().__init__(args, profile.drain_seconds)
        self.profile = profile
        self.target = target
        """The server the run drives instead of its own (`--target`)."""
        self.thresholds = (*profile.thresholds, *args.fail_if)

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
                **({"target": self.target.describe()} if self.target else {}),
                **(
                    {
                        "monitored_by": f"Prometheus on the driver CPUs, scraping every server "
                        f"every {MONITOR_EVERY_SECONDS:g} s"
                    }
                    if self.args.monitor is not None
                    else {}
                ),
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
            server: ServerProcess | Target | None = None
            if self.target is not None:
                server = self.target
            elif kind.servers != "own":
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
                    done_count = len(results["steps"])
                    done = f"{done_count}/{len(steps)}"
                    left = remaining(steps[done_count:], time.monotonic() - began, done_count,
                                     steps)  # fmt: skip
                    console.print(
                        f"{done} {step.id}: {entry['status']} ({entry['wall_seconds']} s)"
                        + (f", about {left} left" if left else "")
                    )
            await self.stop_pool(pool)
        results["thresholds"] = thresholds.check(self.thresholds, results["steps"])
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


def point_latest_at(out: Path) -> None:
    """`results/latest` names this run from its start: an interrupted or failing run's report
    is its own, not the run before it."""
    out.mkdir(parents=True, exist_ok=True)
    latest = out.parent / "latest"
    latest.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        latest.symlink_to(out.name)


INTERRUPT_GRACE_SECONDS = 20.0


MONITOR_EVERY_SECONDS = 2.0


def start_monitor(run: Orchestrator, port: int) -> Prometheus:
    """Prometheus on the driver CPUs, its data in the run's folder, watching no server yet."""
    prometheus = Prometheus(run.out / "monitor", None, MONITOR_EVERY_SECONDS, port=port).start()
    os.sched_setaffinity(prometheus.pid, set(run.pinning.driver))
    console.print(f"monitor: Prometheus at [bold]{prometheus.url}[/] (its data: "
                  f"{prometheus.folder / 'data'})")  # fmt: skip
    return prometheus


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


async def amain(args: argparse.Namespace, profile: profiles.Profile, target: Target | None) -> bool:
    run = Orchestrator(args, profile, target)
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
    if run.target is None:
        where = (
            f"server on CPU {run.pinning.server}, driver and publisher on CPU {run.pinning.driver}"
        )
        where += " [yellow](shared: figures include contention)[/]" if run.pinning.shared else ""
    else:
        measured = run.target.pids.get("server")
        where = (
            f"target {run.target.url} (not started by the run; its CPU and memory "
            + (f"from pid {measured[0]})" if measured else "not measured: no --target-pid)")
            + f", publisher on CPU {run.pinning.driver}, "
            + (
                "drivers on " + ", ".join(host.describe() for host in run.target.driver_hosts)
                if run.target.driver_hosts
                else f"driver on CPU {run.pinning.driver}"
            )
        )
    console.print(
        f"[bold]rtbench[/] profile [cyan]{profile.name}[/]: {profile.description}\n{where}"
    )
    try:
        if args.monitor is not None:
            run.monitor = await asyncio.to_thread(start_monitor, run, args.monitor)
        results = await run.execute()
    finally:
        await run.stop_all()
        if run.monitor is not None:
            await asyncio.to_thread(run.monitor.stop)
    print_summary(results, console)
    console.print(f"results: [bold]{run.out / 'results.json'}[/]")
    failed = [step["id"] for step in results["steps"] if step["status"] == "failed"]
    if failed:
        console.print(f"[red]{len(failed)} step(s) could not run:[/] {', '.join(failed)}")
    checked = results.get("thresholds", [])
    for found in checked:
        console.print(thresholds.describe(found), style=None if thresholds.held(found) else "red",
                      markup=False, highlight=False)  # fmt: skip
    crossed = [found for found in checked if not thresholds.held(found)]
    if crossed:
        console.print(f"[red]{len(crossed)} threshold(s) crossed[/]")
    return not failed and not crossed


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
    if args.list_kinds:
        print(list_kinds())
        return 0
    try:
        profile = profiles.load(args.profile or ("target" if args.target else "default"))
        if args.load_host and not args.target:
            raise ConfigError("expected --target with --load-host: the server the load hosts reach")
        target = check_target(args, profile) if args.target else None
        if args.transports:
            known = TRANSPORTS + PEERS
            bad = [t for t in args.transports if t not in known]
            if bad:
                raise ConfigError(f"expected transports among {known}, got {bad}")
        if args.monitor is not None:
            binary("prometheus", "prometheus")
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc.message}")
        return 2
    except MissingTool as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    if args.dry_run:
        print(dry_run(planned_steps(profile, args)))
        return 0
    try:
        complete = asyncio.run(amain(args, profile, target))
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[yellow]interrupted: every child process was stopped[/]")
        return 130
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
