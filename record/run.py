"""A recorded run as the report reads it: the results file, its histograms, its timelines and
the side files written beside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from hdrh.histogram import HdrHistogram

from record.contract import Results, StepResult
from record.files import find_run, read

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
        return [s for s in self.data["steps"] if s.get("status") in KEPT]

    def of(self, scenario: str, transport: str | None = None) -> list[StepResult]:
        return [
            s
            for s in self.steps
            if s["scenario"] == scenario and (transport is None or s["transport"] == transport)
        ]

    def histogram(self, step: StepResult) -> HdrHistogram | None:
        name = step.get("histogram_file")
        if not name or not (self.folder / name).exists():
            return None
        return HdrHistogram.decode((self.folder / name).read_text().strip().encode("ascii"))

    def timeline(self, step: StepResult) -> Timeline | None:
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


def load(path: str | Path) -> RecordedRun:
    """The run at `path` (a folder, its results.json, or `results` for the latest)."""
    return RecordedRun(find_run(path), read(path))
