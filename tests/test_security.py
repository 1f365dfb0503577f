"""Security on every transport, against a real server configured from one file: namespaces,
tokens at the handshake and on every WebSocket action, Origin allowlist, validation, rate limits
and connection caps. Every refusal has its exact code, is logged and counted in /metrics, and a
legitimate subscriber in the same room misses nothing.

The flooding client connects from 127.0.0.2 (all of 127/8 is loopback), so the per-address
buckets it empties are not the legitimate publisher's (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from clients.aio import subscribe
from clients.aio.adapters import PROBES
from clients.aio.probe import Recorder, client_tls
from core import Auth
from core.auth import mint
from processes.server import ServerFailed, ServerProcess
from tests.conftest import TRANSPORTS
from tests.support import PATIENCE, collect, eventually, ids, subscribe_path

SECRET = "s3cret-for-tests-only-" + "x" * 20
OTHER_SECRET = "another-secret-entirely-" + "y" * 20
AUTH = Auth(secret=SECRET)
ALLOWED_ORIGIN = "http://allowed.example"
STATUS_TOKEN = "status-" + "s" * 32
CONFIG = f"""
allowed_origins = ["{ALLOWED_ORIGIN}"]
status_token = "{STATUS_TOKEN}"

[auth]
secret = "{SECRET}"

[limits]
max_json_depth = 8

[namespaces.default]
auth = true
publish_per_second = 5
publish_burst = 5
ws_messages_per_second = 5
ws_burst = 8

[namespaces.public]
max_connections = 2
max_message_bytes = 512
data_keys = ["text"]
extra_keys = "strip"

[namespaces.strict]
data_keys = ["text"]

