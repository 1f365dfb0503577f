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


class Tool(Service):
    """A Prometheus tool on loopback, its config and data in `folder`: the config it is given
    (JSON, which is YAML), its log beside it, and ready once `/-/ready` answers."""

    name = ""
    """Its files' stem and, capitalised, how errors name it."""

    def __init__(self, binary_path: str, folder: Path, port: int | None) -> None:
        super().__init__(binary_path, port)
        self.folder = folder

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        raise NotImplementedError

    def flags(self, conf: Path) -> list[str]:
        """Its command line after the binary, reading `conf`."""
        raise NotImplementedError

    def start(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / f"{self.name}.yml"
        conf.write_text(json.dumps(self.config(), indent=1))
        self.argv = [self.binary, *self.flags(conf)]
        with (self.folder / f"{self.name}.log").open("w") as log:
            self.spawn(stdin=subprocess.DEVNULL, stdout=log.fileno(), stderr=log.fileno())
        wait_ready(self.url, self.name.capitalize())
        return self

    def get(self, path: str, **params: str) -> Any:
        """The `data` of a JSON answer of its API."""
        answer = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]


class Alertmanager(Tool):
    """Routes every alert to one receiver: a webhook (`send_resolved`), or nowhere."""

    name = "alertmanager"

    def __init__(self, folder: Path, webhook: str | None = None, port: int | None = None) -> None:
        super().__init__(binary("prometheus-alertmanager", "prometheus-alertmanager"), folder,
                         port)  # fmt: skip
        self.webhook = webhook

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

    def flags(self, conf: Path) -> list[str]:
        return [f"--config.file={conf}", f"--storage.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=", "--log.level=warn"]  # fmt: skip


class Prometheus(Tool):
    """Scrapes `targets` (host:port of rtbench servers) as job `rtbench`, every `every`
    seconds, evaluating the rules as often."""

    name = "prometheus"

    def __init__(
        self,
        folder: Path,
        targets: list[str] | None,
        every: float = 5.0,
        alertmanager: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(binary("prometheus", "prometheus"), folder, port)
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
        if self.targets is None:  # the file its config names exists from the start
            self.folder.mkdir(parents=True, exist_ok=True)
            self.write_targets()
        return super().start()

    def flags(self, conf: Path) -> list[str]:
        return [f"--config.file={conf}", f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]  # fmt: skip

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: one entry per series."""
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now."""
        found: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return found
