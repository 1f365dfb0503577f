"""The steps a run takes: its profile's, with the command line's overrides (`--transports`,
the load, the repeats, the cluster's broker and nodes), and what they should take in time."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterable

from scenarios import profile as profiles
from scenarios.kinds import get_kind
from scenarios.step import Step, server_settings

LOAD_OVERRIDES = {
    "subscribers": "subscribers",
    "rate": "rate",
    "payload": "payload_bytes",
    "duration": "duration_seconds",
}
"""Command-line option → the parameter it sets on every step whose kind has that parameter."""


def planned_steps(profile: profiles.Profile, args: argparse.Namespace) -> list[Step]:
    """The steps the run takes, in order: the profile's, for `--transports` only, with the
    command line's overrides. Steps that the overrides make alike are taken once."""
    repeats = getattr(args, "repeats", None)
    if repeats is not None:
        blocks = tuple((kind, values, repeats, only)
                       for kind, values, _, only in profile.scenarios)  # fmt: skip
        profile = dataclasses.replace(profile, scenarios=blocks, repeat=repeats)
    steps: list[Step] = []
    seen: set[tuple[str, int]] = set()
    for step in profile.steps():
        step = override(step, args)
        if (step.id, step.block) in seen:
            continue
        seen.add((step.id, step.block))
        steps.append(step)
    return [s for s in steps if s.transport in args.transports] if args.transports else steps


def override(step: Step, args: argparse.Namespace) -> Step:
    """The command line's values in place of the profile's (and so in the step's id): the load
    (`--subscribers`, `--rate`, `--payload`, `--duration`) on every kind that has that
    parameter; `--cluster-broker` / `--cluster-nodes` on clusters behind a load balancer."""
    changes = {
        parameter: value
        for option, parameter in LOAD_OVERRIDES.items()
        if (value := getattr(args, option, None)) is not None and parameter in step.params
    }
    if step.scenario in ("cluster", "cluster_locust"):
        nodes = args.cluster_nodes if step.params.get("lb") else None  # 1-node steps stay
        changes |= {
            key: value
            for key, value in (("broker", args.cluster_broker), ("nodes", nodes))
            if value is not None
        }
    if not changes:
        return step
    return Step(step.scenario, step.transport, {**step.params, **changes}, step.repeat, step.block)


STEP_OVERHEAD_SECONDS = 3.0
"""What a step costs beyond its declared seconds, here: processes started and stopped, the drain."""


def remaining(left: list[Step], spent: float, done: int, steps: list[Step]) -> str:
    """The time the steps left should take: their estimates, scaled by how the `done` steps
    so far compared with theirs."""
    if not left or not done:
        return ""
    estimated_done = sum(estimated_seconds(step) for step in steps[:done])
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


def untargetable(steps: Iterable[Step]) -> list[str]:
    """The steps a server the harness did not start cannot take, each with why."""
    found: dict[str, str] = {}
    for step in steps:
        kind = get_kind(step.scenario)
        if not kind.targets:
            found.setdefault(step.scenario, f"{step.scenario} (its kind starts its own servers)")
            continue
        knobs = server_settings(step.params)
        if knobs:
            found.setdefault(step.id, f"{step.id} (sets {', '.join(knobs)} on the server)")
    return list(found.values())
