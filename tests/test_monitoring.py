"""Monitoring with the real tools: promtool checks and unit-tests the rules offline; a real
Prometheus scrapes a real two-node cluster on a real redis-server, every query of the Grafana
dashboard returns data, and the broker alert fires when Redis is killed, reaches a webhook
through a real Alertmanager, and resolves when Redis is back."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from clients.aio import Publisher, subscribe
from monitoring.services import RULES, Alertmanager, Prometheus, binary
from processes.server import ServerProcess
from processes.services import RedisServer, free_port
from tests.support import service_binary

ROOT = Path(__file__).resolve().parent.parent
ALERTS = re.findall(r"- alert: (\w+)", (RULES / "alerts.yml").read_text())


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool", "prometheus"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", "recording.yml", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "tests.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_unit_tests_fail_when_an_alert_stops_firing(tmp_path: Path) -> None:
    for name in ("recording.yml", "alerts.yml", "tests.yml"):
        shutil.copy(RULES / name, tmp_path / name)
    alerts = tmp_path / "alerts.yml"
    alerts.write_text(alerts.read_text().replace("rtbench_broker_up == 0", "rtbench_broker_up < 0"))
    tested = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert tested.returncode != 0 and "RtbenchBrokerDown" in tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_and_has_its_runbook_section() -> None:
    tests = (RULES / "tests.yml").read_text()
    runbook = (ROOT / "docs" / "monitoring.md").read_text()
    assert len(ALERTS) == 7
    for name in ALERTS:
        assert f"alertname: {name}" in tests, name
        assert f"### {name}" in runbook, name


class Webhook(ThreadingHTTPServer):
    """Alertmanager's receiver: every notification it posts, kept in order."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"

    def statuses(self, alertname: str) -> list[str]:
        return [alert["status"] for note in self.received for alert in note["alerts"]
                if alert["labels"]["alertname"] == alertname]  # fmt: skip


CONFIG = """
[auth]
secret = "monitoring-test-secret-monitoring-test"
[namespaces.default]
[namespaces.secure]
auth = true
[namespaces.limited]
publish_per_second = 1
publish_burst = 1
"""


class Cluster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.redis_binary = service_binary("redis-server", "redis-server")
        self.redis = RedisServer(self.redis_binary).start()
        config = folder / "rtbench.toml"
        config.write_text(CONFIG)
        self.nodes = [ServerProcess("all", broker=self.redis.url, config=config).start()
                      for _ in range(2)]  # fmt: skip
        self.webhook = Webhook()
        self.manager = Alertmanager(folder / "alertmanager", self.webhook.url).start()
        targets = [urlsplit(node.url).netloc for node in self.nodes]
        self.prometheus = Prometheus(folder / "prometheus", targets, 1.0, self.manager.url).start()

    def stop(self) -> None:
        for part in (self.prometheus, self.manager, *self.nodes, self.redis):
            part.stop()
        self.webhook.shutdown()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("monitoring"))
    try:
        yield running
    finally:
        running.stop()


