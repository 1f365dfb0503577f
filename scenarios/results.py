"""The results file: versioned JSON with the machine, the software and every step's figures.

Readers refuse a schema version they do not know instead of guessing at its meaning.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path
from typing import Any

SCHEMA = "rtbench.results"
SCHEMA_VERSION = 2
PACKAGES = (
    "rtbench",
    "starlette",
    "uvicorn",
    "websockets",
    "httptools",
    "uvloop",
    "httpx",
    "hdrhistogram",
)


class UnknownSchema(ValueError):
    pass


def machine() -> dict[str, Any]:
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


def topology() -> dict[str, Any]:
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


def software() -> dict[str, Any]:
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
        "git": git_state(),
    }


def git_state() -> dict[str, Any]:
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


def schema() -> dict[str, Any]:
    text = (resources.files("scenarios") / "results.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def load(path: str | Path) -> dict[str, Any]:
    """Read a results file, refusing one whose schema this version does not know."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    results: dict[str, Any] = json.loads(path.read_text())
    if results.get("schema") != SCHEMA or results.get("schema_version") != SCHEMA_VERSION:
        raise UnknownSchema(
            f"expected {SCHEMA} version {SCHEMA_VERSION} in {path}, got "
            f"{results.get('schema')!r} version {results.get('schema_version')!r}"
        )
    return results
