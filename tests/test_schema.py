"""The results contract refuses what its TypedDicts and JSON schema do not declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest

import record as schema
from record.upgrade import upgrade
from scenarios import ipc

DOCS = Path(__file__).parent.parent / "docs"
TINY = Path(__file__).parent / "fixtures" / "run-tiny" / "results.json"
RUNS = [*sorted(DOCS.glob("example-run*/results.json")), TINY]


def a_step(**extra: Any) -> schema.StepResult:
    step: dict[str, Any] = {
        "id": "cluster-ws-r1",
        "scenario": "cluster",
        "result": "cluster",
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
    with pytest.raises(schema.SchemaViolation, match=r"'cluster' result .*got also \['delivred'\]"):
        schema.validate_step(a_step(delivred=10))


def test_a_key_of_another_result_fails() -> None:
    """Each result declares its own keys: an idle step's figure has no place in a cluster's."""
    with pytest.raises(schema.SchemaViolation, match=r"got also \['connected'\]"):
        schema.validate_step(a_step(connected=10))


def test_an_undeclared_result_fails() -> None:
    with pytest.raises(schema.SchemaViolation, match="expected a result among broadcast, "):
        schema.validate_step(a_step(result="ticker"))


def test_every_result_is_named_once_and_delivering_ones_are_among_them() -> None:
    assert len(schema.RESULTS) == len(get_args(schema.StepResult))
    assert set(schema.RESULTS) > schema.DELIVERING
    assert "failed" in schema.RESULTS


def test_a_value_of_the_wrong_type_fails() -> None:
    with pytest.raises(schema.SchemaViolation, match="status"):
        schema.validate_step(a_step(status="fine"))


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.parent.name)
def test_every_committed_run_matches_the_contract_as_read(path: Path) -> None:
    """Read (older versions upgraded on the way): version 2 files whole; version 1 files (no
    utilisation yet) by their keys."""
    version = json.loads(path.read_text())["schema_version"]
    results = schema.read(path)
    for step in results["steps"]:
        if version >= 2:
            schema.validate_step(step)
        assert set(step) <= schema.RESULTS[step["result"]], step["id"]


def version_2(tmp_path: Path, *steps: dict[str, Any]) -> Path:
    data = json.loads(TINY.read_text())
    data.update(schema_version=2, steps=list(steps))
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def test_a_version_2_step_is_brought_to_this_version_s_shape() -> None:
    retry = {"expected": 10, "delivered": 10, "lost": 0, "duplicated": 0, "reconnects": 2,
             "reconnect_ms": [105.0, 104.0], "reconnect_median_ms": 104.5}  # fmt: skip
    failed = {"id": "knee-ws-r1", "scenario": "knee", "transport": "ws", "repeat": 1,
              "params": {}, "status": "failed", "error": "WorkerFailed: no",
              "wall_seconds": 1}  # fmt: skip
    browser = {"id": "browser-sse-r1", "scenario": "browser", "transport": "sse", "repeat": 1,
               "params": {}, "status": "ok", "wall_seconds": 1,
               "sse_reconnection": {"stream_max_seconds": 2.0, "100": retry}}  # fmt: skip
    locust = {"id": "locust_chat-ws-r1", "scenario": "locust_chat", "transport": "ws",
              "repeat": 1, "params": {}, "status": "ok", "wall_seconds": 1,
              "publish_errors": 3}  # fmt: skip
    steps = upgrade({"steps": [failed, browser, locust]})["steps"]
    assert [s["result"] for s in steps] == ["failed", "browser", "locust"]
    assert steps[0] == {**{k: v for k, v in failed.items()}, "result": "failed"}
    assert steps[1]["sse_reconnection"] == {
        "stream_max_seconds": 2.0,
        "by_retry_ms": {"100": retry},
    }
    assert steps[2]["publish_errors"] == {"any": 3}


def test_a_version_2_file_with_a_scenario_it_could_not_hold_is_refused(tmp_path: Path) -> None:
    step = {"id": "ticker-ws-r1", "scenario": "ticker", "transport": "ws", "repeat": 1,
            "params": {}, "status": "ok", "wall_seconds": 1}  # fmt: skip
    with pytest.raises(schema.UnknownSchema, match=r"expected a scenario of version 2 .*'ticker'"):
        schema.read(version_2(tmp_path, step))


def test_a_worker_message_is_checked_at_the_boundary() -> None:
    ready = {"event": "ready", "connected": 3, "failed": 0, "errors": [], "seconds": 0.1}
    assert ipc.parse(ipc.DriverReady, ready)["connected"] == 3
    assert ipc.event_name(ipc.DriverResult) == "result"
    with pytest.raises(ipc.UnexpectedMessage, match=r"missing \['seconds'\] and with \['secs'\]"):
        ipc.parse(ipc.DriverReady, {**{k: v for k, v in ready.items() if k != "seconds"},
                                    "secs": 0.1})  # fmt: skip


def test_a_kind_s_own_figures_are_scalars() -> None:
    own = {"result": "scalars", "scenario": "echo", "figures": {"echo_ms": 1.5, "mode": "fast"}}
    schema.validate_step(a_step(**own))
    with pytest.raises(schema.SchemaViolation, match="figures/nested"):
        schema.validate_step(a_step(**{**own, "figures": {"nested": {"ms": 1.0}}}))


def test_a_file_whose_steps_break_its_contract_is_refused_as_read(tmp_path: Path) -> None:
    """Read steps are typed as the contract because each is checked against its result."""
    results = json.loads(RUNS[0].read_text())
    results["steps"][0]["connected"] = 1000  # an idle step's figure on a broadcast step
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(schema.UnknownSchema, match=r"got also \['connected'\]"):
        schema.read(tmp_path)
