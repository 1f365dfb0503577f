"""The chat scenario: members in many rooms, each publishing into its own room through its own
transport (over the socket for WebSocket, a POST for SSE and long polling)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from processes.server import ServerProcess
from record import Acknowledged, StepResult
from scenarios import ipc
from scenarios.kind import Kind, Parameters
from scenarios.kinds.broadcast import figures_of
from scenarios.load import driver as driver_program
from scenarios.measure import decode, summary
from scenarios.step import Step
from scenarios.target import Target
from scenarios.workers import WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    assert server is not None, "a pooled scenario is given its server"
    p = step.params
    room = f"chat-{uuid.uuid4().hex[:8]}"
    members = p["rooms"] * p["members_per_room"]
    closes = await run.server_closes(server)
    warmup_events = int(p["warmup_seconds"] * members * p["member_rate"])
    driver = await run.worker(
        driver_program,
        [
            *run.driver_args(step, server, room, members),
            *("--rooms", str(p["rooms"]), "--measure-from-seq", str(warmup_events)),
        ],
        "driver",
    )
    ready = await driver.receive(ipc.DriverReady, 120)
    if ready["failed"]:
        raise WorkerFailed(f"{ready['failed']} members could not connect: {ready['errors']}")
    await driver.send(
        cmd="chat",
        member_rate=p["member_rate"],
        warmup=p["warmup_seconds"],
        duration=p["duration_seconds"],
        payload_bytes=p["payload_bytes"],
        drain_seconds=run.drain_seconds,
        acknowledged=p["acknowledged"],
    )
    patience = p["warmup_seconds"] + p["duration_seconds"] + run.drain_seconds + 60
    await driver.receive(ipc.Measuring, patience)
    before = run.sample(server, driver, None)
    received = await driver.receive(ipc.DriverResult, patience)
    after = run.sample(server, driver, None)
    await driver.aclose()
    nominal = members * p["member_rate"]
    dropped = await run.dropped_since(server, closes)
    delivery = figures_of(
        run,
        step,
        received["published"],
        received,
        before,
        after,
        f"{room}-{p['rooms'] // 2}",  # the driver's room names: f"{room}-{index % rooms}"
        nominal_rate=nominal,
        server_dropped=dropped,
    )
    # The driver publishes too, and its result comes after the drain: a lower bound.
    delivery["utilisation"] = run.utilisation(before, after)
    acknowledged: Acknowledged = {}
    acknowledgements = received["published"].get("acknowledgement_histogram")
    if acknowledgements is not None:
        path = run.out / "histograms" / f"{step.id}.acknowledgement.hdr"
        path.write_text(acknowledgements + "\n")
        acknowledged["acknowledgement_us"] = summary(decode(acknowledgements))
    return {**step.header(), "result": "chat", **delivery, **acknowledged}


def load_text(p: dict[str, Any]) -> str:
    return f"chat {p['rooms']} rooms × {p['members_per_room']}, {p['member_rate']:g}/s each"


# Many rooms; every member publishes into its room through its own transport. `workload` names
# what the conversation stands for: "chat", "collaboration" (editors of a document, small edits,
# each `acknowledged` before the editor counts it done) or "games" (a few players, many updates a
# second each, small payloads).
CHAT_PARAMETERS: Parameters = {
    "workload": ["chat"],
    "acknowledged": [False],
    "rooms": [20],
    "members_per_room": [10],
    "member_rate": [0.5],
    "payload_bytes": [90],
    "duration_seconds": [5.0],
    "warmup_seconds": [1.0],
}

KIND = Kind(
    name="chat",
    about="Many rooms, every member publishing into its room through its own transport.",
    parameters=CHAT_PARAMETERS,
    measure=measure,
    load=load_text,
)
