"""Reference peers pass the delivery part of the parity suite, measured by the bench's probes:
every event once, in order, to every subscriber; and the Socket.IO peer keeps the Socket.IO model
(rooms, namespaces with their own connect handler, broadcast except the sender, acks) for
python-socketio's own client."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import socketio

from clients.aio.adapters import PROBES, adapter_of
from clients.aio.probe import Probe, Recorder
from peers import PEERS
from processes.server import ServerProcess
from tests.support import PATIENCE, each_got_all_once_in_order, eventually

ADMIN_TOKEN = "let-me-in"


@pytest.fixture(scope="module")
def peer_servers() -> Iterator[dict[str, ServerProcess]]:
    started: dict[str, ServerProcess] = {}
    try:
        for name in PEERS:
            extra = ["--admin-token", ADMIN_TOKEN] if name.startswith("socketio") else []
            started[name] = ServerProcess(name, module="peers", extra_args=extra).start()
        yield started
    finally:
        for server in started.values():
            server.stop()


NUMBERING = [peer for peer in PEERS if adapter_of(peer).numbers_events]
"""The peers that number events themselves and answer our publish API's ids and `/status`
(Nchan keeps bodies as sent: tests/test_nchan.py)."""


@pytest.mark.parametrize("peer", NUMBERING)
async def test_every_subscriber_gets_every_event_once_in_order(
    peer: str, peer_servers: dict[str, ServerProcess], room: str
) -> None:
    server = peer_servers[peer]
    recorder = Recorder()
    probes: list[Probe] = [PROBES[peer](server.url, room, recorder) for _ in range(5)]
    await asyncio.wait_for(asyncio.gather(*(p.open() for p in probes)), PATIENCE)
    async with httpx.AsyncClient(base_url=server.publish_url) as client:
        for n in range(30):
            answer = await client.post(f"/rooms/{room}/events", json={"data": {"n": n}})
            assert answer.status_code == 201 and answer.json() == {"id": n + 1}
        bad = await client.post(
            f"/rooms/{room}/events", content=b"nope", headers={"content-type": "application/json"}
        )
        assert bad.status_code == 422
        status = (await client.get("/status")).json()

    await each_got_all_once_in_order(probes, 30)
    assert status["connections"]["by_room"][room] == 5


async def test_socketio_rooms_namespaces_and_broadcast_except_sender(
    peer_servers: dict[str, ServerProcess], room: str
) -> None:
    url = peer_servers["socketio-ws"].url
    alice, bob = socketio.AsyncClient(), socketio.AsyncClient()
    got: dict[str, list[object]] = {"alice": [], "bob": []}
    alice.on("event", lambda event: got["alice"].append(event))
    bob.on("event", lambda event: got["bob"].append(event))
    await alice.connect(url, transports=["websocket"])
    await bob.connect(url, transports=["websocket"])
    try:
        assert await alice.call("join", room) == {"op": "joined", "room": room}
        assert await bob.call("join", room) == {"op": "joined", "room": room}
        assert (await bob.call("join", "no spaces"))["op"] == "error"
        ack = await alice.call("publish", {"room": room, "data": "hi", "except_self": True})
        assert ack == {"op": "ack", "id": 1}
        ack = await bob.call("publish", {"room": room, "data": "to all"})
        assert ack == {"op": "ack", "id": 2}

        async def both_heard() -> bool:
            return len(got["bob"]) == 2 and len(got["alice"]) == 1

        await eventually(both_heard)
        assert [e["data"] for e in got["bob"]] == ["hi", "to all"]  # type: ignore[index]
        assert got["alice"] == [{"id": 2, "room": room, "data": "to all"}]

        await alice.call("leave", room)
        await bob.call("publish", {"room": room, "data": "after alice left"})
        await eventually(lambda: asyncio.sleep(0, len(got["bob"]) == 3))
        await asyncio.sleep(0.2)  # room for a wrong delivery to alice to arrive
        assert len(got["alice"]) == 1
    finally:
        await alice.disconnect()
        await bob.disconnect()

    intruder = socketio.AsyncClient()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await intruder.connect(url, namespaces=["/admin"], auth={"token": "wrong"})
    admin = socketio.AsyncClient()
    await admin.connect(url, namespaces=["/admin"], auth={"token": ADMIN_TOKEN})
    try:
        status = await admin.call("status", namespace="/admin")
        assert status["transport"] == "socketio-ws" and status["events"]["published"] >= 3
    finally:
        await admin.disconnect()


OVERHEAD_OF = ["--transports", "ws,socketio-ws"]


def test_overhead_tool_counts_handshake_event_and_ping_bytes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scenarios.tools.overhead", "--events", "3", "--json", *OVERHEAD_OF],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["transport"]: row for row in json.loads(done.stdout)}
    assert rows["ws"]["delivered"] == rows["socketio-ws"]["delivered"] == 3
    # Socket.IO wraps each event in 42["event", ...]: more bytes than the bare event frame.
    assert rows["socketio-ws"]["per_event_down"] > rows["ws"]["per_event_down"] > 90
    assert rows["socketio-ws"]["handshake_down"] > rows["ws"]["handshake_down"] > 0
    assert rows["socketio-ws"]["per_ping_up"] > 0


@pytest.mark.parametrize("peer", PEERS)
async def test_peers_stop_on_sigterm_with_subscribers_attached(peer: str, room: str) -> None:
    server = ServerProcess(peer, module="peers").start()
    try:
        probes = [PROBES[peer](server.url, room, Recorder()) for _ in range(3)]
        await asyncio.wait_for(asyncio.gather(*(p.open() for p in probes)), PATIENCE)
        server.terminate()
        # The same contract as rtbench's servers: gone within 2 s of SIGTERM.
        code = await asyncio.to_thread(server.wait, 2.0)
        assert code in (0, -signal.SIGTERM)
    finally:
        server.stop()
