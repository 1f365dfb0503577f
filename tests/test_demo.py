"""The browser demo in a real headless Chromium: three panels, one room, the same wire contract.

The page runs under a strict Content-Security-Policy, so Playwright's string predicates (which
`eval`) are refused; `until` polls with `page.evaluate` instead.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from processes.server import ServerProcess
from scenarios.load.browser import CHROMIUM_ARGS
from tests.conftest import TRANSPORTS
from tests.support import PATIENCE, chromium_binary

BUFFER = 20  # a small resume buffer, so going offline long enough shows a gap notice
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "test-screenshots"
XSS = ['<img src=x onerror="window.pwned=1">', "<script>window.pwned=2</script>"]


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tmp_path_factory.mktemp("demo") / "demo.toml"
    config.write_text(f"[limits]\nbuffer_events = {BUFFER}\n")
    return config


@pytest.fixture(scope="module")
def demo_server(demo_config: Path) -> Iterator[ServerProcess]:
    with ServerProcess("all", config=demo_config) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = chromium_binary()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Demo:
    """One page of the demo on its own room, with the console watched for errors."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.base_url = base_url
        self.room = f"demo-{uuid.uuid4().hex[:10]}"
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else 0)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base_url}/demo/?room={self.room}")
        self.until("document.body.dataset.ready === 'true'")
        self.until_all_open()

    def until(self, expression: str, patience: float = PATIENCE) -> Any:
        deadline = time.monotonic() + patience
        while True:
            value = self.page.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {patience}s: {expression}")
            time.sleep(0.05)

    def until_all(self, state: str) -> None:
        self.until(
            f"[...document.querySelectorAll('.panel')].every(p => p.dataset.state === '{state}')"
        )

    def until_all_open(self) -> None:
        self.until_all("open")

    def publish(self, data: Any) -> int:
        answer = httpx.post(f"{self.base_url}/rooms/{self.room}/events", json={"data": data})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    def ids(self, transport: str) -> list[int]:
        selector = f".panel[data-transport={transport}] li.event"
        found = self.page.evaluate(
            f"[...document.querySelectorAll('{selector}')].map(li => Number(li.dataset.id))"
        )
        return [int(i) for i in found]

    def until_every_panel_has(self, last: int) -> None:
        for transport in TRANSPORTS:
            self.until(
                f"[...document.querySelectorAll('.panel[data-transport={transport}] li.event')]"
                f".some(li => li.dataset.id === '{last}')"
            )

    def click(self, transport: str, action: str) -> None:
        self.page.click(f".panel[data-transport={transport}] [data-action={action}]")

    def anomalies(self, transport: str) -> str:
        return str(
            self.page.text_content(f".panel[data-transport={transport}] [data-figure=anomalies]")
        )

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def demo(browser: Any, demo_server: ServerProcess) -> Iterator[Demo]:
    page = Demo(browser, demo_server.url)
    yield page
    page.page.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_server_serves_the_page_with_a_strict_policy(transport: str) -> None:
    with ServerProcess(transport) as server:
        page = httpx.get(f"{server.url}/demo/")
        root = httpx.get(f"{server.url}/")
        script = httpx.get(f"{server.url}/demo/demo.js")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert root.status_code == 307 and root.headers["location"] == "/demo/"
    assert script.status_code == 200
    assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", script.text)


def test_a_published_event_appears_in_all_three_panels(demo: Demo) -> None:
    demo.page.fill("#text", "hello from the page")
    demo.page.press("#text", "Enter")
    demo.until_every_panel_has(1)
    for transport in TRANSPORTS:
        assert demo.ids(transport) == [1]
        text = demo.page.text_content(f".panel[data-transport={transport}] li.event .text")
        assert text == "hello from the page"
        assert demo.anomalies(transport) == "0 · 0 · 0"
    demo.screenshot("demo-first-event")
    assert demo.errors == []


def test_markup_in_an_event_is_shown_as_text_and_never_runs(demo: Demo) -> None:
    for payload in XSS:
        demo.publish({"text": payload})
    demo.until_every_panel_has(len(XSS))
    for transport in TRANSPORTS:
        shown = demo.page.evaluate(
            f"[...document.querySelectorAll('.panel[data-transport={transport}] li.event .text')]"
            ".map(s => s.textContent)"
        )
        assert shown == XSS
    markup = demo.page.evaluate("document.querySelectorAll('#panels img, #panels script').length")
    assert markup == 0
    assert demo.page.evaluate("typeof window.pwned") == "undefined"
    assert demo.errors == []


