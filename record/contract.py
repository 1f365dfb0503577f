"""The results contract: the typed shape of a run's `results.json`, and its version. Its steps
are typed in `record.steps`.

`scenarios` writes it and `report` reads it; this package imports neither, and neither reaches
the other through it (`tests/test_layering.py`). `results.schema.json` beside this module
describes the same file for other readers; `record.files` validates against it.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from record.steps import KindRecord, StepResult
from record.thresholds import ThresholdRecord

SCHEMA = "rtbench.results"
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
"""Older versions are brought to this one as they are read (`record.upgrade`). Version 1 had no
utilisation figures; the report says so where it matters. Version 2 had one bag of keys for
every step, without `result`."""

TomlValue = str | int | float | bool | list["TomlValue"] | dict[str, "TomlValue"]


class LockState(TypedDict):
    """The environment against requirements.lock (`software.lock`); `sha256` and `matches` are
    None where no lock lay beside the code, as in an installed wheel."""

    file: str
    sha256: str | None
    matches: bool | None
    differences: list[str]


def describe_lock(software: Software) -> str:
    """One sentence on the run's environment against the lock, for the summary and the report."""
    state: LockState | None = software.get("lock")
    if state is None:
        return "the run did not record its environment against requirements.lock"
    if state["sha256"] is None:
        return "no requirements.lock beside the code: the environment was not checked against it"
    short = state["sha256"][:12]
    if state["matches"]:
        return f"installed from requirements.lock (sha256 {short}), every version as locked"
    found = state["differences"]
    shown = "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
    return (
        f"not the locked environment: {len(found)} package(s) differ from requirements.lock "
        f"(sha256 {short}): {shown}"
    )


class ProfileRecord(TypedDict):
    name: str
    description: str
    definition: dict[str, TomlValue]
    """The profile's TOML as read: what the run was asked to do, in the user's own keys."""


class Machine(TypedDict, total=False):
    """Where the run was measured. Runs before topology was recorded lack its three keys."""

    cpu_model: str
    cores: int | None
    memory_bytes: int
    kernel: str
    os: str
    hostname: str
    clock_ticks_per_second: int
    virtual_machine: bool
    thread_siblings: dict[str, str]
    """Each CPU's hyper-thread siblings, as the kernel lists them (`0-1`, `2`)."""
    cpus_sharing_a_core: list[str]


class GitState(TypedDict):
    commit: str | None
    dirty: bool | None
    """Uncommitted changes to tracked files: the figures are not the commit's alone."""


class Software(TypedDict, total=False):
    python: str
    implementation: str
    packages: dict[str, str | None]
    """The versions that decide the figures (uvicorn, starlette, …); None: not installed."""
    distributions: dict[str, str]
    """Every installed distribution, by name."""
    lock: LockState | None
    git: GitState


class PinningRecord(TypedDict):
    server_cpus: list[int]
    driver_cpus: list[int]
    publisher_cpus: list[int]
    shared: bool
    """Servers and load shared a CPU: figures include contention."""


class TargetRecord(TypedDict):
    """A server the run drove but did not start (`--target`)."""

    url: str
    pid: int | None
    server_measured: bool
    """Its CPU and memory were sampled (its pid was given): false, the report says so."""
    load_hosts: NotRequired[list[str]]
    """Where the drivers ran (`--load-host`), when not on this machine; their CPU is not
    measured."""


class Settings(TypedDict, total=False):
    saturation: dict[str, float]
    """Past these core utilisations a step is saturated (`server`, `driver`, `kept_up`)."""
    broker: str
    tls: bool
    driver: str
    target: TargetRecord
    monitored_by: str
    """A Prometheus scraped the run's servers (`--monitor`): what it cost sits on the
    driver's core."""


class Results(TypedDict):
    schema: str
    schema_version: int
    run_id: str
    created: str
    command: str
    profile: ProfileRecord
    machine: Machine
    software: Software
    pinning: PinningRecord
    settings: Settings
    client_code_lines: dict[str, int]
    kinds: NotRequired[dict[str, KindRecord]]
    """Each kind the run ran: what it measures and the figures it declared (version 3)."""
    steps: list[StepResult]
    thresholds: NotRequired[list[ThresholdRecord]]
    """Each threshold the run was given (`--fail-if`, the profile's `[thresholds]`) and the
    steps that crossed it."""
