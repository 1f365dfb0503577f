"""The same app under hypercorn and granian: HTTP/1.1 on every transport; and, under hypercorn,
long polling and SSE over HTTP/2 (TLS, ALPN h2) through the lean driver's `h2` probes, one
connection per subscriber or many subscribers multiplexed on one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.aio import Publisher, subscribe
from clients.aio.h2probe import H2_PROBES, H2Pool
from clients.aio.probe import Recorder, Tally, client_tls
from processes.server import ServerProcess
from tests.support import collect, ids


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    import trustme

    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(folder / "chain.pem")
    )
    return str(folder / "ca.pem"), str(folder / "chain.pem")


@pytest.fixture(
    scope="module",
    params=[(s, t) for s in ("hypercorn", "granian") for t in ("longpoll", "sse", "ws")],
    ids="-".join,
)
def other_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    server, transport = request.param
    with ServerProcess(transport, extra_args=["--server", server]) as process:
        yield process


async def test_every_transport_delivers_under_hypercorn_and_granian(
    other_server: ServerProcess, room: str
) -> None:
    async with (
        subscribe(other_server.transport, other_server.url, room) as sub,
        Publisher(other_server.url) as publisher,
    ):
        published = [await publisher.publish(room, {"n": n}) for n in range(20)]
        items = await collect(sub, 20)
    assert ids(items) == published


class Seen(Recorder):
    def __init__(self) -> None:
        self.ids: dict[int, list[int]] = {}

    def record(self, tally: Tally, event_id: int, data: Any, received_ns: int) -> None:
        if tally.see(event_id):
            self.ids.setdefault(id(tally), []).append(event_id)


@pytest.mark.parametrize("transport", ["longpoll", "sse"])
@pytest.mark.parametrize("per_connection", [1, 10])
async def test_long_polling_and_sse_over_http2(
    transport: str, per_connection: int, certificates: tuple[str, str], room: str
) -> None:
    ca, chain = certificates
    tls_args = ["--server", "hypercorn", "--ssl-certfile", chain, "--ssl-keyfile", chain]
    with ServerProcess(transport, extra_args=tls_args) as server:
        assert server.url.startswith("https://")
        seen, pool = Seen(), H2Pool(per_connection)
        tls = client_tls(ca)
        probes = [
            H2_PROBES[transport](server.url, room, seen, tls=tls, pool=pool) for _ in range(10)
        ]
        for probe in probes:
            await asyncio.wait_for(probe.open(), 10)
        async with Publisher(server.url, ca_file=ca) as publisher:
            published = [await publisher.publish(room, {"n": n}) for n in range(20)]
        for _ in range(200):
            if all(p.tally.last_id == published[-1] for p in probes):
                break
            await asyncio.sleep(0.05)
        for probe in probes:
            probe.close()
    assert [p.error for p in probes] == [None] * 10
    assert all(seen.ids[id(p.tally)] == published for p in probes)
    assert len(pool.connections) == 10 // per_connection
    counted = [p.wire_bytes() for p in probes]
    assert all(c is not None for c in counted)
    assert sum(1 for c in counted if c and c[1] > 0) == len(pool.connections)


def test_http2_needs_https(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "scenarios.load.driver", "--transport", "sse", "--url",
         "http://127.0.0.1:1", "--room", "r", "--subscribers", "1", "--http2"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert "expected --http2 with longpoll or sse on an https:// server" in done.stderr
