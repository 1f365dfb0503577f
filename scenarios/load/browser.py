"""Question 1 in a real browser: headless Chromium subscribing with the web platform's own
clients — a `fetch` loop, `EventSource` and `WebSocket` (`browser.js` beside this module).

One step per transport, in a worker process pinned to the driver core (Playwright's driver and
Chromium inherit the pinning), measuring:

- **latency and cost**: a page with a few subscribers while events are published at a steady
  rate; latency from the page's clock, the browser's CPU per message (every Chromium process,
  from `/proc`, its idle rate subtracted);
- **the HTTP/1.1 per-origin connection limit**: one page opens eight subscribers to one origin;
  how many receive, how long the others stall, and what happens when two of them close;
- **cross-origin** (cross-site WebSocket hijacking, measured): a page of another origin
  subscribes with no CORS headers on the server, then against a server whose Origin check is
  configured — what the browser blocks and what the server refuses;
- **EventSource's own reconnection** (SSE): the server ends every stream after 2 s
  (`heartbeat.stream_max_seconds`); the time until the browser reconnects by itself with
  `retry:` 1000 and 100 ms, and whether the `Last-Event-ID` it sends loses anything.

    python -m scenarios.load.browser --transport sse --url http://127.0.0.1:8000 --cpus 1
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import socket
import ssl
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from clients.stamped import payload
from core.urls import events_path
from record import TRANSPORTS, Counted, SseReconnection
from scenarios import ipc
from scenarios.measure import encode, new_histogram, record_us, schedstat_ns, summary

PAGE_PATH = "/__rtbench__/browser"
"""Where the page is served from, by Playwright's request interception: the server serves no
page of the harness's, and the page's origin is whichever the measurement needs."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # The page comes from Playwright's request interception, so Chromium cannot tell its address
    # space and treats it as public: its Local Network Access checks would then block the
    # WebSocket to 127.0.0.1. In a deployment page and server share an origin and address.
    "--disable-features=LocalNetworkAccessChecks",
]
STREAMS = 8
"""Subscribers one page opens to one origin: past Chromium's six connections per origin."""
CLOSED_AFTER = 2
"""How many of them close, to see whether the stalled ones then get through."""
STREAM_MAX_SECONDS = 2.0
RETRIES_MS = (1000, 100)
PATIENCE = 15.0


def chromium_binary() -> str | None:
    """Debian's chromium (scripts/system-deps installs it)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def page_html() -> str:
    script = (resources.files("scenarios.load") / "browser.js").read_text()
    return f"<!doctype html><meta charset=utf-8><title>rtbench</title><script>{script}</script>"


# -- the browser's processes -------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    """Every process below `root`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: the fields follow the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def browser_pids() -> list[int]:
    """This process's Chromium processes (browser, renderers, network and GPU utilities)."""
    pids = []
    for pid in descendants(os.getpid()):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("chrom"):
            pids.append(pid)
    return pids


def browser_cpu_ns() -> int:
    return sum(ns for pid in browser_pids() if (ns := schedstat_ns(pid)) is not None)


# -- publishing from the worker ----------------------------------------------------------------


