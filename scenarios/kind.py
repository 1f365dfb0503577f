"""What a scenario kind is: the one shape every module of `scenarios/kinds` fills in, as
uvicorn's protocol classes fill in asyncio's.

A kind names itself, declares its parameters with their defaults, and measures one step:
`measure(run, step, server)` returns the step's figures. `server` is what the orchestrator
started for the step: a server of the step's transport and knobs, kept while steps of one kind
interleave (`pooled`), a new one for each step (`fresh`), or None for kinds that start their
own (`own`: clusters, proxies with several servers). The registry, `scenarios.kinds.KINDS`,
is the one list of kinds: profiles accept its names and parameters, and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from record import FigureRecord, KindRecord, StepResult

if TYPE_CHECKING:
    from processes.server import ServerProcess
    from scenarios.fixtures import Fixtures
    from scenarios.step import Step
    from scenarios.target import Target

Measure = Callable[["Fixtures", "Step", "ServerProcess | Target | None"], Awaitable[StepResult]]
Servers = Literal["pooled", "fresh", "own"]
Parameters = dict[str, list[Any]]
"""Parameter name -> default values; a profile's lists expand into one step per combination."""


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    about: str
    """One line: what a step of this kind measures."""
    parameters: Parameters
    measure: Measure
    servers: Servers = "pooled"
    peers: bool = False
    """Reference peers run it too: they have no resume, no member publishing and no knobs."""
    targets: bool = False
    """It can measure a server the harness did not start (`--target`): it needs nothing of the
    server but the wire contract (`docs/protocol.md`), and nothing of its process but what
    its pid gives, when known."""
    load: Callable[[dict[str, Any]], str] | None = None
    """The load a step of these parameters offers, in words, for the terminal summary."""
    summary: Callable[[StepResult], str] | None = None
    """One line of a step's figures for the run's terminal summary, for a kind whose figures
    are not the broadcast table's columns (latency, bytes and CPU per message)."""
    check: Callable[[Parameters], None] | None = None
    """Checks a profile's values of this kind's parameters as the profile is read (ValueError
    with `expected X, got Y`), for values a type alone does not bound (a name of a registry)."""
    figures: dict[str, FigureRecord] = field(default_factory=dict)
    """A kind that writes its own figures (`result` "scalars"): each one's label and unit, in
    the order of the report's columns. The run copies them into the results file's `kinds`."""

    def record(self) -> KindRecord:
        return {"about": self.about, "figures": self.figures}
