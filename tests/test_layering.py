"""Dependencies point one way: core knows nothing of servers, clients, sockets or frameworks."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "core": {
        "servers",
        "clients",
        "scenarios",
        "report",
        "processes",
        "starlette",
        "uvicorn",
        "httpx",
        "websockets",
        "socket",
        "selectors",
        "ssl",
    },
    "servers": {"clients", "scenarios", "report", "peers", "processes"},
    # Peers are other people's servers: they share our publish API and runner, nothing else.
    "peers": {"clients", "scenarios", "report"},
    "clients": {"servers", "scenarios", "report", "processes", "starlette", "uvicorn"},
    # The report reads results files only, through the results contract: it never runs
    # servers or load, and never reaches the code that does.
    "report": {
        "servers",
        "clients",
        "scenarios",
        "core",
        "peers",
        "processes",
        "uvicorn",
        "starlette",
        "httpx",
    },
    # The results contract both sides share imports neither side, so neither reaches the
    # other through it.
    "record": {
        "servers",
        "clients",
        "scenarios",
        "report",
        "core",
        "peers",
        "processes",
        "rtbench",
    },
    # Starting and stopping processes: what runs in them is not its business.
    "processes": {"clients", "scenarios", "report", "record", "peers", "rtbench"},
    # Prometheus and its rules watch servers by their /metrics, whatever drives them.
    "monitoring": {"core", "clients", "scenarios", "report", "record", "peers", "rtbench"},
    # Hosts and links: what runs on them is not its business either.
    "network": {
        "core",
        "servers",
        "clients",
        "scenarios",
        "report",
        "record",
        "peers",
        "processes",
        "rtbench",
    },
}


def imported_modules(path: Path) -> set[str]:
    """The top-level packages `path` imports."""
    return {name.split(".")[0] for name in modules_imported(path)}


def test_packages_import_only_downstream() -> None:
    violations = []
    for package, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, f"expected Python files under {package}/"
        for path in files:
            bad = imported_modules(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert violations == []


def test_the_results_contract_stands_on_the_standard_library_alone() -> None:
    # Both sides import it: a name it passed on from any other package of ours would carry
    # that package across the layering above. It reads HDR histograms and validates JSON.
    allowed = set(sys.stdlib_module_names) | {"record", "hdrh", "jsonschema"}
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "record").rglob("*.py"))
        for name in imported_modules(path) - allowed
    }
    assert found == set()


WITHIN_SCENARIOS = {
    # A load program runs alone in its process: it knows nothing of the run that starts it.
    "load": ("scenarios.kinds", "scenarios.tools", "scenarios.run", "scenarios.fixtures",
             "scenarios.profile", "scenarios.workers", "scenarios.summary", "scenarios.kind"),
    # A kind is started by the orchestrator and starts load programs; no side tool is a step.
    "kinds": ("scenarios.tools", "scenarios.run", "scenarios.summary"),
    # A tool is its own program, beside any run.
    "tools": ("scenarios.kinds", "scenarios.run", "scenarios.fixtures", "scenarios.summary"),
}  # fmt: skip


def modules_imported(path: Path) -> set[str]:
    """Every absolute module name `path` imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_parts_of_scenarios_import_only_what_their_job_needs() -> None:
    violations = []
    for part, forbidden in WITHIN_SCENARIOS.items():
        files = sorted((ROOT / "scenarios" / part).rglob("*.py"))
        assert files, f"expected Python files under scenarios/{part}/"
        for path in files:
            bad = {
                name
                for name in modules_imported(path)
                for prefix in forbidden
                if name == prefix or name.startswith(prefix + ".")
            }
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert violations == []


def test_modules_and_functions_of_the_harness_stay_small() -> None:
    # A newcomer reads a module in one sitting and a function on one screen.
    too_big = []
    for package in ("scenarios", "report", "record"):
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            lines = len(source.splitlines())
            if lines > 500:
                too_big.append(f"{path.relative_to(ROOT)}: {lines} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 80:
                        too_big.append(f"{path.relative_to(ROOT)}:{node.name}: {length} lines")
    assert too_big == []
