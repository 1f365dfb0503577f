"""Nchan (nginx's pub/sub module) as a reference peer on its three subscriber protocols: every
event once and in order, and a subscriber that drops resumes by Nchan's own id without losing
or repeating any, with the probes the driver measures it with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from clients.aio.adapters import PROBES
from clients.aio.probe import Probe, Recorder, Tally
from clients.stamped import payload
from processes.server import ServerProcess
from record import NCHAN_PEERS
from tests.support import PATIENCE, each_got_all_once_in_order, eventually


@pytest.fixture(scope="module")
def nchan() -> Iterator[dict[str, ServerProcess]]:
    started: dict[str, ServerProcess] = {}
    try:
        for name in NCHAN_PEERS:
            started[name] = ServerProcess(name, module="peers").start()
        yield started
    finally:
        for server in started.values():
            server.stop()


async def publish(url: str, room: str, seqs: range) -> None:
    """What the bench's publisher sends: `{"data": {"seq", "t", "pad"}}`, one POST each."""
    async with httpx.AsyncClient(base_url=url) as client:
        for seq in seqs:
            answer = await client.post(f"/rooms/{room}/events", content=payload(seq, 0, 90),
                                       headers={"content-type": "application/json"})  # fmt: skip
            assert answer.status_code in (201, 202), answer.text


async def opened(peer: str, url: str, room: str, tally: Tally | None = None) -> Probe:
    probe = PROBES[peer](url, room, Recorder(), tally=tally)
    await asyncio.wait_for(probe.open(), PATIENCE)
    return probe


@pytest.mark.parametrize("peer", NCHAN_PEERS)
async def test_every_subscriber_gets_every_event_once_in_order(
    peer: str, nchan: dict[str, ServerProcess], room: str
) -> None:
    url = nchan[peer].url
    probes = [await opened(peer, url, room) for _ in range(5)]
    await asyncio.sleep(0.2)  # Nchan starts a new subscriber at the next message
    await publish(url, room, range(30))

    await each_got_all_once_in_order(probes, 30)
    assert all(probe.tally.resume_token for probe in probes)


@pytest.mark.parametrize("peer", NCHAN_PEERS)
async def test_a_subscriber_that_drops_resumes_by_nchans_id_and_misses_nothing(
    peer: str, nchan: dict[str, ServerProcess], room: str
) -> None:
    url = nchan[peer].url
    first = await opened(peer, url, room)
    await asyncio.sleep(0.2)
    await publish(url, room, range(10))
    await eventually(lambda: asyncio.sleep(0, first.tally.last_id == 10))
    first.close()
    await publish(url, room, range(10, 20))  # while it is away
    again = await opened(peer, url, room, tally=first.tally)
    await publish(url, room, range(20, 25))
    await eventually(lambda: asyncio.sleep(0, again.tally.last_id == 25))
    await asyncio.sleep(0.2)  # room for a repeated message to arrive
    tally = again.tally
    assert (tally.delivered, tally.duplicated, tally.reordered) == (25, 0, 0)
    assert not tally.missing and again.error is None
    again.close()
