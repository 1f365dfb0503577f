"""The textbook Starlette reference (`scenarios/load/textbook.py`) is measured by the same
driver as our servers: every event reaches every subscriber on each transport."""

from __future__ import annotations

import json

import pytest

import record
from tests.conftest import TRANSPORTS
from tests.support import run_profile

pytestmark = pytest.mark.timeout(240)

PROFILE = f"""
name = "textbook-test"
description = "A broadcast through the textbook server of each transport."
transports = {json.dumps(list(TRANSPORTS))}
repeat = 1

[[scenario]]
kind = "broadcast"
subscribers = 20
rate = 20
duration_seconds = 1
warmup_seconds = 0.5
server = "textbook"
"""


@pytest.fixture(scope="module")
def textbook_run(tmp_path_factory: pytest.TempPathFactory) -> record.RecordedRun:
    return run_profile(tmp_path_factory.mktemp("textbook"), PROFILE)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_textbook_server_delivers_every_event_to_the_same_driver(
    textbook_run: record.RecordedRun, transport: str
) -> None:
    [step] = textbook_run.deliveries("broadcast", transport)
    assert step["id"].endswith("-textbook-r1")
    assert step["status"] == "ok", step.get("degraded_because")
    assert step.get("lost") == 0 and step.get("duplicated") == 0
    assert step.get("delivered") == step.get("expected") and step.get("expected", 0) > 0
