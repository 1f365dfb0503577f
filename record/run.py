"""A recorded run as the report reads it: the results file, its histograms, its timelines and
the side files written beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, TypeGuard, cast

from hdrh.histogram import HdrHistogram

from record.contract import Results
from record.files import find_run, read
from record.parts import (
    LatencySummary,
    Utilisation,
)
from record.steps import (
    DELIVERING,
    BroadcastStep,
    BrowserStep,
    ChatStep,
    DelayStep,
    DeliveryStep,
    IdleStep,
    KneePoint,
    KneeStep,
    LinkStep,
    ProxyIdleStep,
    ProxyStep,
    ScalarStep,
    StepResult,
)

KEPT = ("ok", "degraded")
"""Step statuses that carry figures; a failed step carries its error only."""


class LayerShare(TypedDict):
    share: float
    us_per_message: float | None


class BreakdownRow(TypedDict):
    """One transport of `python -m scenarios.tools.breakdown --out <run>/breakdown.json`: py-spy's
    split of a delivery's server CPU by layer."""

    transport: str
    fanout: str
    subscribers: int
    rate: float
    lost: int
    samples: int
    idle_samples: int
    server_cpu_us_per_message: float | None
    server_core: float | None
    server_core_sampled: float | None
    layers: dict[str, LayerShare]


class Timeline(TypedDict, total=False):
    """A step's deliveries over time (`timeline_file`), bucket by bucket from `start_ns`."""

    bucket_ms: int
    start_ns: int
    delivered: list[int]
    reconnects: list[int]
    p99_us: list[float | None]
    """Only when the driver kept latencies over time (the storm)."""


@dataclass
class RecordedRun:
    folder: Path
    data: Results

    @property
    def steps(self) -> list[StepResult]:
        """The steps that carry figures: not the failed ones."""
        return [s for s in self.data["steps"] if s["status"] in KEPT]

    def of(self, scenario: str, transport: str | None = None) -> list[StepResult]:
        return [
            s
            for s in self.steps
            if s["scenario"] == scenario and (transport is None or s["transport"] == transport)
        ]

    def deliveries(self, scenario: str, transport: str | None = None) -> list[DeliveryStep]:
        """The steps of `scenario` that carry delivery figures."""
        return [s for s in self.of(scenario, transport) if delivers(s)]

    def broadcasts(self, scenario: str, transport: str | None = None) -> list[BroadcastStep]:
        """The steps of `scenario` that broadcast's kinds wrote (with their soak or storm)."""
        return [s for s in self.of(scenario, transport) if s["result"] == "broadcast"]

    def chats(self, transport: str | None = None) -> list[ChatStep]:
        return [s for s in self.of("chat", transport) if s["result"] == "chat"]

    def proxies(self, transport: str | None = None) -> list[ProxyStep]:
        return [s for s in self.of("proxy", transport) if s["result"] == "proxy"]

    def links(self, transport: str | None = None) -> list[LinkStep]:
        """The steps over a link (`network`, `network_locust`)."""
        steps = self.of("network", transport) + self.of("network_locust", transport)
        return [s for s in steps if s["result"] == "link"]

    def scalars(self, scenario: str, transport: str | None = None) -> list[ScalarStep]:
        """The steps of a kind that wrote its own figures (`kinds` in the file names them)."""
        return [s for s in self.of(scenario, transport) if s["result"] == "scalars"]

    def knees(self, transport: str | None = None) -> list[KneeStep]:
        return [s for s in self.of("knee", transport) if s["result"] == "knee"]

    def idles(self, transport: str | None = None) -> list[IdleStep]:
        return [s for s in self.of("idle", transport) if s["result"] == "idle"]

    def proxy_idles(self, transport: str | None = None) -> list[ProxyIdleStep]:
        return [s for s in self.of("proxy_idle", transport) if s["result"] == "proxy_idle"]

    def delays(self, transport: str | None = None) -> list[DelayStep]:
        return [s for s in self.of("delay", transport) if s["result"] == "delay"]

    def browsers(self, transport: str | None = None) -> list[BrowserStep]:
        return [s for s in self.of("browser", transport) if s["result"] == "browser"]

    def histogram(self, step: DeliveryStep | KneePoint) -> HdrHistogram | None:
        name = step.get("histogram_file")
        if not name or not (self.folder / name).exists():
            return None
        return HdrHistogram.decode((self.folder / name).read_text().strip().encode("ascii"))

    def timeline(self, step: DeliveryStep | KneePoint) -> Timeline | None:
        name = step.get("timeline_file")
        if not name or not (self.folder / name).exists():
            return None
        return cast(Timeline, json.loads((self.folder / name).read_text()))

    def breakdown(self) -> list[BreakdownRow] | None:
        """The breakdown's rows, when it was run into this folder."""
        file = self.folder / "breakdown.json"
        if not file.exists():
            return None
        return cast(list[BreakdownRow], json.loads(file.read_text()))


def latency_of(step: StepResult) -> LatencySummary | None:
    """The step's latency over every raw sample, where its kind measured one."""
    if step["result"] == "browser" or delivers(step):
        return step.get("latency_us")
    return None


def utilisation_of(step: StepResult) -> Utilisation:
    """The step's utilisation block; empty where its kind, or a version-1 file, has none."""
    if step["result"] == "scalars" or step["result"] == "browser" or step["result"] == "delay":
        return step.get("utilisation", {})
    return step.get("utilisation", {}) if delivers(step) else {}


def delivers(step: StepResult) -> TypeGuard[DeliveryStep]:
    """Whether the step carries delivery figures, whichever kind wrote them."""
    return step["result"] in DELIVERING


def load(path: str | Path) -> RecordedRun:
    """The run at `path` (a folder, its results.json, or `results` for the latest)."""
    return RecordedRun(find_run(path), read(path))
