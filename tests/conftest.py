"""Real servers for the parity suite: one uvicorn process per transport and configuration, on an
ephemeral loopback port, shared by the tests of a session; each test uses its own room."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from processes.server import ServerProcess
from record import TRANSPORTS

# A server with small bounds, so overflow, gaps and size limits show with little traffic.
TIGHT = {
    "buffer_events": 100,
    "queue_events": 64,
    "max_message_bytes": 32 * 1024,
    "ws_max_errors": 5,
    "poll_timeout_max": 60.0,
}

ServerFactory = Callable[..., ServerProcess]


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    started: dict[tuple[str, str, str, str], ServerProcess] = {}
    counter = itertools.count()

    def start(
        transport: str, fanout: str = "direct", server: str = "uvicorn", **limits: float
    ) -> ServerProcess:
        """A running server of `transport` with this fan-out, ASGI server and limits (one per
        combination)."""
        key = (transport, fanout, server, repr(sorted(limits.items())))
        if key in started and started[key].proc and started[key].proc.poll() is None:
            return started[key]
        config: Path | None = None
        if limits:
            config = tmp_path_factory.mktemp("config") / f"rtbench-{next(counter)}.toml"
            lines = ["[limits]", *(f"{k} = {v!r}" for k, v in limits.items())]
            config.write_text("\n".join(lines) + "\n")
        process = ServerProcess(
            transport, config=config, extra_args=["--fanout", fanout, "--server", server]
        )
        started[key] = process.start()
        return process

    yield start
    for server in started.values():
        server.stop()


DIRECT = [(t, "direct") for t in TRANSPORTS]
VARIANTS = [*DIRECT, *((t, "asgi") for t in TRANSPORTS)]
"""Each transport with the default fan-out and with the ASGI path."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests against the shared servers run over every variant; the others (which start
    their own servers) over each transport once."""
    if "variant" not in metafunc.fixturenames:
        return
    shared = {"server", "tight_server"} & set(metafunc.fixturenames)
    metafunc.parametrize(
        "variant",
        VARIANTS if shared else DIRECT,
        ids=lambda v: v[0] if v[1] == "direct" else "-".join(v),
        indirect=True,
        scope="session",
    )


@pytest.fixture(scope="session")
def variant(request: pytest.FixtureRequest) -> tuple[str, str]:
    transport, fanout = request.param
    return str(transport), str(fanout)


@pytest.fixture(scope="session")
def transport(variant: tuple[str, str]) -> str:
    return variant[0]


@pytest.fixture(scope="session")
def fanout(variant: tuple[str, str]) -> str:
    return variant[1]


@pytest.fixture(scope="session")
def server(transport: str, fanout: str, server_factory: ServerFactory) -> ServerProcess:
    return server_factory(transport, fanout)


@pytest.fixture(scope="session")
def tight_server(transport: str, fanout: str, server_factory: ServerFactory) -> ServerProcess:
    return server_factory(transport, fanout, **TIGHT)


@pytest.fixture
def sse_server(server_factory: ServerFactory) -> ServerProcess:
    return server_factory("sse")


@pytest.fixture
def ws_server(server_factory: ServerFactory) -> ServerProcess:
    return server_factory("ws")


@pytest.fixture
def room() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skip is a failure: every dependency is installed by `make test`, so nothing may skip."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"error: {len(skipped)} test(s) skipped; expected none", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