class Publishing:
    """Events published at a steady rate through the server's publish API, each carrying its
    scheduled send time; the ids the server assigned are kept to judge delivery."""

    def __init__(self, url: str, room: str, ca_file: str | None = None) -> None:
        """`ca_file`: the CA to trust for an https:// server (the bench's own, HTTP/2 steps)."""
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file) if ca_file else True
        )
        self.client = httpx.Client(base_url=url, timeout=10.0, verify=verify)
        self.room = room
        self.ids: list[int] = []
        self.seq = 0

    def run(self, rate: float, seconds: float) -> None:
        start = time.monotonic()
        count = max(1, round(rate * seconds))
        for index in range(count):
            due = start + index / rate
            time.sleep(max(0.0, due - time.monotonic()))
            self.one(time.time_ns())

    def one(self, scheduled_ns: int) -> int:
        body = payload(self.seq, scheduled_ns, 90)
        self.seq += 1
        response = self.client.post(
            events_path(self.room),
            content=body,
            headers={"content-type": "application/json"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"expected 201 for a publish, got {response.status_code}")
        event_id = int(response.json()["id"])
        self.ids.append(event_id)
        return event_id

    def close(self) -> None:
        self.client.close()


def delivery(seen: list[dict[str, Any]], published: list[int]) -> Counted:
    """Expected, delivered, lost and duplicated over every subscriber of a measurement."""
    wanted = set(published)
    delivered = lost = duplicated = 0
    for sub in seen:
        ids = [i for i in sub["ids"] if i in wanted]
        delivered += len(set(ids))
        duplicated += len(ids) - len(set(ids))
        lost += len(wanted - set(ids))
    return {
        "expected": len(published) * len(seen),
        "delivered": delivered,
        "lost": lost,
        "duplicated": duplicated,
    }


# -- the measurements --------------------------------------------------------------------------


class Session:
    """One Chromium, pages opened on any origin with the measurement page."""

    def __init__(self, browser: Any, ca_file: str | None = None) -> None:
        self.browser = browser
        self.html = page_html()
        self.ca_file = ca_file
        """The bench's own test CA over HTTPS (HTTP/2 steps): the pages accept its
        certificates and the publisher trusts it."""

    def publishing(self, url: str, room: str) -> Publishing:
        return Publishing(url, room, self.ca_file)

    @contextmanager
    def page(self, origin: str) -> Iterator[Any]:
        context = self.browser.new_context(ignore_https_errors=self.ca_file is not None)
        page = context.new_page()
        page.route(f"{origin}{PAGE_PATH}", self.fulfil)
        page.goto(f"{origin}{PAGE_PATH}")
        try:
            yield page
        finally:
            context.close()

    def fulfil(self, route: Any) -> None:
        route.fulfill(status=200, content_type="text/html", body=self.html)


def until(check: Callable[[], bool], patience: float = PATIENCE) -> bool:
    deadline = time.monotonic() + patience
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def open_subscribers(page: Any, transport: str, url: str, room: str, count: int) -> list[int]:
    indices: list[int] = page.evaluate(
        "([t, u, r, n]) => rt.open(t, u, r, n)", [transport, url, room, count]
    )
    return indices


def summaries(page: Any, indices: list[int]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("(i) => rt.summary(i)", indices)
    return found


def opened(page: Any, indices: list[int]) -> int:
    count: int = page.evaluate("(i) => rt.opened(i)", indices)
    return count


def received(page: Any, indices: list[int], event_id: int) -> bool:
    return all(event_id in sub["ids"] for sub in summaries(page, indices))


def settled(page: Any, indices: list[int]) -> bool:
    return all(sub["outcome"] != "pending" for sub in summaries(page, indices))


def latency(session: Session, transport: str, url: str, subscribers: int, rate: float,
            seconds: float) -> dict[str, Any]:  # fmt: skip
    """Latency and the browser's CPU per message, a few subscribers on one page."""
    room = f"browser-{uuid.uuid4().hex[:10]}"
    publishing = session.publishing(url, room)
    with session.page(url) as page:
        subs = open_subscribers(page, transport, url, room, subscribers)
        if not until(lambda: opened(page, subs) == subscribers):
            raise RuntimeError(f"expected {subscribers} subscribers open, got fewer in {PATIENCE}s")
        time.sleep(2.0)  # the browser's start-up work is not the idle rate
        idle_start, idle_ns = time.monotonic(), browser_cpu_ns()
        time.sleep(2.0)
        idle_rate = (browser_cpu_ns() - idle_ns) / (time.monotonic() - idle_start)
        window_start, window_ns = time.monotonic(), browser_cpu_ns()
        publishing.run(rate, seconds)
        time.sleep(0.3)  # the last events land; asking the page (below) costs the browser CPU
        window = time.monotonic() - window_start
        used_ns = browser_cpu_ns() - window_ns
        last = publishing.ids[-1]
        until(lambda: received(page, subs, last), 5.0)
        seen = summaries(page, subs)
    publishing.close()
    histogram = new_histogram()
    for sub in seen:
        for ms in sub["latencies_ms"]:
            record_us(histogram, ms * 1000)
    counts = delivery(seen, publishing.ids)
    delivered = max(1, counts["delivered"])
    return {
        **counts,
        "subscribers": subscribers,
        "rate": rate,
        "seconds": seconds,
        "latency_us": summary(histogram),
        "histogram": encode(histogram),
        "browser_cpu_us_per_message": round((used_ns - idle_rate * window) / delivered / 1000, 1),
        "browser_cpu_us_per_message_with_idle": round(used_ns / delivered / 1000, 1),
        "browser_idle_cpu_share": round(idle_rate / 1e9, 4),
        "browser_processes": len(browser_pids()),
    }


def connection_limit(session: Session, transport: str, url: str) -> dict[str, Any]:
    """Eight subscribers of one page to one origin: who receives, who stalls, and what two of
    them closing does for the rest."""
    room = f"limit-{uuid.uuid4().hex[:10]}"
    publishing = session.publishing(url, room)
    with session.page(url) as page:
        subs = open_subscribers(page, transport, url, room, STREAMS)
        time.sleep(1.5)
        publishing.run(10, 2.0)
        time.sleep(0.5)
        before = summaries(page, subs)
        receiving = [i for i, s in zip(subs, before, strict=True) if s["ids"]]
        stalled = [i for i in subs if i not in receiving]
        closing = receiving[:CLOSED_AFTER]
        closed_at: float = page.evaluate("(i) => rt.close(i)", closing)
        publishing.run(10, 2.0)
        time.sleep(0.5)
        after = summaries(page, stalled)
    publishing.close()
    through = [s for s in after if s["first"] is not None]
    return {
        "streams": STREAMS,
        "receiving": len(receiving),
        "stalled": len(stalled),
        "closed": len(closing),
        "stalled_received_after_close": len(through),
        "stall_ms": [round(s["first"] - s["created"], 1) for s in through],
        "after_close_ms": [round(s["first"] - closed_at, 1) for s in through],
        "watched_seconds": 6.5,
    }


PROTOCOL_JS = """async () => {
  const response = await fetch("/healthz", { cache: "no-store" });
  await response.text();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const entry = performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/healthz"));
  return entry.length ? entry[entry.length - 1].nextHopProtocol || "unknown" : "unknown";
}"""


def protocol(session: Session, url: str) -> str:
    """The protocol Chromium speaks to `url` (`h2`, `http/1.1`), from Resource Timing."""
    with session.page(url) as page:
        found: str = page.evaluate(PROTOCOL_JS)
    return found


def cross_origin(session: Session, transport: str, targets: dict[str, str]) -> dict[str, Any]:
    """A page of another origin (another port of 127.0.0.1) subscribes to each target server:
    what the browser lets the page read."""
    with socket.socket() as probe:  # a port nobody serves: the page's origin, never contacted
        probe.bind(("127.0.0.1", 0))
        foreign = f"http://127.0.0.1:{probe.getsockname()[1]}"
    found: dict[str, Any] = {"page_origin": foreign}
    with session.page(foreign) as page:
        for name, url in targets.items():
            room = f"origin-{uuid.uuid4().hex[:10]}"
            subs = open_subscribers(page, transport, url, room, 1)
            until(functools.partial(settled, page, subs), 5.0)
            publishing = session.publishing(url, room)
            for _ in range(3):
                publishing.one(time.time_ns())
            time.sleep(1.0)
            [sub] = summaries(page, subs)
            publishing.close()
            page.evaluate("(i) => rt.close(i)", subs)
            found[name] = {
                "outcome": sub["outcome"],
                "events_read": len(sub["ids"]),
                "events_published": 3,
                "close_code": sub["close_code"],
            }
    return found


def sse_reconnection(session: Session, urls: dict[int, str]) -> SseReconnection:
    """The server ends each stream after STREAM_MAX_SECONDS; EventSource reconnects by itself
    after the server's `retry:`, sending Last-Event-ID."""
    found: SseReconnection = {"stream_max_seconds": STREAM_MAX_SECONDS, "by_retry_ms": {}}
    for retry_ms, url in urls.items():
        room = f"retry-{uuid.uuid4().hex[:10]}"
        publishing = session.publishing(url, room)
        with session.page(url) as page:
            subs = open_subscribers(page, "sse", url, room, 1)
            until(functools.partial(settled, page, subs))
            publishing.run(20, 3 * STREAM_MAX_SECONDS + 0.5)
            until(functools.partial(received, page, subs, publishing.ids[-1]), 5.0)
            [sub] = summaries(page, subs)
        publishing.close()
        gaps = [
            round(opened - ended, 1)
            for ended, opened in zip(sub["errors"], sub["opens"][1:], strict=False)
        ]
        found["by_retry_ms"][str(retry_ms)] = {
            **delivery([sub], publishing.ids),
            "reconnects": len(sub["opens"]) - 1,
            "reconnect_ms": gaps,
            "reconnect_median_ms": round(statistics.median(gaps), 1) if gaps else None,
        }
    return found


# -- the worker --------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> None:
    chromium = chromium_binary()
    if chromium is None:
        raise SystemExit("expected Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        session = Session(browser, ca_file=args.tls_ca)
        ipc.emit({"event": "ready", "chromium": chromium, "version": browser.version})
        result: dict[str, Any] = {"chromium_version": browser.version}
        result["protocol"] = protocol(session, args.url)
        result["latency"] = latency(
            session, args.transport, args.url, args.subscribers, args.rate, args.duration
        )
        result["connection_limit"] = connection_limit(session, args.transport, args.url)
        if args.limit_only:
            browser.close()
            ipc.emit({"event": "result", **result})
            return
        # The server as it ships checks Origin; the hole is shown on one that opts into it.
        targets = {"default": args.url}
        if args.any_origin_url:
            targets["no_origin_check"] = args.any_origin_url
        if args.origin_checked_url:
            targets["origin_checked"] = args.origin_checked_url
        result["cross_origin"] = cross_origin(session, args.transport, targets)
        if args.retry_url:
            urls = {int(ms): url for ms, url in (item.split("=", 1) for item in args.retry_url)}
            result["sse_reconnection"] = sse_reconnection(session, urls)
        browser.close()
    ipc.emit({"event": "result", **result})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.load.browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--transport", required=True, choices=list(TRANSPORTS))
    p.add_argument("--url", required=True, help="the server under test (same origin as the page)")
    p.add_argument("--subscribers", type=int, default=4, help="per page (at most 6: one origin)")
    p.add_argument("--rate", type=float, default=20.0, help="events per second while measuring")
    p.add_argument("--duration", type=float, default=5.0, help="seconds of publishing")
    p.add_argument("--origin-checked-url", help="a server with an allowed-origins list")
    p.add_argument(
        "--any-origin-url",
        help='a server configured with allowed_origins = ["*"]: the Origin check turned off',
    )
    p.add_argument("--tls-ca", metavar="PEM", help="CA to trust for an https:// server")
    p.add_argument(
        "--limit-only",
        action="store_true",
        help="latency and the per-origin limit only (the HTTP/2 steps)",
    )
    p.add_argument(
        "--retry-url",
        action="append",
        metavar="MS=URL",
        help="an SSE server ending streams every 2 s whose retry: is MS (repeatable)",
    )
    p.add_argument("--cpus", type=str, default="")
    return p


def run() -> None:
    args = parser().parse_args()
    if not 1 <= args.subscribers <= 6:
        raise SystemExit(f"expected --subscribers in 1..6 (one origin), got {args.subscribers}")
    ipc.pin({int(c) for c in args.cpus.split(",") if c})
    main(args)


if __name__ == "__main__":
    run()
