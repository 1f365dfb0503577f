"""`python -m servers`: help, refusals with clear messages, a ready line."""

from __future__ import annotations

import subprocess
import sys


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


def rtbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtbench", *args], capture_output=True, text=True, timeout=60
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
