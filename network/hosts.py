"""Where a child process runs: a host of this machine's topology (a network namespace) or
another machine reached by ssh. Either turns a command into the command that runs it there, so
that the harness starts a driver on a real load host exactly as it starts one in a namespace.

A process started over ssh reads its commands on stdin; when the harness stops the ssh client,
the remote side's stdin ends and the process leaves (the lean driver and the publisher stop on
end of input). Its CPU cannot be sampled from here: its figures say not measured."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

CHECKOUT = Path(__file__).resolve().parent.parent
"""This checkout's root: paths under it name the same files in a load host's checkout."""


class Launcher(Protocol):
    @property
    def local(self) -> bool:
        """Whether what it starts runs on this machine (its pid is one of ours to sample)."""
        ...

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """The command that runs `argv` there, with `env` added to its environment."""
        ...

    def describe(self) -> str: ...


def runs_here(launcher: Launcher | None) -> bool:
    """Whether what `launcher` starts runs on this machine: none (this machine's own network)
    or a namespace of it."""
    return launcher is None or launcher.local


@dataclass(frozen=True, slots=True)
class Namespace:
    """A network namespace of this machine (a host of `network.topology`): the process inherits
    the harness's environment, `env` included."""

    name: str

    @property
    def local(self) -> bool:
        return True

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def describe(self) -> str:
        return f"netns {self.name}"


@dataclass(frozen=True, slots=True)
class Ssh:
    """Another machine, by ssh: the same checkout at `workdir` (its `.venv` installed from the
    same lock), reached as `destination` (`user@host`). Everything else (keys, known hosts,
    jump hosts) comes from ssh's own configuration, or from the file `config`."""

    destination: str
    workdir: str
    port: int | None = None
    config: str | None = None

    @property
    def local(self) -> bool:
        return False

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        remote = [self.there(arg) for arg in argv]
        assignments = [f"{key}={value}" for key, value in env.items()]
        line = f"cd {shlex.quote(self.workdir)} && exec env " + shlex.join([*assignments, *remote])
        options = ["-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5"]
        options += ["-p", str(self.port)] if self.port else []
        options += ["-F", self.config] if self.config else []
        return ["ssh", *options, self.destination, line]

    def there(self, arg: str) -> str:
        """An argument as the other machine must see it: this interpreter is the checkout's
        venv there, and a path inside this checkout is the same path inside that one."""
        if arg == sys.executable:
            return str(Path(self.workdir) / ".venv" / "bin" / "python")
        if arg.startswith(f"{CHECKOUT}/"):
            return self.workdir.rstrip("/") + arg.removeprefix(str(CHECKOUT))
        return arg

    def describe(self) -> str:
        return f"ssh://{self.destination}{f':{self.port}' if self.port else ''}{self.workdir}"


def load_host(text: str) -> Ssh:
    """`ssh://user@host[:port]/path/to/rtbench[?config=/path/to/ssh_config]` → Ssh; ValueError
    saying what was expected otherwise."""
    parts = urlsplit(text)
    if parts.scheme != "ssh" or not parts.hostname or not parts.path.startswith("/"):
        raise ValueError(f"expected a load host like ssh://user@host/path/to/rtbench, got {text!r}")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"config"})
    if unknown:
        raise ValueError(f"expected only ?config=FILE after a load host, got {unknown}")
    user = f"{parts.username}@" if parts.username else ""
    return Ssh(
        destination=f"{user}{parts.hostname}",
        workdir=parts.path,
        port=parts.port,
        config=query["config"][0] if "config" in query else None,
    )
