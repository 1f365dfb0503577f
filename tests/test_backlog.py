"""The `backlog` kind against real servers: a subscriber that missed a backlog catches up with
every event, once each, in the requests its transport needs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

import record
from core.config import Limits
from tests.conftest import TRANSPORTS
from tests.support import run_profile

pytestmark = pytest.mark.timeout(240)

BACKLOG = 300
"""More than one long poll's batch: its catch-up takes more than one request."""

PROFILE = f"""
name = "backlog-test"
description = "The backlog kind on every transport."
transports = {json.dumps(list(TRANSPORTS))}
repeat = 1

[[scenario]]
kind = "backlog"
backlog = {BACKLOG}
tries = 2
"""


@pytest.fixture(scope="module")
def backlog_run(tmp_path_factory: pytest.TempPathFactory) -> record.RecordedRun:
    return run_profile(tmp_path_factory.mktemp("backlog"), PROFILE)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_subscriber_catches_up_a_backlog_whole_in_its_transport_s_requests(
    backlog_run: record.RecordedRun, transport: str
) -> None:
    [step] = backlog_run.scalars("backlog", transport)
    figures = step["figures"]
    assert step["status"] == "ok", step.get("degraded_because")
    assert (figures["backlog"], figures["lost"], figures["duplicated"]) == (BACKLOG, 0, 0)
    batch = Limits().poll_batch
    expected = math.ceil(BACKLOG / batch) if transport == "longpoll" else 1
    assert figures["requests_per_catch_up"] == expected


def test_the_run_describes_the_kind_and_the_report_shows_it(
    backlog_run: record.RecordedRun,
) -> None:
    kind = backlog_run.data["kinds"]["backlog"]
    assert kind["figures"]["catch_up_median_ms"] == {"label": "catch-up (median)", "unit": "ms"}
    done = subprocess.run(
        [sys.executable, "-m", "report", str(backlog_run.folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (backlog_run.folder / "report.md").read_text()
    assert "## More measurements" in text and "**backlog**:" in text
    assert "catch-up (median) (ms)" in text
