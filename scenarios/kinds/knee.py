"""The offered-load sweep: broadcast at doubling rates until the server core saturates, p99
leaves the bound, an event is lost, the publisher falls behind or the load generator saturates;
the last rate that passed is the capacity. When the load generator or the sweep's own maximum
stopped it, the capacity is only a lower bound, and says which (`bound_by`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from processes.server import ServerProcess
from record import KneePoint, StepResult
from scenarios import figures as figure
from scenarios.kind import Kind, Parameters
from scenarios.kinds import broadcast
from scenarios.step import Step
from scenarios.target import Target

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    """Broadcast at rising rates until the server stops keeping up: the last rate whose
    p99 stayed under the bound, with nothing lost and the rate achieved, is the knee."""
    assert server is not None, "a pooled scenario is given its server"
    p = step.params
    points: list[KneePoint] = []
    knee_rate: float | None = None
    reason = f"reached max_rate {p['max_rate']:g}/s"
    bound_by = "the sweep's maximum"
    lower_bound = True  # until the server itself is what stopped the sweep
    rate = float(p["start_rate"])
    while rate <= p["max_rate"]:
        params = {
            "subscribers": p["subscribers"],
            "rate": rate,
            "payload_bytes": p["payload_bytes"],
            "duration_seconds": p["duration_seconds"],
            "warmup_seconds": p["warmup_seconds"],
            "compression": False,
        }
        point_step = Step("knee", step.transport, params, step.repeat)
        figures: KneePoint = {**(await broadcast.broadcast(run, point_step, server)).delivery,
                              "rate": rate}  # fmt: skip
        points.append(figures)
        p99 = figures["latency_us"]["p99"]
        achieved = figures["achieved_rate"] or 0.0
        server_core = figures["utilisation"]["server_core"] or 0
        if figures["lost"] or figures["duplicated"]:
            reason = f"{figures['lost']} lost, {figures['duplicated']} duplicated at {rate:g}/s"
        elif server_core > figure.SERVER_SATURATED:
            reason = f"server core {server_core:.0%} busy at {rate:g}/s"
        elif (figures["utilisation"]["driver_core"] or 0) > figure.DRIVER_SATURATED:
            # Past here the load generator, not the server, would set the figures.
            reason = (
                f"the load generator saturated at {rate:g}/s: capacity is at least the last pass"
            )
            bound_by = "the load generator"
            break
        elif achieved < figure.KEPT_UP * rate:
            reason = f"publisher reached {achieved:.1f} of {rate:g}/s"
        elif figures["status"] != "ok":
            reason = f"{figures['degraded_because']} at {rate:g}/s"
        elif p99 is None or p99 > p["p99_bound_ms"] * 1000:
            reason = (
                f"p99 {p99 / 1000 if p99 else float('nan'):.1f} ms over the bound at {rate:g}/s"
            )
        else:
            knee_rate = rate
            rate *= p["factor"]
            continue
        lower_bound = False
        bound_by = "the server"
        break
    return {
        **step.header(),
        "result": "knee",
        "status": "ok" if points else "failed",
        "max_sustainable_rate": knee_rate,
        "max_sustainable_deliveries_per_second": knee_rate * p["subscribers"]
        if knee_rate
        else None,
        "stopped_because": reason,
        "capacity_is_lower_bound": lower_bound,
        "bound_by": bound_by,
        "points": points,
    }


def load_text(p: dict[str, Any]) -> str:
    return f"{p['subscribers']:,} sub, rising rate"


# Step the offered rate up until p99 exceeds the bound, loss appears or the rate is not met.
KNEE_PARAMETERS: Parameters = {
    "subscribers": [100],
    "start_rate": [50.0],
    "factor": [2.0],
    "max_rate": [6400.0],
    "p99_bound_ms": [50.0],
    "payload_bytes": [90],
    "duration_seconds": [3.0],
    "warmup_seconds": [0.5],
    "fanout": ["direct"],
}

KIND = Kind(
    name="knee",
    about=(
        "The offered rate doubled until p99 passes its bound, loss appears or the rate is not met."
    ),
    parameters=KNEE_PARAMETERS,
    measure=measure,
    load=load_text,
    peers=True,
)
