"""The locked environment: requirements.lock covers pyproject.toml, a run names every installed
distribution and how it stands against the lock, and an unsupported machine gets one sentence."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from record import describe_lock
from rtbench import cli
from scenarios import environment, machine

ROOT = Path(__file__).resolve().parent.parent

LOCK = """\
# a universal lock: one package pinned twice, one for Windows only
alpha==1.0 \\
    --hash=sha256:00
numpy==2.4.6 ; python_full_version < '3.12' \\
    --hash=sha256:11
numpy==2.5.5 ; python_full_version >= '3.12' \\
    --hash=sha256:22
pywin32==312 ; sys_platform == 'win32' \\
    --hash=sha256:33
    # via beta
"""


def test_the_lock_pins_every_dependency_of_pyproject_within_its_bounds() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pinned = environment.pins((ROOT / "requirements.lock").read_text())
    outside = []
    for line in wanted:
        requirement = Requirement(line)
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            outside.append(f"{requirement}: locked {version}")
    assert outside == [], "pyproject.toml changed without `make lock`"


def test_every_pin_of_the_lock_carries_a_hash() -> None:
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    pins = [i for i, line in enumerate(lines) if line and not line.startswith((" ", "#"))]
    assert len(pins) > 50
    unhashed = [lines[i] for i in pins if not lines[i + 1].strip().startswith("--hash=sha256:")]
    assert unhashed == []


def test_a_marker_picks_one_pin_for_this_interpreter() -> None:
    pinned = environment.pins(LOCK)
    assert pinned["numpy"] == ("2.4.6" if sys.version_info < (3, 12) else "2.5.5")
    assert "pywin32" not in pinned
    assert pinned["alpha"] == "1.0"


def test_each_difference_from_the_lock_is_named() -> None:
    found = environment.differences(
        {"alpha": "1.0", "beta": "2.0", "gamma": "3.0"},
        {"alpha": "1.0", "beta": "2.1", "delta": "4.0", "pip": "25.0", "rtbench": "0.1.0"},
    )
    assert found == [
        "beta: expected 2.0 (locked), got 2.1",
        "delta: expected nothing (not in the lock), got 4.0",
        "gamma: expected 3.0 (locked), got nothing installed",
    ]


def test_the_lock_state_carries_the_hash_and_says_when_the_environment_differs(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK)
    numpy = "2.4.6" if sys.version_info < (3, 12) else "2.5.5"
    same = environment.lock_state(lock, {"alpha": "1.0", "numpy": numpy, "pip": "1"})
    assert same == {
        "file": "requirements.lock",
        "sha256": hashlib.sha256(LOCK.encode()).hexdigest(),
        "matches": True,
        "differences": [],
    }
    assert "every version as locked" in describe_lock({"lock": same})
    moved = environment.lock_state(lock, {"alpha": "1.1", "numpy": numpy})
    assert moved["matches"] is False
    assert moved["differences"] == ["alpha: expected 1.0 (locked), got 1.1"]
    sentence = describe_lock({"lock": moved})
    assert sentence.startswith("not the locked environment: 1 package(s)")
    assert "alpha: expected 1.0 (locked), got 1.1" in sentence
    missing = environment.lock_state(tmp_path / "absent.lock", {})
    assert missing["sha256"] is None and missing["matches"] is None


def test_the_software_record_names_every_installed_distribution() -> None:
    software = machine.software()
    names = {canonicalize_name(d.metadata["Name"]) for d in metadata.distributions()}
    assert set(software["distributions"]) == names
    for name in ("uvicorn", "redis", "prometheus-client", "pyjwt", "orjson", "locust", "mypy"):
        assert software["distributions"][name] == metadata.version(name)
    lock = software["lock"]
    raw = (ROOT / "requirements.lock").read_bytes()
    assert lock["sha256"] == hashlib.sha256(raw).hexdigest()
    assert lock["matches"] is (lock["differences"] == [])


def test_another_os_gets_one_sentence_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert cli.main(["bench", "--profile", "tiny"]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1
    assert said[0].startswith("error: rtbench needs Linux (CPU pinning, /proc")


def test_make_names_linux_when_run_elsewhere(tmp_path: Path) -> None:
    # A stand-in `uname` on PATH is the one way to be another OS to make on this machine.
    fake = tmp_path / "uname"
    fake.write_text("#!/bin/sh\necho Darwin\n")
    fake.chmod(0o755)
    done = subprocess.run(
        ["make", "-n", "bench"],
        cwd=ROOT,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "rtbench needs Linux (CPU pinning, /proc, schedstat and TCP_INFO), got Darwin" in (
        done.stderr
    )
