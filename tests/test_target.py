"""`--target`: the run drives a server it did not start, on all three transports, with the same
driver and publisher; thresholds (`--fail-if`, `[thresholds]`) fail it with exit 1 and name what
was crossed; the load comes from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from record import thresholds
from record.steps import StepResult
from tests.support import ServerApart

ROOT = Path(__file__).resolve().parent.parent


SERVERS = {
    # Ours, serving the three transports on one port.
    "ours": [sys.executable, "-m", "servers", "all", "--port", "0", "--log-format", "json"],
    # Another framework's, written from docs/protocol.md alone.
    "aiohttp": [sys.executable, "examples/aiohttp_server.py", "--port", "0"],
}


@pytest.fixture(params=list(SERVERS), scope="module")
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerApart]:
    log = tmp_path_factory.mktemp("target") / f"{request.param}.log"
    server = ServerApart(SERVERS[request.param], log)
    try:
        yield server
    finally:
        server.stop()


def bench(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenarios.run", "--out", str(tmp_path), "--run-id", "run", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


SMALL = ["--repeats", "1", "--subscribers", "20", "--rate", "20", "--duration", "1"]


def test_a_running_server_is_driven_on_every_transport_and_a_crossed_threshold_fails_the_run(
    running: ServerApart, tmp_path: Path
) -> None:
    done = bench(tmp_path, "--target", running.url, "--target-pid", str(running.proc.pid),
                 *SMALL, "--fail-if", "p99_ms>0.001", "--fail-if", "lost>0")  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:] + done.stdout[-2000:]
    said = done.stdout + done.stderr
    assert "✗ p99_ms>0.001" in said and "✓ lost>0: held on 3 step(s)" in said
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    steps = results["steps"]
    assert [s["transport"] for s in steps] == ["longpoll", "sse", "ws"]
    for step in steps:
        assert step["status"] == "ok", step.get("error")
        assert step["params"]["subscribers"] == 20
        assert step["lost"] == 0 and step["delivered"] == step["expected"] > 0
        # Its pid was given: the server's CPU is measured.
        assert step["server_cpu_us_per_message"] is not None
    assert results["settings"]["target"] == {
        "url": running.url, "pid": running.proc.pid, "server_measured": True, "load_hosts": [],
    }  # fmt: skip
    p99, lost = results["thresholds"]
    assert [c["step"] for c in p99["crossed"]] == [s["id"] for s in steps]
    assert lost["crossed"] == [] and lost["checked_steps"] == 3


def test_without_its_pid_a_targets_cpu_is_not_measured_and_a_threshold_on_it_is_not_met(
    tmp_path: Path,
) -> None:
    server = ServerApart(SERVERS["aiohttp"], tmp_path / "server.log")
    try:
        done = bench(tmp_path, "--target", server.url, *SMALL, "--transports", "ws",
                     "--fail-if", "server_cpu_us>1000000")  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 1, done.stdout[-2000:]
    assert "not measured" in done.stdout + done.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    [step] = results["steps"]
    assert step["status"] == "ok" and step["server_cpu_us_per_message"] is None
    assert results["settings"]["target"]["server_measured"] is False
    [cpu] = results["thresholds"]
    assert cpu["crossed"] == [{"step": step["id"], "value": None}]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--target", "http://127.0.0.1:9", "--profile", "quick"],
         "expected steps that a server the run did not start can take with --target"),
        (["--target", "http://127.0.0.1:9"], "expected a server answering at http://127.0.0.1:9"),
        (["--target", "ftp://example"], "expected a server's base URL like http://127.0.0.1:8000"),
        (["--target", "http://127.0.0.1:9/app"], "got 'http://127.0.0.1:9/app'"),
        (["--fail-if", "p98_ms>5"], "expected a figure among p50_ms"),
        (["--fail-if", "p99_ms=5"], "expected a threshold like 'p99_ms>50'"),
        (["--subscribers", "0"], "expected a positive number, got '0'"),
        (["--rate", "fast"], "expected a positive number, got 'fast'"),
    ],
)  # fmt: skip
def test_what_the_run_cannot_do_is_refused_with_exit_2_and_why(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = bench(tmp_path, *args, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stdout + done.stderr
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_profiles_thresholds_table_joins_the_command_lines(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[[scenario]]\nkind = "broadcast"\n[thresholds]\nfail_if = ["lost>0", "p99_ms>2000"]\n'
    )
    done = bench(tmp_path, "--profile", str(profile), "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    profile.write_text('[[scenario]]\nkind = "broadcast"\n[thresholds]\nfail_if = ["lost"]\n')
    done = bench(tmp_path, "--profile", str(profile), "--dry-run")
    assert done.returncode == 2 and "thresholds: expected a threshold like" in done.stderr


def test_the_load_from_the_command_line_replaces_the_profiles(tmp_path: Path) -> None:
    done = bench(tmp_path, "--profile", "quick", "--dry-run", "--subscribers", "7", "--rate",
                 "3", "--payload", "11", "--duration", "1", "--repeats", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    broadcasts = [line.split()[1] for line in done.stdout.splitlines()
                  if line.split()[1:2] and line.split()[1].startswith("broadcast-")]  # fmt: skip
    assert broadcasts and all("-7sub-3hz-11B-" in step for step in broadcasts)
    # Steps the overrides made alike are taken once: two repeats of each.
    assert {step.rsplit("-", 1)[1] for step in broadcasts} == {"r1", "r2"}
    assert len(broadcasts) == len(set(broadcasts))


def delivered(**figures: Any) -> StepResult:
    step: Any = {"id": "s", "result": "broadcast", "status": "ok", **figures}
    return step  # type: ignore[no-any-return]


def test_a_threshold_crosses_on_its_figure_on_an_unmeasured_one_and_never_on_a_failed_step() -> (
    None
):
    over = thresholds.parse("p99_ms>=5")
    steps = [
        delivered(latency_us={"p99": 5000.0}),
        delivered(latency_us={"p99": 4999.0}),
        delivered(latency_us={}),
        {**delivered(), "result": "failed", "status": "failed"},
    ]
    [found] = thresholds.check([over], steps)
    assert found["checked_steps"] == 3
    assert [c["value"] for c in found["crossed"]] == [5.0, None]
    assert not thresholds.held(found)
    # A threshold that no step could be checked on is not met either.
    [idle] = thresholds.check([thresholds.parse("lost>0")], [])
    assert idle["checked_steps"] == 0 and not thresholds.held(idle)


def test_the_documented_profile_parses_and_shows_every_key() -> None:
    from scenarios import profile as profiles
    from scenarios.kinds.broadcast import BROADCAST_PARAMETERS

    path = ROOT / "docs" / "profile.toml"
    text = path.read_text()
    raw = tomllib.loads(text)
    assert set(raw) | {"scenario"} == set(profiles.PROFILE_KEYS)
    [block] = raw["scenario"]
    assert set(block) == {"kind", *BROADCAST_PARAMETERS}
    # The block's optional keys are shown commented out.
    assert all(f"# {key} = " in text for key in profiles.SCENARIO_KEYS if key != "kind")
    for key, [default] in BROADCAST_PARAMETERS.items():
        assert block[key] == default, key
    assert profiles.load(str(path)).thresholds == (thresholds.parse("lost>0"),)


def test_list_kinds_names_every_kind_with_its_defaults_and_what_targets(tmp_path: Path) -> None:
    from scenarios.kinds import KINDS

    done = bench(tmp_path, "--list-kinds", timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for name, kind in KINDS.items():
        [header] = [line for line in lines if line.split(" ", 1)[0] == name]
        assert header.endswith("(--target)") == kind.targets, header
    assert "    subscribers = 100" in lines and '    server = "uvicorn"' in lines
