"""A real Prometheus and Alertmanager on loopback, configured by the harness: Prometheus scrapes
rtbench servers' `/metrics`, evaluates `monitoring/rules/` (recording rules and alerts) and sends
alerts to Alertmanager, which routes them to a webhook when one is given.

Both are Debian's packages (`scripts/system-deps`), started as children of the harness in a
folder of their own and stopped with it; neither starts as a service of the machine."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Self

import httpx

from processes.services import Service, find_binary

RULES = Path(__file__).resolve().parent / "rules"
RULE_FILES = (RULES / "recording.yml", RULES / "alerts.yml")


class MissingTool(RuntimeError):
    pass


def binary(name: str, package: str) -> str:
    found = find_binary(name)
    if found is None:
        raise MissingTool(f"expected {name} on this machine, got none (scripts/system-deps "
                          f"installs {package})")  # fmt: skip
    return found


def wait_ready(url: str, what: str, patience: float = 30.0) -> None:
    """Until `url/-/ready` answers 200 (Prometheus and Alertmanager both serve it)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"expected {what} ready at {url} within {patience:g} s, got none")
        time.sleep(0.1)


class Alertmanager(Service):
    """Routes every alert to one receiver: a webhook (`send_resolved`), or nowhere."""

    def __init__(self, folder: Path, webhook: str | None = None, port: int | None = None) -> None:
        super().__init__(binary("prometheus-alertmanager", "prometheus-alertmanager"), port)
        self.folder = folder
        self.webhook = webhook

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        receiver: dict[str, Any] = {"name": "rtbench"}
        if self.webhook:
            receiver["webhook_configs"] = [{"url": self.webhook, "send_resolved": True}]
        return {
            # Short waits: an alert reaches the receiver a second after Prometheus sends it.
            "route": {"receiver": "rtbench", "group_by": ["alertname", "instance"],
                      "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [receiver],
        }  # fmt: skip

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / "alertmanager.yml"
        conf.write_text(json.dumps(self.config(), indent=1))  # JSON is YAML
        self.argv = [self.binary, f"--config.file={conf}",
                     f"--storage.path={self.folder / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}",
                     "--cluster.listen-address=", "--log.level=warn"]  # fmt: skip
        with (self.folder / "alertmanager.log").open("w") as log:
            self.spawn(stdin=subprocess.DEVNULL, stdout=log.fileno(), stderr=log.fileno())
        wait_ready(self.url, "Alertmanager")
        return self


class Prometheus(Service):
    """Scrapes `targets` (host:port of rtbench servers) as job `rtbench`, every `every`
    seconds, evaluating the rules as often."""

    def __init__(
        self,
        folder: Path,
        targets: list[str] | None,
        every: float = 5.0,
        alertmanager: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(binary("prometheus", "prometheus"), port)
        self.folder = folder
        self.targets = targets
        """None: the targets are `targets_file`'s, which `watch` and `unwatch` rewrite as
        servers come and go (Prometheus rereads it on change)."""
        self.every = every
        self.alertmanager = alertmanager
        self.watched: list[str] = []

    @property
    def targets_file(self) -> Path:
        return self.folder / "targets.json"

    def watch(self, target: str) -> None:
        self.watched.append(target)
        self.write_targets()

    def unwatch(self, target: str) -> None:
        if target in self.watched:
            self.watched.remove(target)
            self.write_targets()

    def write_targets(self) -> None:
        staged = self.targets_file.with_suffix(".tmp")
        staged.write_text(json.dumps([{"targets": self.watched}]))
        staged.replace(self.targets_file)  # whole, never half-written

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "global": {"scrape_interval": f"{self.every:g}s",
                       "evaluation_interval": f"{self.every:g}s"},
            "rule_files": [str(path) for path in RULE_FILES],
            "scrape_configs": [{"job_name": "rtbench", **self.target_config()}],
        }  # fmt: skip
        if self.alertmanager:
            target = self.alertmanager.removeprefix("http://")
            found["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        return found

    def target_config(self) -> dict[str, Any]:
        if self.targets is not None:
            return {"static_configs": [{"targets": self.targets}]}
        return {"file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}]}

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.targets is None:
            self.write_targets()
        conf = self.folder / "prometheus.yml"
        conf.write_text(json.dumps(self.config(), indent=1))
        self.argv = [self.binary, f"--config.file={conf}",
                     f"--storage.tsdb.path={self.folder / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]  # fmt: skip
        with (self.folder / "prometheus.log").open("w") as log:
            self.spawn(stdin=subprocess.DEVNULL, stdout=log.fileno(), stderr=log.fileno())
        wait_ready(self.url, "Prometheus")
        return self

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: one entry per series."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        answer.raise_for_status()
        result: list[dict[str, Any]] = answer.json()["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now."""
        answer = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["data"]["alerts"]
        return found
