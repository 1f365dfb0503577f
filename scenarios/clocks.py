"""The publisher host's clock, for drivers on other hosts (`scenarios.load.clock`): a latency is
a driver's receive time minus the publisher's send stamp, two clocks that hosts do not share.
Each driver estimates its offset against the publisher's host before it connects, adds it to
every receive time, and the step records each offset and the largest uncertainty."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from record import Delivery
from scenarios import ipc
from scenarios.load import clock as clock_program
from scenarios.target import Target
from scenarios.workers import Worker

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures


@dataclass(frozen=True, slots=True)
class Clock:
    worker: Worker
    address: str

    @property
    def driver_options(self) -> list[str]:
        return ["--clock", self.address]


async def start_clock(run: Fixtures, target: Target) -> Clock | None:
    """The clock on the publisher's host, when the drivers run on other hosts; None when they
    share this machine's clock."""
    if not target.driver_hosts:
        return None
    worker = await run.worker(
        clock_program, ["--host", target.publisher_address], "clock", target.publisher_host
    )
    ready = await worker.receive(ipc.ClockReady, 30)
    return Clock(worker, ready["address"])


def clock_figures(readies: Sequence[Mapping[str, Any]], figures: Delivery) -> None:
    """Each driver's offset from the publisher's clock, and the most any latency may be off:
    from what each lean driver said when ready, or each Locust worker wrote at its end."""
    offsets = [ready["clock_offset_ns"] for ready in readies if "clock_offset_ns" in ready]
    if offsets:
        uncertainty = max(ready.get("clock_uncertainty_ns", 0) for ready in readies)
        figures["clock_offsets_us"] = [round(offset / 1000, 1) for offset in offsets]
        figures["latency_uncertainty_us"] = round(uncertainty / 1000, 1)