def test_killed_and_offline_panels_resume_every_event_once_in_order(demo: Demo) -> None:
    first = demo.publish({"text": "before"})
    demo.until_every_panel_has(first)

    for transport in TRANSPORTS:
        demo.click(transport, "offline")
    demo.until_all("offline")
    while_offline = [demo.publish({"text": f"while offline {n}"}) for n in range(5)]
    for transport in TRANSPORTS:
        demo.click(transport, "offline")  # back online: resume after the last id shown
    demo.until_every_panel_has(while_offline[-1])

    for transport in TRANSPORTS:
        demo.click(transport, "kill")  # dropped, reconnects by itself with backoff
    while_reconnecting = [demo.publish({"text": f"while reconnecting {n}"}) for n in range(5)]
    demo.until_all_open()
    demo.until_every_panel_has(while_reconnecting[-1])

    expected = list(range(1, while_reconnecting[-1] + 1))
    for transport in TRANSPORTS:
        assert demo.ids(transport) == expected, transport
        assert demo.anomalies(transport) == "0 · 0 · 0", transport
        reconnects = demo.page.text_content(
            f".panel[data-transport={transport}] [data-figure=reconnects]"
        )
        assert int(str(reconnects)) >= 1
    demo.screenshot("demo-after-reconnect")
    assert demo.errors == []


def test_away_longer_than_the_buffer_shows_a_gap_notice(demo: Demo) -> None:
    for transport in TRANSPORTS:
        demo.click(transport, "offline")
    demo.until_all("offline")
    published = [demo.publish({"text": f"missed {n}"}) for n in range(BUFFER + 5)]
    for transport in TRANSPORTS:
        demo.click(transport, "offline")
    demo.until_every_panel_has(published[-1])
    for transport in TRANSPORTS:
        gap = demo.page.evaluate(
            f"(() => {{ const g = document.querySelector('.panel[data-transport={transport}] "
            "li.gap'); return g && [Number(g.dataset.gapFrom), Number(g.dataset.gapTo)]; })()"
        )
        assert gap == [1, 5], transport
        assert demo.ids(transport) == published[5:], transport
    assert demo.errors == []


def test_a_restarted_server_is_announced_and_followed(
    browser: Any, demo_config: Path, tmp_path: Path
) -> None:
    """Memory broker: a restart loses the rooms; every panel reconnects and says ids restarted."""
    server = ServerProcess("all", config=demo_config).start()
    port = int(server.url.rsplit(":", 1)[1])
    demo = Demo(browser, server.url)
    try:
        before = [demo.publish({"text": f"first life {n}"}) for n in range(3)]
        demo.until_every_panel_has(before[-1])
        assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM once it has stopped
        demo.until(
            "[...document.querySelectorAll('.panel')].every(p => p.dataset.state !== 'open')"
        )
        server = ServerProcess("all", config=demo_config, port=port).start()
        demo.until_all_open()
        after = demo.publish({"text": "second life"})
        assert after == 1
        for transport in TRANSPORTS:
            demo.until(
                f"document.querySelectorAll('.panel[data-transport={transport}] li.event')"
                f".length === {len(before) + 1}"
            )
            assert demo.ids(transport) == [*before, after]
            assert demo.page.evaluate(
                f"document.querySelector('.panel[data-transport={transport}] li.gap') "
                "?.textContent.includes('server restarted')"
            )
        demo.screenshot("demo-after-server-restart")
    finally:
        demo.page.close()
        server.stop()


def test_publishing_as_you_type_is_debounced_to_one_event_per_pause(demo: Demo) -> None:
    demo.page.check("#as-you-type")
    demo.page.type("#text", "debounced", delay=40)  # one key every 40 ms, well inside 400 ms
    demo.until_every_panel_has(1)
    demo.page.wait_for_timeout(800)  # room for a second (wrong) publish to show up
    for transport in TRANSPORTS:
        assert demo.ids(transport) == [1]
        text = demo.page.text_content(f".panel[data-transport={transport}] li.event .text")
        assert text == "debounced"
    assert demo.errors == []
