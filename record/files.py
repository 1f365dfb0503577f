"""Writing and reading a results file: validated as it is written, refused when its version
is unknown instead of guessed at."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from record.contract import READABLE_VERSIONS, SCHEMA, SCHEMA_VERSION, Results
from record.steps import RESULTS, StepResult
from record.upgrade import UpgradeFailed, upgrade


class UnknownSchema(ValueError):
    """Not a results file this version can read."""


class SchemaViolation(ValueError):
    """A results file (or step) that does not match the schema: a bug of the writer."""


@functools.cache
def json_schema() -> dict[str, Any]:
    text = (resources.files("record") / "results.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(part: str) -> Any:
    import jsonschema

    schema = json_schema()
    if part != "file":
        schema = {**schema, "$ref": f"#/$defs/{part}"}
        schema.pop("required", None)
        schema.pop("properties", None)
        schema.pop("type", None)
    return jsonschema.Draft202012Validator(schema)


def _check(part: str, value: Any) -> None:
    errors = sorted(_validator(part).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top)"
        raise SchemaViolation(f"expected a results {part} matching the schema, got at {where}: "
                              f"{first.message}")  # fmt: skip


def validate_step(step: StepResult) -> None:
    """The step against the JSON schema and against the keys its `result` declares."""
    _check("step", step)
    check_keys(step)


def check_keys(step: StepResult) -> None:
    """Only keys its `result` declares (all a version-1 step, without its utilisation, can
    be checked on)."""
    result = step["result"]
    declared = RESULTS.get(result)
    if declared is None:
        raise SchemaViolation(f"expected a result among {', '.join(RESULTS)}, got {result!r}")
    unknown = sorted(set(step) - declared)
    if unknown:
        raise SchemaViolation(
            f"expected the keys of record.steps' {result!r} result in step {step['id']!r}, "
            f"got also {unknown}"
        )


def validate(results: Results) -> None:
    _check("file", results)
    for step in results["steps"]:
        validate_step(step)


def write(path: Path, results: Results, *, whole: bool = False) -> None:
    """Write atomically, after checking the newest step (or, with `whole`, everything)."""
    if whole:
        validate(results)
    elif results["steps"]:
        validate_step(results["steps"][-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)


def find_run(path: str | Path) -> Path:
    """A run folder from a folder, a results.json, or `results` (its `latest`)."""
    path = Path(path)
    if path.is_file():
        return path.parent
    if (path / "results.json").exists():
        return path
    if (path / "latest" / "results.json").exists():
        return (path / "latest").resolve()
    raise UnknownSchema(f"expected a run folder with results.json at {path}, got none there")


def read(path: str | Path, versions: tuple[int, ...] = READABLE_VERSIONS) -> Results:
    """A results file in this version's shape, refusing one whose schema or version is not
    among `versions`: an older one is upgraded as it is read."""
    file = find_run(path) / "results.json"
    try:
        results = json.loads(file.read_text())
    except ValueError as exc:
        raise UnknownSchema(f"expected JSON in {file}, got {exc}") from exc
    if not isinstance(results, dict):
        raise UnknownSchema(f"expected a JSON object in {file}, got {type(results).__name__}")
    schema, version = results.get("schema"), results.get("schema_version")
    if schema != SCHEMA or version not in versions:
        raise UnknownSchema(
            f"expected {SCHEMA} version {' or '.join(map(str, versions))} in {file}, got "
            f"{schema!r} version {version!r}: is rtbench older than the run?"
        )
    if version != SCHEMA_VERSION:
        try:
            results = upgrade(results)
        except (UpgradeFailed, KeyError, TypeError, AttributeError) as exc:
            raise UnknownSchema(f"expected a version {version} file in {file}, got {exc}") from exc
    # Typed as the contract once each step holds only the keys of its result (the values
    # were validated as the run wrote them).
    checked: Results = results
    try:
        for step in checked["steps"]:
            check_keys(step)
    except SchemaViolation as exc:
        raise UnknownSchema(f"expected the steps of a results file in {file}: {exc}") from None
    return checked
