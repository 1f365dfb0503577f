"""`rtbench bench`'s command line: its options, how each is read and checked, and the checks
of a `--target` before anything runs."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx

from core import ConfigError
from network.hosts import Ssh, load_host
from record import thresholds
from record.thresholds import FIGURES
from scenarios import profile as profiles
from scenarios.kinds import KINDS
from scenarios.plan import planned_steps, untargetable
from scenarios.target import Target, targeted

USAGE = """Run a benchmark profile against real servers and write a results file.

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
        description=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--profile",
        help=f"built-in ({', '.join(profiles.builtin_profiles())}) or a .toml path "
        "(default: default, or target with --target)",
    )
    add_target_options(p)
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
    p.add_argument(
        "--monitor",
        type=int,
        nargs="?",
        const=9090,
        metavar="PORT",
        help="watch the run live: a Prometheus on 127.0.0.1:PORT (9090) scrapes every server "
        "the run starts, with the rules of monitoring/rules (docs/monitoring.md); on the "
        "driver core",
    )
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


def add_target_options(p: argparse.ArgumentParser) -> None:
    """`--target`, `--target-pid`, `--load-host`: a server the run did not start."""
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
    target.add_argument(
        "--load-host",
        action="append",
        default=[],
        type=load_host_option,
        metavar="ssh://USER@HOST/PATH",
        help="run the drivers on this machine, by ssh, in its checkout at PATH (repeatable: "
        "the subscribers split between them); ?config=FILE for an ssh_config. See "
        "docs/multi-host.md",
    )


def positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return read


def load_host_option(text: str) -> Ssh:
    try:
        return load_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def threshold(text: str) -> thresholds.Threshold:
    try:
        return thresholds.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def list_kinds() -> str:
    """Every kind: its name, what it measures, its parameters with their defaults."""
    lines: list[str] = []
    for kind in KINDS.values():
        lines.append(f"{kind.name}" + ("  (--target)" if kind.targets else ""))
        lines.append(f"    {kind.about}")
        for key, values in kind.parameters.items():
            shown = values[0] if len(values) == 1 else values
            lines.append(f"    {key} = {json.dumps(shown)}")
    return "\n".join(lines)


def check_target(args: argparse.Namespace, profile: profiles.Profile) -> Target:
    """`--target`'s server: a base URL, a profile of steps a server the run did not start can
    take, a local pid when given, and a server that answers `/healthz` now (ConfigError
    otherwise)."""
    try:
        target = targeted(args.target, args.target_pid, tuple(args.load_host))
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
    return target
