"""Results files of older versions, brought to this one as they are read, so that the report
reads one shape. Each older version is frozen: what it wrote is known, kind by kind."""

from __future__ import annotations

RESULT_OF_V2_SCENARIO = {
    "broadcast": "broadcast",
    "baseline": "broadcast",
    "churn": "broadcast",
    "soak": "broadcast",
    "storm": "broadcast",
    "chat": "chat",
    "locust_chat": "locust",
    "cluster": "cluster",
    "cluster_locust": "cluster",
    "proxy": "proxy",
    "knee": "knee",
    "idle": "idle",
    "proxy_idle": "proxy_idle",
    "delay": "delay",
    "browser": "browser",
}
"""The scenarios versions 1 and 2 could hold, and the result each wrote."""

HEADER = ("id", "scenario", "transport", "repeat", "params", "wall_seconds")


class UpgradeFailed(ValueError):
    """An older file holding what its version could not have written."""


def upgrade(results: dict[str, object]) -> dict[str, object]:
    """`results` (version 1 or 2, as read from JSON) in this version's shape."""
    steps = results["steps"]
    if not isinstance(steps, list):
        raise UpgradeFailed(f"expected a list of steps, got {type(steps).__name__}")
    results["steps"] = [upgrade_step(step) for step in steps]
    return results


def upgrade_step(step: object) -> dict[str, object]:
    if not isinstance(step, dict):
        raise UpgradeFailed(f"expected a step object, got {type(step).__name__}")
    if step.get("status") == "failed":
        kept = {key: step[key] for key in HEADER if key in step}
        return {**kept, "result": "failed", "status": "failed", "error": step.get("error", "")}
    scenario = step.get("scenario")
    try:
        step["result"] = RESULT_OF_V2_SCENARIO[str(scenario)]
    except KeyError:
        raise UpgradeFailed(
            f"expected a scenario of version 2 ({', '.join(RESULT_OF_V2_SCENARIO)}), "
            f"got {scenario!r} in step {step.get('id')!r}"
        ) from None
    count = step.get("publish_errors")
    if isinstance(count, int):
        # Locust's users counted failed publishes without their reasons.
        step["publish_errors"] = {"any": count} if count else {}
    reconnection = step.get("sse_reconnection")
    if isinstance(reconnection, dict):
        stream_max = reconnection.pop("stream_max_seconds", None)
        step["sse_reconnection"] = {"stream_max_seconds": stream_max, "by_retry_ms": reconnection}
    return step
