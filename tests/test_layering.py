"""Dependencies point one way: core knows nothing of servers, clients, sockets or frameworks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "core": {
        "servers",
        "clients",
        "scenarios",
        "report",
        "starlette",
        "uvicorn",
        "httpx",
        "websockets",
        "socket",
        "selectors",
        "ssl",
    },
    "servers": {"clients", "scenarios", "report", "peers"},
    # Peers are other people's servers: they share our publish API and runner, nothing else.
    "peers": {"clients", "scenarios", "report"},
    "clients": {"servers", "scenarios", "report", "starlette", "uvicorn"},
    # The report reads results files only: it never runs servers or load.
    "report": {"servers", "clients", "scenarios", "core", "uvicorn", "starlette", "httpx"},
}
ALLOWED = {"report": {"scenarios.schema"}}
"""The one way across: the results contract the writer and the reader share."""


def imported_modules(path: Path, allowed: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """The top-level packages `path` imports, leaving out the modules in `allowed`."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names if a.name not in allowed)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update([node.module.split(".")[0]] if node.module not in allowed else [])
    return names


def test_packages_import_only_downstream() -> None:
    violations = []
    for package, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / package).rglob("*.py"))
        assert files, f"expected Python files under {package}/"
        for path in files:
            bad = imported_modules(path, ALLOWED.get(package, set())) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert violations == []


def test_the_report_reaches_scenarios_only_through_the_results_contract() -> None:
    reached = {
        node.module
        for path in sorted((ROOT / "report").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scenarios")
    }
    assert reached == {"scenarios.schema"}
