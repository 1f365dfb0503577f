"""Every load program and side tool is a program of its own: `python -m` it with `--help` and
it explains itself, with the name it is run by."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import scenarios.load
import scenarios.tools

PROGRAMS = [
    f"{package.__name__}.{info.name}"
    for package in (scenarios.load, scenarios.tools)
    for info in pkgutil.iter_modules(package.__path__)
    if not info.ispkg
    and 'if __name__ == "__main__":' in (Path(package.__path__[0]) / f"{info.name}.py").read_text()
]


def test_the_programs_are_found() -> None:
    assert "scenarios.load.driver" in PROGRAMS and "scenarios.tools.abuse" in PROGRAMS
    assert "scenarios.load.recording" not in PROGRAMS  # a part of the driver, not a program


@pytest.mark.parametrize("module", PROGRAMS)
def test_a_program_explains_itself_under_its_own_name(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"python -m {module}" in done.stdout
