"""The Python environment a run measured: every installed distribution, and how it stands
against `requirements.lock`, the exact versions `make install` puts in `.venv`.

A benchmark's figures depend on the versions of the code they measure (uvicorn's protocol
classes, websockets' parser, uvloop). A results file therefore names every distribution, the
lock's SHA-256, and whether the environment is the locked one; the report says so when it is
not, so that two runs from two environments are never read as one build against another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from record import LockState

LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"

NOT_LOCKED = frozenset({"pip", "rtbench"})
"""Installed in every venv, but not by the lock: pip comes with the venv, rtbench is the
checkout itself (installed editable from the working tree, so its version is the git commit)."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def installed() -> dict[str, str]:
    """Every distribution this interpreter can import, by canonical name."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return dict(sorted(found.items()))


def pins(text: str) -> dict[str, str]:
    """The lock's `name==version` lines whose environment marker holds on this interpreter.

    A universal lock may pin one package twice for two Python versions; the marker picks one.
    """
    chosen: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match is None:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate():
            continue
        chosen[canonicalize_name(name)] = version
    return chosen


def differences(locked: Mapping[str, str], present: Mapping[str, str]) -> list[str]:
    """What differs between the lock and the environment, one readable line per package."""
    lines: list[str] = []
    for name in sorted(set(locked) | set(present)):
        if name in NOT_LOCKED:
            continue
        want, have = locked.get(name), present.get(name)
        if want == have:
            continue
        if have is None:
            lines.append(f"{name}: expected {want} (locked), got nothing installed")
        elif want is None:
            lines.append(f"{name}: expected nothing (not in the lock), got {have}")
        else:
            lines.append(f"{name}: expected {want} (locked), got {have}")
    return lines


def lock_state(lock: Path = LOCK_FILE, present: Mapping[str, str] | None = None) -> LockState:
    environment = installed() if present is None else present
    try:
        raw = lock.read_bytes()
    except OSError:
        return {"file": lock.name, "sha256": None, "matches": None, "differences": []}
    found = differences(pins(raw.decode()), environment)
    return {
        "file": lock.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "matches": not found,
        "differences": found,
    }
