"""Reading a run: the results file, its histograms and timelines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

SCHEMA = "rtbench.results"
KNOWN_VERSIONS = (1, 2)


class UnknownResults(ValueError):
    """Not a results file this report can read."""


@dataclass
class Run:
    folder: Path
    data: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [s for s in self.data["steps"] if s.get("status") in ("ok", "degraded")]

    def of(self, scenario: str, transport: str | None = None) -> list[dict[str, Any]]:
        return [
            s
            for s in self.steps
            if s["scenario"] == scenario and (transport is None or s["transport"] == transport)
        ]

    def histogram(self, step: dict[str, Any]) -> HdrHistogram | None:
        name = step.get("histogram_file")
        if not name or not (self.folder / name).exists():
            return None
        return HdrHistogram.decode((self.folder / name).read_text().strip().encode("ascii"))

    def timeline(self, step: dict[str, Any]) -> dict[str, Any] | None:
        name = step.get("timeline_file")
        if not name or not (self.folder / name).exists():
            return None
        loaded: dict[str, Any] = json.loads((self.folder / name).read_text())
        return loaded


def find_run(path: str | Path) -> Path:
    """A run folder from a folder, a results.json, or `results` (its `latest`)."""
    path = Path(path)
    if path.is_file():
        return path.parent
    if (path / "results.json").exists():
        return path
    if (path / "latest" / "results.json").exists():
        return (path / "latest").resolve()
    raise UnknownResults(f"expected a run folder with results.json at {path}, got none there")


def load(path: str | Path) -> Run:
    folder = find_run(path)
    try:
        data = json.loads((folder / "results.json").read_text())
    except ValueError as exc:
        raise UnknownResults(f"expected JSON in {folder / 'results.json'}, got {exc}") from exc
    schema, version = data.get("schema"), data.get("schema_version")
    if schema != SCHEMA or version not in KNOWN_VERSIONS:
        raise UnknownResults(
            f"expected {SCHEMA} version {' or '.join(map(str, KNOWN_VERSIONS))} in "
            f"{folder / 'results.json'}, got {schema!r} version {version!r}: "
            "this report cannot read it (is rtbench older than the run?)"
        )
    return Run(folder, data)
