"""The results contract refuses what its TypedDicts and JSON schema do not declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import record as schema
from scenarios import ipc

DOCS = Path(__file__).parent.parent / "docs"
TINY = Path(__file__).parent / "fixtures" / "run-tiny" / "results.json"
RUNS = [*sorted(DOCS.glob("example-run*/results.json")), TINY]


def a_step(**extra: Any) -> schema.StepResult:
    step: dict[str, Any] = {
        "id": "cluster-ws-r1",
        "scenario": "cluster",
        "transport": "ws",
        "repeat": 1,
        "params": {},
        "status": "ok",
        "wall_seconds": 1.0,
        **extra,
    }
    return step  # type: ignore[return-value]


def test_a_declared_step_passes() -> None:
    schema.validate_step(a_step(delivered=10))


def test_a_misspelt_key_fails_loudly() -> None:
    with pytest.raises(schema.SchemaViolation, match=r"expected step keys .*got \['delivred'\]"):
        schema.validate_step(a_step(delivred=10))


def test_a_value_of_the_wrong_type_fails() -> None:
    with pytest.raises(schema.SchemaViolation, match="status"):
        schema.validate_step(a_step(status="fine"))


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.parent.name)
def test_every_committed_run_matches_the_contract(path: Path) -> None:
    """Version 2 files whole; version 1 files (no utilisation yet) by their keys."""
    results = json.loads(path.read_text())
    for step in results["steps"]:
        if results["schema_version"] == schema.SCHEMA_VERSION:
            schema.validate_step(step)
        else:
            assert set(step) <= schema.STEP_KEYS


def test_a_worker_message_is_checked_at_the_boundary() -> None:
    ready = {"event": "ready", "connected": 3, "failed": 0, "errors": [], "seconds": 0.1}
    assert ipc.parse(ipc.DriverReady, ready)["connected"] == 3
    assert ipc.event_name(ipc.DriverResult) == "result"
    with pytest.raises(ipc.UnexpectedMessage, match=r"missing \['seconds'\] and with \['secs'\]"):
        ipc.parse(ipc.DriverReady, {**{k: v for k, v in ready.items() if k != "seconds"},
                                    "secs": 0.1})  # fmt: skip
