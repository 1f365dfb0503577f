"""`python -m servers`: help, refusals with clear messages, a ready line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "servers", *args], capture_output=True, text=True, timeout=30
    )


def test_help_lists_transports_and_options() -> None:
    result = run("--help")
    assert result.returncode == 0
    # The transports as argparse lists its choices, not as substrings of other words.
    assert "{longpoll,sse,ws,all}" in result.stdout
    options = {
        word.strip("[],") for word in result.stdout.split() if word.startswith(("--", "[--"))
    }
    assert {"--broker", "--config", "--port", "--host"} <= options


def test_unknown_transport_is_refused() -> None:
    result = run("carrier-pigeon")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_bad_config_is_refused_with_what_was_expected(tmp_path: object) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "bad.toml"
    config.write_text("[limits]\nqueue_events = 'many'\n")
    result = run("sse", "--config", str(config))
    assert result.returncode == 2
    assert "expected int for limits.queue_events, got str 'many'" in result.stderr


def test_unknown_broker_is_refused() -> None:
    result = run("ws", "--broker", "kafka://x")
    assert result.returncode == 2 and "expected --broker memory or redis://" in result.stderr


RIGHTS = ["--subscribe", "lobby", "--publish", "chat-*", "--ttl", "60"]


def test_token_cli_mints_what_the_example_config_accepts() -> None:
    from core import ServerConfig
    from core.auth import TokenVerifier

    example = "examples/secure.toml"
    minted = subprocess.run(
        [
            sys.executable,
            "-m",
            "servers.token",
            "--config",
            example,
            "--sub",
            "alice",
            "--subscribe",
            "lobby",
            "--publish",
            "chat-*",
            "--ttl",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert minted.returncode == 0, minted.stderr
    grant = TokenVerifier(ServerConfig.load(example).auth).verify(minted.stdout.strip())
    assert (grant.subject, grant.subscribe, grant.publish) == ("alice", ("lobby",), ("chat-*",))
    refused = subprocess.run(
        [sys.executable, "-m", "servers.token", "--config", "missing.toml", "--sub", "x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "expected a readable TOML file" in refused.stderr


def rtbench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtbench", *args], capture_output=True, text=True, timeout=timeout
    )


def test_rtbench_lists_its_commands_and_refuses_others() -> None:
    listed = rtbench("--help")
    assert listed.returncode == 0
    commands = {line.split()[0] for line in listed.stdout.splitlines() if line.startswith("  ")}
    assert commands == {"bench", "serve", "report", "compare", "token"}
    refused = rtbench("carrier-pigeon")
    assert refused.returncode == 2
    assert "expected a command among bench, serve, report, compare, token" in refused.stderr


def test_rtbench_commands_are_the_programs_they_name() -> None:
    serve = rtbench("serve", "--help")
    assert serve.returncode == 0 and "{longpoll,sse,ws,all}" in serve.stdout
    profiles = rtbench("bench", "--list-profiles")
    assert profiles.returncode == 0
    assert {line.split()[0] for line in profiles.stdout.splitlines()} >= {"quick", "full", "tiny"}
    compare = rtbench("compare")
    assert compare.returncode == 2 and "the following arguments are required" in compare.stderr


def test_rtbench_bench_says_its_own_name_in_its_usage() -> None:
    helped = rtbench("bench", "--help")
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: rtbench bench ")
    assert "--dry-run" in helped.stdout


def test_a_dry_run_lists_every_step_with_its_estimate_and_runs_nothing(tmp_path: Path) -> None:
    planned = rtbench("bench", "--profile", "network", "--dry-run", f"--out={tmp_path}")
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    steps = [line for line in lines if line.split()[0].isdigit() and "~" in line]
    assert len(steps) == 60 and steps[0].split()[1] == "network-longpoll-20sub-10hz-90B-lan-r1"
    assert lines[-1].startswith("60 steps, about ")
    assert not any(tmp_path.iterdir()), "a dry run wrote something"


def test_a_refused_profile_reports_nothing_not_the_run_before(tmp_path: Path) -> None:
    before = tmp_path / "before"
    shutil.copytree(TINY_RUN, before)
    (tmp_path / "latest").symlink_to("before")
    refused = rtbench("bench", "--profile", "typo", f"--out={tmp_path}")
    assert refused.returncode == 2 and "expected a profile among" in refused.stderr
    assert not (before / "report.md").exists()


def test_rtbench_bench_reports_the_run_where_out_says(tmp_path: Path) -> None:
    profile = tmp_path / "one.toml"
    profile.write_text(ONE_STEP)
    done = rtbench("bench", "--profile", str(profile), f"--out={tmp_path / 'runs'}",
                   "--run-id", "mine", timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "runs" / "mine" / "report.md").exists()
    assert (tmp_path / "runs" / "latest").resolve().name == "mine"


ONE_STEP = """
name = "one"
description = "One short broadcast."
transports = ["sse"]

[[scenario]]
kind = "broadcast"
subscribers = 5
rate = 10
duration_seconds = 0.5
warmup_seconds = 0.2
"""
TINY_RUN = Path(__file__).resolve().parent / "fixtures" / "run-tiny"