def until(check: Any, patience: float, what: str) -> float:
    """Seconds until `check()` is truthy; fails after `patience`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > patience:
            raise AssertionError(f"expected {what} within {patience:g} s, got none")
        time.sleep(0.25)
    return time.monotonic() - started


async def traffic(node: ServerProcess, room: str) -> None:
    """Something for every panel: deliveries, an error, an auth failure, a rate limit, a
    disconnect."""
    async with subscribe("ws", node.url, room) as events, Publisher(node.url) as publisher:
        for n in range(20):
            await publisher.publish(room, {"n": n})
        for _ in range(20):
            await asyncio.wait_for(anext(aiter(events)), 10)
    async with httpx.AsyncClient(base_url=node.url) as client:
        bad = await client.post(f"/rooms/{room}/events", content=b"{",
                                headers={"content-type": "application/json"})  # fmt: skip
        assert bad.status_code in (400, 422)
        refused = await client.get(f"/ns/secure/rooms/{room}/poll")
        assert refused.status_code == 401
        limited = [await client.post(f"/ns/limited/rooms/{room}/events", json={"data": n})
                   for n in range(3)]  # fmt: skip
        assert 429 in [answer.status_code for answer in limited]


def dashboard_queries() -> list[str]:
    board = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    return [target["expr"].replace("$transport", ".*")
            for panel in board["panels"] for target in panel.get("targets", [])]  # fmt: skip


def test_every_dashboard_query_returns_data_from_the_live_cluster(
    cluster: Cluster, room: str
) -> None:
    up = 'up{job="rtbench"} == 1'
    until(lambda: len(cluster.prometheus.query(up)) == 2, 30, "both nodes scraped")
    asyncio.run(traffic(cluster.nodes[0], room))
    queries = dashboard_queries()
    assert len(queries) >= 10
    for expr in queries:
        until(lambda expr=expr: cluster.prometheus.query(expr), 30, f"data for {expr}")
    for recorded in ("rtbench:events_published:per_minute", "rtbench:delivery_latency_seconds:p99"):
        until(lambda recorded=recorded: cluster.prometheus.query(recorded), 30, recorded)


def firing(cluster: Cluster, alertname: str) -> list[dict[str, Any]]:
    return [alert for alert in cluster.prometheus.alerts()
            if (alert["labels"]["alertname"], alert["state"]) == (alertname, "firing")]  # fmt: skip


def test_the_broker_alert_fires_when_redis_dies_and_resolves_when_it_returns(
    cluster: Cluster,
) -> None:
    until(lambda: len(cluster.prometheus.query("rtbench_broker_up == 1")) == 2, 30, "brokers up")
    assert not firing(cluster, "RtbenchBrokerDown")
    port = cluster.redis.port
    cluster.redis.stop()
    fired = until(lambda: len(firing(cluster, "RtbenchBrokerDown")) == 2, 30,
                  "RtbenchBrokerDown firing on both nodes")  # fmt: skip
    delivered = until(lambda: "firing" in cluster.webhook.statuses("RtbenchBrokerDown"), 15,
                      "the firing alert at the webhook")  # fmt: skip
    cluster.redis = RedisServer(cluster.redis_binary, port=port).start()
    resolved = until(lambda: not [a for a in cluster.prometheus.alerts()
                                  if a["labels"]["alertname"] == "RtbenchBrokerDown"], 60,
                     "RtbenchBrokerDown resolved")  # fmt: skip
    until(lambda: "resolved" in cluster.webhook.statuses("RtbenchBrokerDown"), 15,
          "the resolved alert at the webhook")  # fmt: skip
    # The figures docs/monitoring.md quotes: scrape and evaluation every second, for: 5s.
    print(
        f"\nRedis killed → firing {fired:.1f} s (webhook +{delivered:.1f} s); "
        f"Redis back → resolved {resolved:.1f} s"
    )
    [alert] = [
        a
        for a in cluster.webhook.received[-1]["alerts"]
        if a["labels"]["alertname"] == "RtbenchBrokerDown"
    ][:1]
    assert alert["annotations"]["summary"].endswith(
        "check redis-server (running, memory, reachable)"
    )


def test_a_node_that_stops_is_reported_down(cluster: Cluster) -> None:
    stopped = cluster.nodes[1]
    stopped.stop()
    until(lambda: [a for a in firing(cluster, "RtbenchNodeDown")
                   if a["labels"]["instance"] == urlsplit(stopped.url).netloc], 40,
          "RtbenchNodeDown for the stopped node")  # fmt: skip


def test_make_monitor_starts_prometheus_on_a_server_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "monitoring", "--nodes", "1", "--port",
                             str(port), "--every", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert f"Prometheus at http://127.0.0.1:{port}" in first, first + proc.stderr.read()
        url = f"http://127.0.0.1:{port}/api/v1/targets"

        def scraped() -> bool:
            targets = httpx.get(url, timeout=5).json()["data"]["activeTargets"]
            return bool(targets) and all(t["health"] == "up" for t in targets)

        until(scraped, 30, "the started server scraped")
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                  text=True).stdout.split()  # fmt: skip
        assert len(children) == 3  # the server, Alertmanager, Prometheus
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        for child in children:
            assert (
                not Path(f"/proc/{child}").exists()
                or "Z" in Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[0]
            )
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_monitored_run_is_scraped_live_and_says_so(tmp_path: Path) -> None:
    profile = tmp_path / "watched.toml"
    profile.write_text('transports = ["ws"]\n[[scenario]]\nkind = "broadcast"\nsubscribers = 10\n'
                       "rate = 20\nduration_seconds = 6\nwarmup_seconds = 1\n")  # fmt: skip
    port = free_port()
    run = subprocess.Popen([sys.executable, "-m", "scenarios.run", "--profile", str(profile),
                            "--monitor", str(port), "--out", str(tmp_path), "--run-id", "run"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)  # fmt: skip
    try:

        def scraping_the_server() -> bool:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query",
                                   params={"query": "rtbench_connections"}, timeout=2)  # fmt: skip
            except httpx.HTTPError:
                return False
            return bool(answer.json()["data"]["result"])

        until(scraping_the_server, 30, "the run's server scraped while it runs")
        _, errors = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, errors[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "Prometheus" in results["settings"]["monitored_by"]
    assert (tmp_path / "run" / "monitor" / "data").is_dir()
