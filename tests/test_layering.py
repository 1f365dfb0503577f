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


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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
