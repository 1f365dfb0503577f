"""Run a benchmark profile against real servers and write a results file.

    python -m scenarios.run                          # the default profile: what `make bench` runs
    python -m scenarios.run --profile quick          # five minutes, loopback only
    python -m scenarios.run --profile full --transports ws,sse
    python -m scenarios.run --target http://127.0.0.1:8000 --fail-if 'p99_ms>50'
                                                     # your own server, pass/fail for CI

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
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
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
from record import TRANSPORTS, thresholds
from record.thresholds import FIGURES
from scenarios import figures as figure
from scenarios import machine
from scenarios import profile as profiles
from scenarios.fixtures import Fixtures, GroupKey, console, group_key
from scenarios.kinds import get_kind
from scenarios.plan import dry_run, planned_steps, remaining, untargetable
from scenarios.step import Step, uses_tls
from scenarios.summary import print_summary
from scenarios.target import Target, targeted
from scenarios.workers import WorkerFailed, processes_of_run


class Orchestrator(Fixtures):
    """A profile's steps, in order, each measured by its kind on the fixtures."""

    def __init__(self, args: argparse.Namespace, profile: profiles.Profile) -> None:
        super().__init__(args, profile.drain_seconds)
        self.profile = profile
        self.target = targeted(args.target, args.target_pid) if args.target else None
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
        help=f"built-in ({', '.join(profiles.builtin_profiles())}) or a .toml path "
        "(default: default, or target with --target)",
    )
    target = p.add_argument_group(
        "your own server",
        "Drive a server that is already running and speaks docs/protocol.md, with the same "
        "driver, publisher and report, instead of the servers the run starts.",
    )
    target.add_argument(
        "--target",
        metavar="URL",
        help="its base URL, e.g. http://127.0.0.1:8000; every transport of the profile is "
        "driven at URL/rooms/{room}/poll, /sse or /ws",
    )
    target.add_argument(
        "--target-pid",
        type=int,
        metavar="PID",
        help="its process, when it runs on this machine: its CPU and memory are then measured "
        "(otherwise the report says they were not)",
    )
    load = p.add_argument_group(
        "the load", "Each replaces the profile's value on every step whose kind has it."
    )
    load.add_argument("--subscribers", type=positive(int), help="subscribers per step")
    load.add_argument("--rate", type=positive(float), help="events published per second")
    load.add_argument("--payload", type=positive(int), metavar="BYTES",
                      help="bytes of each event's data")  # fmt: skip
    load.add_argument("--duration", type=positive(float), metavar="SECONDS",
                      help="seconds of each step's measured window")  # fmt: skip
    load.add_argument("--repeats", type=positive(int), help="repeats of every step")
    p.add_argument(
        "--fail-if",
        action="append",
        default=[],
        type=threshold,
        metavar="THRESHOLD",
        help="e.g. 'p99_ms>50' or 'lost>0' (repeatable, added to the profile's [thresholds]): "
        f"exit 1 when a step crosses it. Figures: {', '.join(FIGURES)}",
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
        "--list-kinds",
        action="store_true",
        help="list the scenario kinds a profile's [[scenario]] can name, with their parameters "
        "and defaults, and exit",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the steps the run would take, each with its estimated duration, and exit",
    )
    return p


def positive(kind: type[int] | type[float]) -> Any:
    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return read


def threshold(text: str) -> thresholds.Threshold:
    try:
        return thresholds.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def point_latest_at(out: Path) -> None:
    """`results/latest` names this run from its start: an interrupted or failing run's report
    is its own, not the run before it."""
    out.mkdir(parents=True, exist_ok=True)
    latest = out.parent / "latest"
    latest.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        latest.symlink_to(out.name)


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
            + f", driver and publisher on CPU {run.pinning.driver}"
        )
    console.print(
        f"[bold]rtbench[/] profile [cyan]{profile.name}[/]: {profile.description}\n{where}"
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
    checked = results.get("thresholds", [])
    for found in checked:
        console.print(thresholds.describe(found), style=None if thresholds.held(found) else "red",
                      markup=False, highlight=False)  # fmt: skip
    crossed = [found for found in checked if not thresholds.held(found)]
    if crossed:
        console.print(f"[red]{len(crossed)} threshold(s) crossed[/]")
    return not failed and not crossed


def list_kinds() -> str:
    """Every kind: its name, what it measures, its parameters with their defaults."""
    from scenarios.kinds import KINDS

    lines: list[str] = []
    for kind in KINDS.values():
        lines.append(f"{kind.name}" + ("  (--target)" if kind.targets else ""))
        lines.append(f"    {kind.about}")
        for key, values in kind.parameters.items():
            shown = values[0] if len(values) == 1 else values
            lines.append(f"    {key} = {json.dumps(shown)}")
    return "\n".join(lines)


def check_target(args: argparse.Namespace, profile: profiles.Profile) -> None:
    """`--target`: a base URL, a profile of steps a server the run did not start can take, a
    local pid when given, and a server that answers `/healthz` now (ConfigError otherwise)."""
    try:
        target = targeted(args.target, args.target_pid)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    refused = untargetable(planned_steps(profile, args))
    if refused:
        raise ConfigError(
            f"expected steps that a server the run did not start can take with --target, got "
            f"{'; '.join(refused[:5])}"
            + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        )
    if args.target_pid is not None and not Path(f"/proc/{args.target_pid}").exists():
        raise ConfigError(
            f"expected --target-pid of a process on this machine, got {args.target_pid}"
        )
    try:
        answer = httpx.get(f"{target.url}/healthz", timeout=5)
    except httpx.HTTPError as exc:
        raise ConfigError(f"expected a server answering at {target.url}, got {exc!r}") from None
    if answer.status_code != 200:
        raise ConfigError(f"expected 200 from {target.url}/healthz, got {answer.status_code}")


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
        if args.target:
            check_target(args, profile)
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
