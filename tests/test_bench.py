"""The measuring engine: a tiny profile end to end, the accounting that makes its figures
honest, and no process left behind whatever happens."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from clients.aio.probe import Tally
from core import ConfigError
from peers import PEERS
from processes.server import ServerProcess
from record import NCHAN_PEERS, UnknownSchema, json_schema, read
from scenarios import ipc
from scenarios import profile as profiles
from scenarios.measure import Samples, decode, encode, merge, new_histogram, record_us, summary
from scenarios.workers import Worker, processes_of_run
from tests.conftest import TRANSPORTS

# The tiny profile runs every scenario on every transport and the reference peers: about a
# minute and a half, more on a busy CI.
pytestmark = pytest.mark.timeout(300)


def run_bench(
    *args: str, out: Path, run_id: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scenarios.run", "--out", str(out), "--run-id", run_id, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_ok_step(
    results: dict[str, Any], transport: str, scenario: str, **params: object
) -> dict[str, Any]:
    """The one step of this transport and scenario (with these params, and server knobs off
    unless named), checked to be ok."""
    params = {"tls": False, "auth": False, "ratelimit": False, "compression": False,
              "browser_headers": False, "binary": False, "http2": False, "fanout": "direct",
              **params}  # fmt: skip
    defaults = {"fanout": "direct"}
    [step] = [
        s
        for s in results["steps"]
        if s["transport"] == transport
        and s["scenario"] == scenario
        and all(s["params"].get(k, defaults.get(k, False)) == v for k, v in params.items())
    ]
    assert step["status"] == "ok", step
    return step


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    out = tmp_path_factory.mktemp("results")
    run_id = f"tiny-{uuid.uuid4().hex[:6]}"
    done = run_bench("--profile", "tiny", out=out, run_id=run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(read(out / run_id)), out / run_id, run_id


def test_results_file_validates_against_its_schema(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, _, _ = tiny_run
    jsonschema.validate(results, json_schema())
    assert results["pinning"]["server_cpus"] and results["machine"]["cores"] == os.cpu_count()
    assert results["software"]["git"]["commit"]
    software = results["software"]
    assert software["distributions"]["uvicorn"] == software["packages"]["uvicorn"]
    assert len(software["lock"]["sha256"]) == 64


PYTHON_PEERS = [peer for peer in PEERS if peer not in NCHAN_PEERS]
"""The peers that run more than the broadcast (Nchan runs the broadcast alone)."""


@pytest.mark.parametrize("transport", [*TRANSPORTS, *PEERS])
def test_tiny_broadcast_runs_clean_on_each_transport(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, folder, _ = tiny_run
    step = only_ok_step(results, transport, "broadcast", tls=False)
    assert step["delivered"] + step["lost"] == step["expected"] == step["published"] * 5
    assert step["driver_processes"] == 2  # 3 + 2 subscribers, results merged
    assert step["lost"] == step["duplicated"] == step["reordered"] == step["gap_notices"] == 0
    histogram = decode((folder / step["histogram_file"]).read_text().strip())
    assert histogram.get_total_count() == step["latency_us"]["count"] > 0
    assert summary(histogram) == step["latency_us"]
    wire = step["bytes_per_message"]
    # The kernel's count and the application's count of received bytes must agree.
    assert wire["source"] == "tcp_info" and wire["total_down"] == wire["app_down"]
    assert wire["down"] > wire["payload"]


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_tiny_baseline_measures_the_null_server(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "baseline")
    assert step["delivered"] == step["expected"] > 0 and step["latency_us"]["count"] > 0


@pytest.mark.parametrize("transport", [*TRANSPORTS, *PYTHON_PEERS])
def test_tiny_idle_step_holds_every_connection(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "idle")
    assert step["connected"] == step["held_by_server"] == step["requested"]
    assert step["rss_per_connection_bytes"] is not None


def test_success_leaves_no_process(tiny_run: tuple[dict[str, Any], Path, str]) -> None:
    _, _, run_id = tiny_run
    assert processes_of_run(run_id) == []


def test_failure_is_reported_and_leaves_no_process(tmp_path: Path) -> None:
    run_id = f"fail-{uuid.uuid4().hex[:6]}"
    done = run_bench(
        "--profile",
        "tiny",
        "--transports",
        "ws",
        "--broker",
        "kafka://nowhere",
        out=tmp_path,
        run_id=run_id,
    )
    assert done.returncode == 1
    results = dict(read(tmp_path / run_id))
    # The null server has no broker; cluster steps bring their own (redis-server).
    own = ("baseline", "cluster", "cluster_locust")
    real = [s for s in results["steps"] if s["scenario"] not in own]
    assert real and {s["status"] for s in real} == {"failed"}
    assert all("did not become ready" in s["error"] for s in real)
    assert processes_of_run(run_id) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_every_child(tmp_path: Path, stop: signal.Signals) -> None:
    run_id = f"stop-{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scenarios.run",
            "--profile",
            "quick",
            "--transports",
            "sse",
            "--out",
            str(tmp_path),
            "--run-id",
            run_id,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(processes_of_run(run_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # wait for the server and the driver to be up
        assert processes_of_run(run_id), "the run never started its children"
        proc.send_signal(stop)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while processes_of_run(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of_run(run_id) == []


async def test_lossy_subscriber_is_counted_as_lossy() -> None:
    """A driver that throws away every 7th event it receives must report loss, not hide it."""
    run_id = f"lossy-{uuid.uuid4().hex[:6]}"
    room = f"lossy-{uuid.uuid4().hex[:6]}"
    with ServerProcess("sse") as server:
        driver = Worker(
            "scenarios.load.driver",
            [
                "--transport",
                "sse",
                "--url",
                server.url,
                "--room",
                room,
                "--subscribers",
                "3",
                "--drop-every",
                "7",
            ],
            run_id,
            "driver",
        )
        publisher = Worker(
            "scenarios.load.publisher",
            [
                "--url",
                server.url,
                "--room",
                room,
                "--rate",
                "200",
                "--warmup",
                "0",
                "--duration",
                "0.5",
            ],
            run_id,
            "publisher",
        )
        try:
            driver.start()
            await driver.receive(ipc.DriverReady, 30)
            publisher.start()
            published = await publisher.receive(ipc.PublisherResult, 30)
            await driver.send(cmd="drain", last_id=published["last_id"], seconds=1)
            received = await driver.receive(ipc.DriverResult, 30)
        finally:
            await driver.aclose()
            await publisher.aclose()
    assert published["last_id"] is not None
    seen = published["last_id"] * 3
    assert received["lost"] == seen // 7
    assert received["delivered"] + received["lost"] == seen
    assert received["complete"] is False


def test_tally_counts_loss_duplicates_and_reordering() -> None:
    tally = Tally()
    for event_id in [1, 2, 4, 5, 3, 5, 8, 9]:
        tally.see(event_id)
    assert tally.delivered == 7
    assert tally.duplicated == 1
    assert tally.reordered == 1
    assert tally.missing == {6, 7}
    assert tally.lost(last_published=10) == 3


def test_histogram_merge_equals_one_histogram_of_all_samples() -> None:
    rng = random.Random(3)
    parts = [new_histogram() for _ in range(4)]
    whole = new_histogram()
    for _ in range(20_000):
        value = rng.lognormvariate(7, 1.5)
        record_us(rng.choice(parts), value)
        record_us(whole, value)
    merged = merge([encode(h) for h in parts])
    assert summary(merged) == summary(whole)
    for p in (1, 25, 50, 75, 99, 99.99):
        assert merged.get_value_at_percentile(p) == whole.get_value_at_percentile(p)


def test_samples_count_into_the_histogram_record_us_builds() -> None:
    rng = random.Random(5)
    values = [int(rng.lognormvariate(7, 1.5)) for _ in range(5_000)] + [0, -3, 10**9]
    samples, one_by_one = Samples(bound=1_000), new_histogram()
    for value in values:
        samples.add(value)
        record_us(one_by_one, value)
    assert encode(samples.histogram()) == encode(one_by_one)
    assert summary(samples.histogram()) == summary(one_by_one)  # read twice: nothing counted twice


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "rtbench.results", "schema_version": 99}))
    with pytest.raises(UnknownSchema, match=r"expected rtbench\.results version 1 or 2"):
        read(path)


def test_profiles_parse_and_refuse_typos() -> None:
    for name in profiles.builtin_profiles():
        assert profiles.load(name).steps()
    with pytest.raises(ConfigError, match="expected broadcast keys"):
        profiles.parse({"scenario": [{"kind": "broadcast", "subscriber": 5}]}, "typo")
    with pytest.raises(ConfigError, match="expected scenario kind"):
        profiles.parse({"scenario": [{"kind": "nap"}]}, "typo")


def test_a_profile_name_is_the_profile_even_beside_a_folder_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "quick").mkdir()
    monkeypatch.chdir(tmp_path)
    assert profiles.load("quick").name == "quick"


def test_network_profile_refuses_an_unknown_link_and_too_many_hosts() -> None:
    with pytest.raises(
        ConfigError, match=r"network: expected a link profile \(lan, wifi, 4g, 3g\)"
    ):
        profiles.parse({"scenario": [{"kind": "network", "link": ["5g"]}]}, "typo")
    with pytest.raises(ConfigError, match="expected load_hosts from 1 to 8, got \\[9\\]"):
        profiles.parse({"scenario": [{"kind": "network", "load_hosts": 9}]}, "typo")


def test_unknown_profile_is_refused_clearly(tmp_path: Path) -> None:
    done = run_bench("--profile", "nope", out=tmp_path, run_id="x", timeout=30)
    assert done.returncode == 2 and "expected a profile among" in done.stderr


@pytest.mark.parametrize("transport", [*TRANSPORTS, "bare-ws"])
def test_tiny_knee_steps_up_and_says_why_it_stopped(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "knee")
    rates = [point["rate"] for point in step["points"]]
    assert rates == sorted(rates) and rates[0] == 50
    assert step["stopped_because"]
    if step["max_sustainable_rate"] is not None:
        assert step["max_sustainable_rate"] in rates
    assert step["bound_by"] in ("the server", "the load generator", "the sweep's maximum")
    assert step["capacity_is_lower_bound"] == (step["bound_by"] != "the server")
    # No rate that passed had its server core saturated.
    passed = [p for p in step["points"] if p["rate"] <= (step["max_sustainable_rate"] or 0)]
    assert all(p["utilisation"]["server_core"] <= 0.8 for p in passed)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tiny_churn_resumes_without_loss(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, folder, _ = tiny_run
    step = only_ok_step(results, transport, "churn")
    assert step["reconnects"] >= 5 and not step["reconnect_failures"]
    assert step["lost"] == step["duplicated"] == 0
    assert step["delivered"] == step["expected"]
    timeline = json.loads((folder / step["timeline_file"]).read_text())
    assert sum(timeline["reconnects"]) == step["reconnects"]
    assert sum(timeline["delivered"]) == step["delivered"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tiny_chat_delivers_every_member_message_to_its_room(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "chat", workload="chat")
    members = step["params"]["rooms"] * step["params"]["members_per_room"]
    assert step["published"] > 0 and step["nominal_rate"] == members * step["params"]["member_rate"]
    assert (
        step["delivered"]
        == step["expected"]
        == step["published"] * step["params"]["members_per_room"]
    )
    wire = step["bytes_per_message"]
    assert wire["total_down"] == wire["app_down"]
    assert step["server_dropped"] == {"slow_subscriber": 0, "stalled_subscriber": 0}
    # Members publish too: what they send up is counted, however they send it.
    assert wire["up"] > step["params"]["payload_bytes"] / step["params"]["members_per_room"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tiny_collaboration_times_every_edit_to_its_acknowledgement(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, folder, _ = tiny_run
    step = only_ok_step(results, transport, "chat", workload="collaboration")
    measured = int(step["params"]["duration_seconds"] * step["nominal_rate"])  # as scheduled
    acknowledged = step["acknowledgement_us"]
    assert acknowledged["count"] == measured and not step["publish_errors"]
    assert 0 < acknowledged["p50"] <= acknowledged["p99"]
    assert (folder / "histograms" / f"{step['id']}.acknowledgement.hdr").exists()
    plain = only_ok_step(results, transport, "chat", workload="chat")
    assert "acknowledgement_us" not in plain


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tiny_locust_chat_records_raw_latency_and_counts(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "locust_chat")
    assert step["driver"] == "locust" and step["locust_exit_code"] == 0
    assert step["published"] > 0 and step["delivered"] == step["expected"] > 0
    assert step["lost"] == step["duplicated"] == 0
    assert step["latency_us"]["count"] > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tiny_tls_step_runs_over_https_and_counts_tls_bytes(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, folder, _ = tiny_run
    step = only_ok_step(results, transport, "broadcast", tls=True)
    assert step["delivered"] == step["expected"] > 0
    wire = step["bytes_per_message"]
    # On the wire the kernel sees TLS records, more than the plaintext the client reads.
    assert wire["total_down"] > wire["app_down"]
    assert (folder / "tls" / "ca.pem").exists()
    assert results["settings"]["tls"] is True


def test_driver_results_from_several_processes_merge_exactly() -> None:
    from scenarios.shares import merge_driver_results, split

    assert split(5, 2) == [3, 2] and split(2, 4) == [1, 1] and sum(split(1001, 3)) == 1001
    parts = []
    for n in range(3):
        h = new_histogram()
        for v in range(1, 100 * (n + 1)):
            record_us(h, v)
        parts.append(
            ipc.DriverResult(
                event="result",
                subscribers=5,
                complete=n != 1,
                delivered=10 * (n + 1),
                lost=0,
                expected=10 * (n + 1),
                duplicated=0,
                reordered=0,
                gap_notices=0,
                measured=10 * (n + 1),
                unmeasurable=0,
                histogram=encode(h),
                app_bytes_in=90,
                app_bytes_out=1,
                tcp_bytes_in=100,
                tcp_bytes_out=None if n == 2 else 1,
                tcp_segments_out=None,
                tcp_segments_in=None,
                polls=0,
                errors=[f"e{n}"],
                error_count=1,
                reconnects=0,
                reconnect_failures=[],
                reconnect_failure_count=0,
                timeline={
                    "bucket_ms": 100,
                    "start_ns": 0,
                    "delivered": [1] * (n + 1),
                    "reconnects": [0] * (n + 1),
                },
            )
        )
    merged = merge_driver_results(parts)
    assert merged["delivered"] == 60 and merged["complete"] is False
    assert merged["tcp_bytes_in"] == 300 and merged["errors"] == ["e0", "e1", "e2"]
    assert merged["tcp_bytes_out"] is None  # one process could not count: no total
    assert merged["timeline"]["delivered"] == [3, 2, 1]
    assert decode(merged["histogram"]).get_total_count() == 99 + 199 + 299


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tiny_auth_and_ratelimit_knobs_run_with_tokens(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    """The server of a knob step requires a JWT: every subscriber and the publisher had one."""
    results, folder, _ = tiny_run
    step = only_ok_step(results, transport, "broadcast", auth=True, ratelimit=True)
    assert step["delivered"] == step["expected"] > 0 and not step["publish_errors"]
    assert "auth" in step["id"] and "ratelimit" in step["id"]
    config = (folder / "config" / "auth-true-ratelimit-true.toml").read_text()
    assert "auth = true" in config and "publish_per_second" in config
    idle = only_ok_step(results, transport, "idle", auth=True)
    assert idle["connected"] == idle["held_by_server"] == idle["requested"]
    assert idle["server_cpu_us_per_connection"] is not None


def test_tiny_cluster_step_runs_through_nginx_on_redis(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, folder, _ = tiny_run
    step = only_ok_step(results, "ws", "cluster")
    assert step["cluster"] == {"nodes": 2, "broker": "redis", "load_balancer": True}
    assert step["delivered"] == step["expected"] > 0 and step["lost"] == 0
    processes = step["process_cpu_us_per_message"]
    assert set(processes) == {"node-1", "node-2", "redis-server", "nginx"}
    config = (folder / "nginx" / step["id"] / "nginx.conf").read_text()
    assert "proxy_buffering off" in config and "Upgrade" in config


def test_tiny_locust_distributed_merges_every_workers_raw_histogram(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, folder, _ = tiny_run
    step = only_ok_step(results, "ws", "cluster_locust")
    assert step["locust_workers"] == 2 and step["locust_processes"] == 3  # master + 2 workers
    parts = sorted((folder / "locust").glob(f"{step['id']}.json.*"))
    assert len(parts) == 2  # one raw file per worker
    merged = merge([json.loads(p.read_text())["histogram"] for p in parts])
    assert merged.get_total_count() == step["latency_us"]["count"] > 0
    assert step["lost"] == 0 and step["delivered"] == step["expected"] > 0


def test_every_step_of_a_tiny_run_appears_in_its_report(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, folder, _ = tiny_run
    done = subprocess.run(
        [sys.executable, "-m", "report", str(folder)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    text = (folder / "report.md").read_text()
    missing = [s["id"] for s in results["steps"] if f"`{s['id']}`" not in text]
    assert missing == []
    assert f"requirements.lock (sha256 {results['software']['lock']['sha256'][:12]})" in text
    for step in results["steps"]:
        if step["scenario"] in ("broadcast", "baseline", "churn", "chat"):
            use = step["utilisation"]
            assert use["window_seconds"] > 0 and use["server_core"] is not None, step["id"]
            assert set(use["cpus_busy"]) == {str(c) for c in os.sched_getaffinity(0)}
    assert results["settings"]["saturation"] == {"server": 0.8, "driver": 0.7, "kept_up": 0.95}
    fanout = text.split("## The fan-out path", 1)[1].split("\n## ", 1)[0]
    for transport in ("Long polling", "Server-Sent Events", "WebSocket"):
        assert f"| {transport}, direct |" in fanout and f"| {transport}, asgi |" in fanout


def test_wire_bytes_are_split_and_segments_counted(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, _, _ = tiny_run
    for transport in TRANSPORTS:
        b = only_ok_step(results, transport, "broadcast", subscribers=5)["bytes_per_message"]
        split = b["down_split"]
        assert split["payload"] == 90, (transport, split)
        assert split["envelope"] > 0 and split["framing"] > 0, (transport, split)
        assert b["segments_down"] > 0 and b["segments_up"] > 0, (transport, b)
        assert b["ip_tcp_header_bytes_per_segment"] in (40, 52)
    # Chromium's headers ride on every poll: the same long polling, heavier upstream.
    lean = only_ok_step(results, "longpoll", "broadcast", subscribers=5)["bytes_per_message"]
    browser = only_ok_step(results, "longpoll", "broadcast", subscribers=3, browser_headers=True)
    assert browser["bytes_per_message"]["up"] > lean["up"] + 300, (browser, lean)


def test_proxies_distribution_defaults_refuse_the_upgrade_tuned_passes_it(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, _, _ = tiny_run
    proxied = {
        (s["transport"], s["params"]["nginx"]): s
        for s in results["steps"]
        if s["scenario"] == "proxy"
    }
    refused = proxied[("ws", "defaults")]
    assert refused["status"] == "ok" and refused["handshake_passed"] is False
    assert refused["handshake_status"] != 101, refused
    for (transport, flavour), step in proxied.items():
        if (transport, flavour) == ("ws", "defaults"):
            continue
        assert step["handshake_passed"] is True, step
        assert step["status"] == "ok" and step["lost"] == 0 and step["delivered"] > 0, step


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_an_idle_stream_outlives_the_proxy_read_timeout_only_with_heartbeats(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    [step] = [
        s for s in results["steps"] if s["scenario"] == "proxy_idle" and s["transport"] == transport
    ]
    assert step["status"] == "ok", step
    timeout = step["read_timeout_seconds"]
    for stream in step["streams"]:
        if transport == "ws" and stream["nginx"] == "defaults":
            assert stream["handshake_status"] != 101, stream  # no upgrade through the defaults
            continue
        if stream["heartbeat"]:
            assert stream["closed_after_seconds"] is None, stream
        else:
            closed = stream["closed_after_seconds"]
            assert closed is not None and timeout - 0.5 <= closed <= timeout + 2, stream


def test_at_a_distance_long_polling_pays_a_round_trip_for_the_rest_of_a_burst(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, _, _ = tiny_run
    at = {
        (s["transport"], s["params"]["rtt_ms"]): s
        for s in results["steps"]
        if s["scenario"] == "delay"
    }
    rtt = 40
    for transport in TRANSPORTS:
        step = at[(transport, rtt)]
        assert step["status"] == "ok", step
        # The clients and the proxy are the load generator: both cores are reported.
        use = step["utilisation"]
        assert use["server_core"] is not None and use["driver_core"] is not None, use
        driver_cpus = [use["cpus_busy"][str(c)] for c in results["pinning"]["driver_cpus"]]
        assert use["driver_core"] == round(sum(driver_cpus) / len(driver_cpus), 3) > 0, use
        # A new connection costs TCP's round trip, then the subscribe request's.
        assert min(step["time_to_first_event_ms"]) >= 2 * rtt - 5, step
        assert min(step["resume_ms"]) >= 2 * rtt - 5, step
        assert at[(transport, 0)]["time_to_first_event_median_ms"] < rtt, at[(transport, 0)]
    for transport in ("sse", "ws"):  # streamed: one crossing, half the round trip
        assert at[(transport, rtt)]["burst_rest_median_ms"] < rtt, at[(transport, rtt)]
    # Long polling: the first poll's answer, then a round trip to ask for the rest.
    assert at[("longpoll", rtt)]["burst_rest_median_ms"] >= rtt / 2 + rtt - 5, at[("longpoll", rtt)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_reconnect_storm_resumes_every_subscriber_without_loss(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "storm")
    assert step["reconnects"] == 20 and not step["reconnect_failures"], step
    assert step["lost"] == 0 and step["duplicated"] == 0 and step["drained"], step
    storm = step["storm"]
    assert storm["p99_before_us"] is not None and storm["p99_worst_us"] is not None, storm


def test_tiny_soak_samples_rss_fds_python_blocks_and_cycle_garbage(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, "ws", "soak")
    soak = step["soak"]
    assert len(soak["samples"]) >= 5
    for _, rss, fds, blocks, _ in soak["samples"]:
        assert rss > 10 * 2**20 and fds > 5 and blocks > 10_000
    freed = [sample[4] for sample in soak["samples"]]
    # What the cyclic collector has freed so far: a count that only grows.
    assert all(isinstance(n, int) for n in freed) and freed == sorted(freed), freed
    times = [sample[0] for sample in soak["samples"]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 0.5 * soak["sample_seconds"], gaps  # sampled on its period, no faster
    assert soak["rss_slope_mib_per_hour"] is not None
    assert soak["fds_min"] <= soak["fds_max"]
    assert step["reconnects"] > 0 and step["lost"] == 0


@pytest.mark.parametrize("transport", ["sse", "ws"])
def test_tiny_binary_events_are_measured(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "broadcast", binary=True)
    assert step["delivered"] == step["expected"] > 0 and step["latency_us"]["count"] > 0
    split = step["bytes_per_message"]["down_split"]
    assert split["payload"] == 2048
    # base64 inside JSON on SSE (a third larger), a 9-byte header and the room on WebSocket
    assert split["envelope"] > 600 if transport == "sse" else split["envelope"] < 40


@pytest.mark.parametrize("transport", ["longpoll", "sse"])
def test_tiny_http2_steps_run_over_hypercorn(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    step = only_ok_step(results, transport, "broadcast", http2=True)
    assert step["delivered"] == step["expected"] > 0
    assert step["bytes_per_message"]["source"] == "tcp_info"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_asgi_fan_out_steps_run_clean_beside_the_direct_ones(
    tiny_run: tuple[dict[str, Any], Path, str], transport: str
) -> None:
    results, _, _ = tiny_run
    asgi = only_ok_step(results, transport, "broadcast", fanout="asgi")
    direct = only_ok_step(results, transport, "broadcast", subscribers=5)
    assert asgi["id"] != direct["id"] and "asgi-fanout" in asgi["id"]
    assert asgi["lost"] == 0 and asgi["delivered"] == asgi["expected"] > 0


def test_the_terminal_summary_shows_each_step_with_its_kinds_words(
    tiny_run: tuple[dict[str, Any], Path, str],
) -> None:
    from rich.console import Console

    from scenarios.kinds import KINDS
    from scenarios.summary import print_summary

    results, _, _ = tiny_run
    console = Console(record=True, width=2000, color_system=None)  # no cell wraps
    print_summary(results, console)  # type: ignore[arg-type]
    text = console.export_text()
    for step in results["steps"]:
        if step["scenario"] == "knee":  # the sweep's own table: subscribers and the bound
            continue
        kind = KINDS[step["scenario"]]
        assert kind.load is not None and kind.load(step["params"]) in text, step["id"]
    idle = [s for s in results["steps"] if s["scenario"] == "idle" and s["status"] == "ok"]
    assert idle
    for step in idle:  # the idle table carries the figures, not an empty row
        load = KINDS["idle"].load(step["params"])  # type: ignore[misc]
        rows = [
            line
            for line in text.splitlines()
            if line.startswith(f"│ {step['transport']} ") and f"│ {load} " in line
        ]
        assert rows and all(f"│ {step['connected']:,} " in row for row in rows), rows
