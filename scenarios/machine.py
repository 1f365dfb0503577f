"""What a results file says about where it was measured: the machine (CPU, cores and which
share a physical core, memory, kernel, virtual or not) and the software (Python, every
installed distribution and how it stands against requirements.lock, the git commit). The
results contract itself is the `record` package."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from record import GitState, Machine, Software
from scenarios import environment

PACKAGES = (
    "rtbench",
    "starlette",
    "uvicorn",
    "websockets",
    "httptools",
    "uvloop",
    "httpx",
    "hdrhistogram",
    "hypercorn",
    "granian",
    "picows",
    "h2",
    "playwright",
)


MINIMUM_PYTHON = (3, 11)


def unsupported_platform() -> str | None:
    """Why this machine cannot run rtbench, in one sentence, or None when it can: the harness
    pins processes to CPUs and reads /proc, schedstat and TCP_INFO, all of which are Linux's."""
    if not sys.platform.startswith("linux"):
        return (
            "rtbench needs Linux (CPU pinning, /proc, schedstat and TCP_INFO), "
            f"got {platform.system() or sys.platform}"
        )
    if sys.version_info < MINIMUM_PYTHON:
        return (
            f"rtbench needs Python >= {'.'.join(map(str, MINIMUM_PYTHON))}, "
            f"got {platform.python_version()}"
        )
    return None


def machine() -> Machine:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        **topology(),
        "cpu_model": cpu_model or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "kernel": platform.release(),
        "os": platform.platform(),
        "hostname": platform.node(),
        "clock_ticks_per_second": os.sysconf("SC_CLK_TCK"),
    }


def topology() -> Machine:
    """Whether this is a virtual machine, and which CPUs share a physical core: two "cores"
    that are hyper-threads of one core do not give a server and a driver a core each."""
    flags = ""
    with contextlib.suppress(OSError):
        flags = next(
            (line for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("flags")), ""
        )  # fmt: skip
    siblings: dict[str, str] = {}
    for folder in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*")):
        try:
            siblings[folder.name[3:]] = (
                (folder / "topology/thread_siblings_list").read_text().strip()
            )
        except OSError:
            continue
    shared = sorted({v for v in siblings.values() if "," in v or "-" in v})
    return {
        "virtual_machine": " hypervisor" in f" {flags.split(':', 1)[-1]} ",
        "thread_siblings": siblings,
        "cpus_sharing_a_core": shared,
    }


def software() -> Software:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "packages": versions,
        "distributions": environment.installed(),
        "lock": environment.lock_state(),
        "git": git_state(),
    }


def git_state() -> GitState:
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}
