"""Question 1 in a real browser, the orchestrator's side: one step per transport runs the
browser worker (`scenarios.load.browser`: headless Chromium with `fetch`, `EventSource` and
`WebSocket`) pinned to the driver core, beside extra servers for the cross-origin and
reconnection checks, and adds how many lines of the demo's code recover a connection.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processes.server import ServerProcess
from record import BrowserChecks, StepResult
from scenarios import ipc
from scenarios.kind import Kind, Parameters
from scenarios.load import browser
from scenarios.workers import WorkerFailed

if TYPE_CHECKING:
    from scenarios.fixtures import Fixtures
    from scenarios.step import Step
    from scenarios.target import Target

DEMO = Path(__file__).resolve().parents[2] / "servers" / "static" / "demo" / "demo.js"
RECOVERY = re.compile(r"retry\(|backoff|cursor|after=|Last-Event-ID")


def recovery_lines(source: str) -> dict[str, int]:
    """Lines of the demo's application code that reconnect and resume the fetch loop and the
    WebSocket: its shared `Backoff` and `Link` classes, plus the lines of each transport's
    class that retry, back off or carry the cursor. EventSource reconnects and resumes with
    none (the demo's SSE class only handles a refused stream)."""

    def block(name: str) -> list[str]:
        match = re.search(rf"\n(\s*)class {name}\b.*?\n\1}}", source, re.S)
        return [] if match is None else match.group(0).splitlines()

    def code(lines: list[str]) -> list[str]:
        return [x for x in lines if x.strip() and not x.strip().startswith(("//", "/*", "*"))]

    shared = len(code(block("Backoff"))) + len(code(block("Link")))
    own = {
        transport: len([x for x in code(block(name)) if RECOVERY.search(x)])
        for transport, name in (("longpoll", "LongPollLink"), ("ws", "WebSocketLink"))
    }
    return {transport: shared + lines for transport, lines in own.items()}


async def measure(run: Fixtures, step: Step, server: ServerProcess | Target | None) -> StepResult:
    assert isinstance(server, ServerProcess)
    p = step.params
    if browser.chromium_binary() is None:
        raise WorkerFailed("expected Debian's chromium: apt-get install chromium")
    args = [
        "--transport", step.transport,
        "--url", server.url,
        "--subscribers", str(p["subscribers"]),
        "--rate", str(p["rate"]),
        "--duration", str(p["duration_seconds"]),
    ]  # fmt: skip
    if p.get("http2"):  # the same page over HTTP/2: what multiplexing does to the limit
        args += ["--limit-only", *run.tls_args(step)]
    else:
        checked = await run.extra_server(
            step.transport, "origin-checked", 'allowed_origins = ["http://rtbench.example"]\n'
        )
        # Cross-site WebSocket hijacking needs the check off: opted into here, on purpose.
        any_origin = await run.extra_server(
            step.transport, "any-origin", 'allowed_origins = ["*"]\n'
        )
        args += ["--origin-checked-url", checked.url, "--any-origin-url", any_origin.url]
    if step.transport == "sse" and not p.get("http2"):
        for retry_ms in browser.RETRIES_MS:
            aging = await run.extra_server(
                "sse",
                f"retry-{retry_ms}",
                f"[heartbeat]\nsse_retry_ms = {retry_ms}\n"
                f"stream_max_seconds = {browser.STREAM_MAX_SECONDS}\n",
            )
            args += ["--retry-url", f"{retry_ms}={aging.url}"]
    worker = await run.worker(browser, args, "browser")
    try:
        await worker.receive(ipc.BrowserReady, 60)
        before = run.sample(server, worker, None)
        result = await worker.receive(ipc.BrowserResult, 180)
        after = run.sample(server, worker, None)
    finally:
        await worker.aclose()
        run.workers.remove(worker)
        await run.stop_extra_servers()
    lost = result["latency"]["lost"]
    checks: BrowserChecks = {}
    if "cross_origin" in result:
        checks["cross_origin"] = result["cross_origin"]
    if "sse_reconnection" in result:
        checks["sse_reconnection"] = result["sse_reconnection"]
    return {
        **step.header(),
        "result": "browser",
        "status": "degraded" if lost else "ok",
        "degraded_because": f"{lost} events lost in the browser" if lost else None,
        "chromium_version": result["chromium_version"],
        "protocol": result["protocol"],
        "latency": result["latency"],
        "connection_limit": result["connection_limit"],
        "latency_us": result["latency"]["latency_us"],
        "recovery_code_lines": recovery_lines(DEMO.read_text()),
        # Chromium and Playwright's driver inherit the worker's CPUs, renderers come and go.
        "utilisation": run.utilisation(before, after, driver_by_cpu=True),
        **checks,
    }


def summary(step: StepResult) -> str:
    if step["result"] != "browser":
        return ""
    limit = step["connection_limit"]
    p50 = step["latency_us"]["p50"]
    return (
        f"p50 {'–' if p50 is None else f'{p50 / 1000:,.2f}'} ms, browser "
        f"{step['latency']['browser_cpu_us_per_message']} µs/msg, "
        f"{limit['receiving']} of {limit['streams']} streams of one origin receive"
    )


def load_text(p: dict[str, Any]) -> str:
    over = ", HTTP/2" if p.get("http2") else ""
    return f"headless Chromium{over}, {p['subscribers']} sub × {p['rate']:g}/s"


# Headless Chromium with fetch, EventSource and WebSocket: latency and the browser's CPU, the per-
# origin connection limit, cross-origin reads, EventSource's own reconnection.
BROWSER_PARAMETERS: Parameters = {
    "subscribers": [4],
    "rate": [20.0],
    "duration_seconds": [5.0],
    # Served by hypercorn over TLS, Chromium speaking HTTP/2: latency and the limit only.
    "http2": [False],
}

KIND = Kind(
    name="browser",
    about=(
        "Headless Chromium's own clients: latency, browser CPU, the per-origin limit, cross- "
        "origin reads, EventSource's reconnection."
    ),
    parameters=BROWSER_PARAMETERS,
    measure=measure,
    load=load_text,
    summary=summary,
)
