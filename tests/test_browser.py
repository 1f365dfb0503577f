"""The browser scenario's parts against real servers: a headless Chromium page subscribes on
each transport with the web platform's own client (servers ending streams at their max age,
for EventSource's own reconnection: tests/test_max_age.py). The sync
Playwright fixture runs a loop of its own: this module's tests are all synchronous."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from processes.server import ServerProcess
from scenarios.kinds import browser as browser_kind
from scenarios.load import browser
from tests.support import chromium_binary


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    binary = chromium_binary()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=binary, headless=True, args=browser.CHROMIUM_ARGS
        )
        yield browser.Session(launched)
        launched.close()


def test_a_chromium_page_subscribes_and_receives_every_event(
    chromium: browser.Session, transport: str, server: ServerProcess, room: str
) -> None:
    publishing = browser.Publishing(server.url, room)
    with chromium.page(server.url) as page:
        subs = browser.open_subscribers(page, transport, server.url, room, 2)
        assert browser.until(lambda: browser.opened(page, subs) == 2)
        for _ in range(5):
            publishing.one(time.time_ns())
        assert browser.until(lambda: browser.received(page, subs, publishing.ids[-1]), 10)
        seen = browser.summaries(page, subs)
    publishing.close()
    for sub in seen:
        assert sub["ids"] == publishing.ids
        assert len(sub["latencies_ms"]) == 5 and all(ms > 0 for ms in sub["latencies_ms"])
    assert browser.delivery(seen, publishing.ids)["lost"] == 0


def test_the_browser_pids_are_chromium_processes_with_cpu(chromium: browser.Session) -> None:
    pids = browser.browser_pids()
    assert len(pids) >= 2  # the browser and at least one child (zygote, renderer, utility)
    assert browser.browser_cpu_ns() > 0


def test_recovery_lines_count_the_demo_code_that_reconnects() -> None:
    lines = browser_kind.recovery_lines(browser_kind.DEMO.read_text())
    assert set(lines) == {"longpoll", "ws"} and all(n > 20 for n in lines.values())
    source = """
  class Backoff {
    next() {
      return 1;
    }
  }
  class Link {
    retry(reason) {
      this.connect();
    }
  }
  class LongPollLink extends Link {
    poll() {
      // a comment is not code
      const url = `poll?after=${this.cursor}`;
      this.retry("x");
      render();
    }
  }
  class WebSocketLink extends Link {
    connect() {
      socket.onclose = () => this.retry("closed");
    }
  }
"""
    # Backoff 5 lines + Link 5 lines, then the poll's two cursor/retry lines and the socket's one.
    assert browser_kind.recovery_lines(source) == {"longpoll": 12, "ws": 11}
