"""Reading a run: the results file (through the contract, `scenarios.schema`), its histograms
and timelines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from scenarios.schema import Results, StepResult, UnknownSchema, find_run, read

UnknownResults = UnknownSchema
"""Not a results file this report can read."""


@dataclass
class Run:
    folder: Path
    data: Results

    @property
    def steps(self) -> list[StepResult]:
        return [s for s in self.data["steps"] if s.get("status") in ("ok", "degraded")]

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

    def timeline(self, step: StepResult) -> dict[str, Any] | None:
        name = step.get("timeline_file")
        if not name or not (self.folder / name).exists():
            return None
        loaded: dict[str, Any] = json.loads((self.folder / name).read_text())
        return loaded


def breakdown(run: Run) -> list[dict[str, Any]] | None:
    """`python -m scenarios.breakdown --out <run>/breakdown.json`'s rows, when it was run."""
    file = run.folder / "breakdown.json"
    if not file.exists():
        return None
    rows: list[dict[str, Any]] = json.loads(file.read_text())
    return rows


def load(path: str | Path) -> Run:
    """The run at `path` (a folder, its results.json, or `results` for the latest)."""
    return Run(find_run(path), read(path))