[namespaces.admin]
auth = true
"""


Rooms = tuple[str, ...]


def token(*, subscribe: Rooms = ("*",), publish: Rooms = ("*",), ttl: float = 600,
          auth: Auth = AUTH, namespaces: Rooms = ("*",)) -> str:  # fmt: skip
    return mint(auth, "tester", subscribe=subscribe, publish=publish, ttl_seconds=ttl,
                namespaces=namespaces)  # fmt: skip


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    config = tmp_path_factory.mktemp("secure") / "rtbench.toml"
    config.write_text(CONFIG)
    servers: dict[str, ServerProcess] = {}
    try:
        for transport in TRANSPORTS:
            servers[transport] = ServerProcess(transport, config=config).start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def bearer(value: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"} if value else {}


async def handshake(
    transport: str,
    base: str,
    room: str,
    *,
    headers: dict[str, str] | None = None,
    namespace: str | None = None,
    query: str = "",
) -> int:
    """The status a subscribe handshake gets: 200 (stream or poll), 101 (upgrade) or an error."""
    path = subscribe_path(transport, room, after=0)
    if namespace:
        path = f"/ns/{namespace}{path}"
    if query:
        path += ("&" if "?" in path else "?") + query
    if transport == "ws":
        url = base.replace("http", "ws", 1) + path
        try:
            async with connect(url, additional_headers=headers or {}, open_timeout=10):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)
    if transport == "longpoll":
        path += "&timeout=0"
    async with (
        httpx.AsyncClient(base_url=base, timeout=10) as client,
        client.stream("GET", path, headers=headers) as response,
    ):
        return response.status_code


async def metrics(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        text = (await client.get("/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def counted(values: dict[Any, float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, pairs), value in values.items()
        if sample == name and labels.items() <= dict(pairs).items()
    )


# -- the matrix at the handshake, on every transport --------------------------------------------

# Tokens are minted when the test runs, not when the module is collected: a token
# minted at collection expires before a test that runs late in a long suite.
DENIALS: list[tuple[str, Callable[[], str | None], int, str]] = [
    # (case, token maker, expected status, auth failure reason)
    ("no token", lambda: None, 401, "missing"),
    ("expired", lambda: token(ttl=-30), 401, "expired"),
    ("forged signature", lambda: token(auth=Auth(secret=OTHER_SECRET)), 401, "bad_signature"),
    ("wrong audience", lambda: token(auth=Auth(secret=SECRET, audience="other")), 401,
     "wrong_audience"),
    ("wrong room right", lambda: token(subscribe=("elsewhere-*",)), 403, "no_right"),
    ("wrong namespace", lambda: token(namespaces=("public",)), 403, "no_right"),
    ("not a JWT", lambda: "not.a.jwt", 401, "malformed"),
]  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("case", "make_token", "status", "reason"), DENIALS, ids=[d[0] for d in DENIALS]
)
async def test_handshake_refusals(
    secure: dict[str, ServerProcess],
    transport: str,
    room: str,
    case: str,
    make_token: Callable[[], str | None],
    status: int,
    reason: str,
) -> None:
    server = secure[transport]
    before = await metrics(server.url)
    got = await handshake(transport, server.url, room, headers=bearer(make_token()))
    assert got == status, case
    after = await metrics(server.url)
    assert counted(after, "rtbench_auth_failures_total", reason=reason) == (
        counted(before, "rtbench_auth_failures_total", reason=reason) + 1
    )
    kind = "unauthorized" if status == 401 else "forbidden"
    # This refusal's own log line: the one for this test's room, of this kind and status.
    [line] = [e for e in server.events("refused") if f"/{room}/" in str(e.get("path"))]
    assert (line.get("kind"), line.get("status")) == (kind, status), line


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_valid_token_opens_every_transport_by_header_or_query(
    secure: dict[str, ServerProcess], transport: str, room: str
) -> None:
    server = secure[transport]
    ok = 101 if transport == "ws" else 200
    valid = token(subscribe=(room,))
    assert await handshake(transport, server.url, room, headers=bearer(valid)) == ok
    # EventSource cannot set headers: ?token= works the same way.
    assert await handshake(transport, server.url, room, query=f"token={valid}") == ok


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_a_foreign_origin_is_refused_before_the_stream_or_upgrade(
    secure: dict[str, ServerProcess], transport: str, room: str
) -> None:
    server = secure[transport]
    valid = bearer(token())
    foreign = {**valid, "origin": "http://evil.example"}
    allowed = {**valid, "origin": ALLOWED_ORIGIN}
    assert await handshake(transport, server.url, room, headers=foreign) == 403
    ok = 101 if transport == "ws" else 200
    assert await handshake(transport, server.url, room, headers=allowed) == ok
    values = await metrics(server.url)
    assert counted(values, "rtbench_auth_failures_total", reason="origin") >= 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_invalid_room_and_unknown_namespace(
    secure: dict[str, ServerProcess], transport: str
) -> None:
    server = secure[transport]
    assert await handshake(transport, server.url, "bad%20room", headers=bearer(token())) in (
        400,
        404,
    )
    assert (
        await handshake(transport, server.url, "lobby", namespace="nope", headers=bearer(token()))
        == 404
    )


async def test_as_it_ships_a_page_of_another_site_can_neither_subscribe_nor_publish(
    server: ServerProcess, transport: str, room: str
) -> None:
    foreign = {"origin": "http://evil.example"}
    own = {"origin": server.url}  # the page the server itself served (the demo)
    ok = 101 if transport == "ws" else 200
    assert await handshake(transport, server.url, room, headers=foreign) == 403
    assert await handshake(transport, server.url, room, headers=own) == ok
    assert await handshake(transport, server.url, room) == ok  # no Origin: not a browser
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        refused = await client.post(f"/rooms/{room}/events", json={"data": 1}, headers=foreign)
        assert refused.status_code == 403
        assert refused.json()["error"].startswith("expected an Origin of this server")
        assert (await client.post(f"/rooms/{room}/events", json={"data": 1},
                                  headers=own)).status_code == 201  # fmt: skip
        assert (await client.get("/status", headers=foreign)).status_code == 403


def test_the_origin_rule_by_case() -> None:
    from servers.origins import origin_allowed

    nothing: frozenset[str] = frozenset()
    assert origin_allowed(None, "127.0.0.1:8000", nothing)
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", nothing)
    assert origin_allowed("http://LOCALHOST:8000", "localhost:8000", nothing)
    assert not origin_allowed("http://127.0.0.1:9000", "127.0.0.1:8000", nothing)
    assert not origin_allowed("null", "127.0.0.1:8000", nothing)
    assert origin_allowed("http://a.example", "x", frozenset({"http://a.example"}))
    assert origin_allowed("http://evil.example", "x", frozenset({"*"}))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_token_naming_no_namespace_grants_the_default_one_only(
    secure: dict[str, ServerProcess], transport: str, room: str
) -> None:
    server = secure[transport]
    minted = mint(AUTH, "tester", subscribe=["*"], publish=["*"])
    claims = {"sub": "tester", "aud": AUTH.audience, "exp": int(time.time()) + 600,
              "subscribe": ["*"]}  # fmt: skip
    unnamed = jwt.encode(claims, SECRET, algorithm="HS256")
    for plain in (minted, unnamed):
        assert await handshake(transport, server.url, room, headers=bearer(plain)) in (101, 200)
        refused = await handshake(transport, server.url, room, namespace="admin",
                                  headers=bearer(plain))  # fmt: skip
        assert refused == 403
    admin = token(namespaces=("admin",))
    assert await handshake(transport, server.url, room, namespace="admin",
                           headers=bearer(admin)) in (101, 200)  # fmt: skip


async def test_a_query_string_token_never_reaches_the_log(tmp_path: Path, room: str) -> None:
    config = tmp_path / "rtbench.toml"
    config.write_text(CONFIG)
    node = ServerProcess("ws", config=config, extra_args=["--log-level", "info"]).start()
    secret = token()
    try:
        url = node.url.replace("http", "ws", 1) + f"/rooms/{room}/ws?after=0&token={secret}"
        async with connect(url, open_timeout=10):
            pass

        async def accepted() -> bool:
            return "[accepted]" in json.dumps(list(node.logs))

        await eventually(accepted)  # uvicorn's own line, which quotes the query string
    finally:
        node.stop()
    logged = json.dumps(list(node.logs))
    assert secret not in logged and "token=***" in logged


@pytest.mark.parametrize("transport", ["sse", "ws"])
async def test_connection_cap_per_namespace(
    secure: dict[str, ServerProcess], transport: str, room: str
) -> None:
    """`public` holds at most 2 connections: the third is refused with 503 until one leaves."""
    server = secure[transport]
    async with (
        subscribe(transport, f"{server.url}/ns/public", room),
        subscribe(transport, f"{server.url}/ns/public", room),
    ):
        assert await handshake(transport, server.url, room, namespace="public") == 503
    values = await metrics(server.url)
    assert counted(values, "rtbench_errors_total", kind="too_many_connections") >= 1

    async def freed() -> bool:
        return await handshake(transport, server.url, room, namespace="public") in (101, 200)

    await eventually(freed)


# -- publishing ---------------------------------------------------------------------------------


async def test_publish_refusals_each_with_its_code(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["sse"]
    url = f"/rooms/{room}/events"
    good = bearer(token(publish=(room,)))
    deep: Any = "leaf"
    for _ in range(20):
        deep = [deep]
    cases = [
        ("no token", {}, {"data": 1}, 401),
        ("forged", bearer(token(auth=Auth(secret=OTHER_SECRET))), {"data": 1}, 401),
        ("wrong room", bearer(token(publish=("other",))), {"data": 1}, 403),
        ("deep JSON", good, {"data": deep}, 422),
    ]
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for case, headers, body, status in cases:
            answer = await client.post(url, json=body, headers=headers)
            assert answer.status_code == status, (case, answer.text)
            assert "expected" in answer.json()["error"]
        oversize = await client.post(
            f"/ns/public/rooms/{room}/events", json={"data": {"text": "x" * 600}}
        )
        assert oversize.status_code == 413
        as_json = {**good, "content-type": "application/json"}
        bad_json = await client.post(url, content=b"{nope", headers=as_json)
        assert bad_json.status_code == 422
        very_deep = await client.post(url, content=b"[" * 50_000, headers=as_json)
        assert very_deep.status_code in (413, 422)


async def test_namespace_key_filter_strips_or_rejects(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["ws"]
    async with subscribe("ws", f"{server.url}/ns/public", room) as sub:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            stripped = await client.post(
                f"/ns/public/rooms/{room}/events",
                json={"data": {"text": "hi", "admin": True, "html": "<b>x</b>"}},
            )
            assert stripped.status_code == 201
            rejected = await client.post(
                f"/ns/strict/rooms/{room}/events", json={"data": {"text": "hi", "admin": True}}
            )
            assert rejected.status_code == 422 and "admin" in rejected.json()["error"]
        [event] = await collect(sub, 1)
    assert event.data == {"text": "hi"}  # type: ignore[union-attr]


async def test_publish_flood_gets_429_with_retry_after(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["longpoll"]
    flood = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    headers = bearer(token(publish=(room,)))
    async with httpx.AsyncClient(base_url=server.url, transport=flood, timeout=10) as client:
        codes = [
            (await client.post(f"/rooms/{room}/events", json={"data": n}, headers=headers))
            for n in range(12)
        ]
    assert [c.status_code for c in codes[:5]] == [201] * 5  # the burst
    limited = [c for c in codes if c.status_code == 429]
    assert limited and all(int(c.headers["retry-after"]) >= 1 for c in limited)
    values = await metrics(server.url)
    assert counted(values, "rtbench_rate_limited_total", limited="publish") >= len(limited)


# -- the WebSocket: every action checked again ---------------------------------------------------


def ws_url(server: ServerProcess, room: str, value: str) -> str:
    return server.url.replace("http", "ws", 1) + f"/rooms/{room}/ws?token={value}"


async def test_websocket_rechecks_rights_on_publish_and_join(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["ws"]
    value = token(subscribe=(room,), publish=(room,))
    async with connect(ws_url(server, room, value)) as socket:
        await socket.send(json.dumps({"op": "publish", "room": "other", "data": 1, "ack": 1}))
        refused = json.loads(await socket.recv())
        assert refused["op"] == "error" and refused["kind"] == "forbidden" and refused["ack"] == 1
        await socket.send(json.dumps({"op": "join", "room": "secret-room", "ack": 2}))
        refused = json.loads(await socket.recv())
        assert refused["kind"] == "forbidden" and refused["ack"] == 2
        await socket.send(json.dumps({"op": "publish", "data": "fine", "ack": 3}))
        replies = [json.loads(await socket.recv()) for _ in range(2)]
        assert {r.get("op", "event") for r in replies} == {"ack", "event"}


async def test_token_expiry_closes_an_open_websocket_with_1008(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["ws"]
    value = token(subscribe=(room,), ttl=2)  # the claim has whole seconds
    async with connect(ws_url(server, room, value)) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), PATIENCE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "expired" in closed.value.rcvd.reason
    values = await metrics(server.url)
    assert counted(values, "rtbench_disconnects_total", reason="token_expired") >= 1


async def test_websocket_message_flood_gets_an_error_then_1008(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["ws"]
    async with connect(ws_url(server, room, token())) as socket:
        for n in range(30):
            try:
                await socket.send(json.dumps({"op": "leave", "room": "nowhere", "ack": n}))
            except ConnectionClosed:
                break
        frames: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(await asyncio.wait_for(socket.recv(), PATIENCE)))
    assert frames[-1]["op"] == "error" and frames[-1]["kind"] == "rate_limited"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    values = await metrics(server.url)
    assert counted(values, "rtbench_rate_limited_total", limited="ws_message") >= 1


async def test_oversized_websocket_frame_closes_with_1009(
    secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure["ws"]
    async with connect(ws_url(server, room, token()), max_size=None) as socket:
        await socket.send(json.dumps({"op": "publish", "data": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), PATIENCE)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# -- nothing legitimate is lost while all of the above happens ---------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_legitimate_subscriber_misses_nothing_amid_abuse(
    secure: dict[str, ServerProcess], transport: str, room: str
) -> None:
    server = secure[transport]
    reader = token(subscribe=(room,))
    writer = bearer(token(publish=(room,)))
    flood = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    legit_ids: list[int] = []
    async with subscribe(transport, server.url, room, token=reader) as sub:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=10) as legit,
            httpx.AsyncClient(base_url=server.url, transport=flood, timeout=10) as abuser,
        ):
            for n in range(10):
                assert await handshake(transport, server.url, room) == 401
                forged = bearer(token(auth=Auth(secret=OTHER_SECRET)))
                assert await handshake(transport, server.url, room, headers=forged) == 401
                await abuser.post(f"/rooms/{room}/events", json={"data": "flood"}, headers=writer)
                await abuser.post(f"/rooms/{room}/events", content=b"{bad", headers=writer)
                answer = await legit.post(
                    f"/rooms/{room}/events", json={"data": {"n": n}}, headers=writer
                )
                assert answer.status_code == 201
                legit_ids.append(answer.json()["id"])
                await asyncio.sleep(0.2)  # the legitimate publisher stays under 5/s
        events = await collect(sub, legit_ids[-1])  # the floods that got in are events too
    legit = [e for e in events if getattr(e, "data", None) != "flood"]
    assert [e.data for e in legit] == [{"n": n} for n in range(10)]  # type: ignore[union-attr]
    assert ids(events) == list(range(1, legit_ids[-1] + 1))  # every event once, in order


def test_config_file_errors_say_what_was_expected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[namespaces.admin]\nauth = true\n[auth]\nsecret = "short"\n')
    server = ServerProcess("sse", config=bad)
    with pytest.raises(ServerFailed, match="did not become ready"):
        server.start(timeout=10)
    assert any("expected auth.secret of at least 32 bytes" in str(line) for line in server.logs)


# -- /status ------------------------------------------------------------------------------------


async def test_status_details_go_to_the_token_or_the_local_operator_only(
    transport: str, secure: dict[str, ServerProcess], room: str
) -> None:
    server = secure[transport]
    admin_room = f"secret-{room}"
    proxied = {"x-forwarded-for": "203.0.113.9"}  # a proxy on this host: anyone, really
    async with httpx.AsyncClient(base_url=server.url) as client:
        published = await client.post(
            f"/ns/admin/rooms/{admin_room}/events", json={"data": 1}, headers=bearer(token())
        )
        assert published.status_code == 201
        local = (await client.get("/status")).json()
        assert local["detail"] is True and "memory" in local
        for headers in (proxied, {**proxied, "authorization": "Bearer " + "s" * 40}):
            answer = await client.get("/status", headers=headers)
            assert answer.status_code == 200
            summary = answer.json()
            assert summary["detail"] is False, headers
            assert set(summary) == {
                "detail", "transport", "version", "uptime_s", "connections", "events",
                "errors_per_minute", "broker", "shutting_down",
            }  # fmt: skip
            assert admin_room not in answer.text and "admin" not in answer.text
            assert summary["events"]["published"] >= 1
        token_holder = await client.get(
            "/status", headers={**proxied, "authorization": f"Bearer {STATUS_TOKEN}"}
        )
        assert token_holder.json()["detail"] is True
        assert "admin" in token_holder.json()["namespaces"]  # the operator sees every namespace
        assert STATUS_TOKEN not in token_holder.text


async def test_status_details_can_be_closed_to_the_loopback_too(tmp_path: Path) -> None:
    config = tmp_path / "rtbench.toml"
    config.write_text("status_detail_loopback = false\n")
    with ServerProcess("sse", config=config) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/status")).json()["detail"] is False


def test_a_short_status_token_is_refused_at_startup(tmp_path: Path) -> None:
    config = tmp_path / "rtbench.toml"
    config.write_text('status_token = "short"\n')
    server = ServerProcess("sse", config=config)
    with pytest.raises(ServerFailed, match="did not become ready"):
        server.start(timeout=10)
    assert any("expected status_token of at least 32 bytes, got 5" in str(line)
               for line in server.logs)  # fmt: skip


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    import trustme

    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "chain.pem"))
    return str(folder / "ca.pem"), str(folder / "chain.pem"), str(folder / "key.pem")


def ssl_context(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tls_round_trip(transport: str, tls_files: tuple[str, str, str], room: str) -> None:
    ca, chain, key = tls_files
    extra = ["--ssl-certfile", chain, "--ssl-keyfile", key]
    with ServerProcess(transport, extra_args=extra) as server:
        assert server.url.startswith("https://")
        probe = PROBES[transport](server.url, room, Recorder(), tls=client_tls(ca))
        await asyncio.wait_for(probe.open(), PATIENCE)
        async with httpx.AsyncClient(base_url=server.url, verify=ssl_context(ca)) as client:
            for n in range(5):
                answer = await client.post(f"/rooms/{room}/events", json={"data": n})
                assert answer.status_code == 201
            # A client that does not trust the test CA is refused by its own TLS check.
            async with httpx.AsyncClient(base_url=server.url) as untrusting:
                with pytest.raises(httpx.ConnectError):
                    await untrusting.get("/healthz")

        async def received() -> bool:
            return probe.tally.last_id == 5

        await eventually(received)
        probe.close()
    assert probe.tally.delivered == 5 and probe.error is None


async def test_rs256_tokens_verified_with_the_public_key(tmp_path: Path, room: str) -> None:
    """Asymmetric keys: the server holds only the public key; whoever mints holds the private."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = tmp_path / "rs256.toml"
    config.write_text(
        f'[auth]\nalgorithm = "RS256"\npublic_key_file = "{public}"\n'
        "[namespaces.default]\nauth = true\n"
    )
    rs256 = Auth(algorithm="RS256", public_key_file=str(public))
    signed = mint(rs256, "alice", subscribe=[room], publish=[room], key=private)
    forged = token()  # HS256 with a secret: not what this server accepts
    with ServerProcess("sse", config=config) as server:
        assert await handshake("sse", server.url, room, headers=bearer(signed)) == 200
        assert await handshake("sse", server.url, room, headers=bearer(forged)) == 401


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reconnecting_client_pins_its_cursor_with_its_token(
    secure: dict[str, ServerProcess], transport: str, room: str
) -> None:
    """Without a cursor the reconnecting client asks the room's last id first: in an
    authenticated namespace that request must carry the token too, or it is a 401."""
    from clients.aio import Publisher, Reconnecting

    server = secure[transport]
    grant = token(subscribe=(room,), publish=(room,))
    client = Reconnecting(transport, server.url, room, token=grant)
    got: list[int] = []

    async def read() -> None:
        async for item in client:
            got.append(item.id)  # type: ignore[union-attr]
            return

    reader = asyncio.create_task(read())
    await asyncio.wait_for(client.connected.wait(), PATIENCE)
    async with Publisher(server.url, token=grant) as publisher:
        published = await publisher.publish(room, {"text": "after the cursor"})
    await asyncio.wait_for(reader, PATIENCE)
    assert got == [published]
