"""Each transport behind nginx, a distribution's defaults against the tuned config."""

from __future__ import annotations

from record import (
    RecordedRun,
)
from record.display import num, pct
from report import selection
from report.model import Section, Table
from report.selection import NAMES, through


def proxy_section(run: RecordedRun) -> Section | None:
    found = selection.proxied(run)
    idle = run.proxy_idles()
    if not found and not idle:
        return None
    section = Section("Behind a proxy: nginx as a distribution leaves it, and tuned")
    section.blocks.append(
        "Each transport's subscribers through a real nginx; the publisher posts to the server "
        "directly. **defaults**: nginx's own defaults as a distribution's example reverse proxy "
        "leaves them (HTTP/1.0 to the upstream, no `Upgrade`/`Connection` forwarding, "
        "`proxy_buffering on`, `proxy_read_timeout 60s`). **tuned**: the cluster's "
        "configuration (upgrade forwarded, buffering off, read timeout above the heartbeat). "
        "Our SSE server sends `X-Accel-Buffering: no`, which turns nginx's buffering off for "
        "its streams; the *buffered* rows are the same server without that header."
    )
    if found:
        rows = []
        for (t, flavour, unbuffered), step in sorted(found.items()):
            use = step.get("utilisation", {})
            rows.append(
                [
                    NAMES[t],
                    flavour + ("" if unbuffered else ", SSE buffered"),
                    str(step["handshake_status"]),
                    through(step),
                    num(step.get("achieved_rate"), "/s", 1) if step["handshake_passed"] else "",
                    pct(use.get("server_core")) if use else "",
                ]
            )
        section.blocks.append(
            Table(
                [
                    "transport",
                    "nginx",
                    "subscribe answered",
                    "delivery",
                    "publish rate",
                    "server core (nginx included)",
                ],
                rows,
            )
        )
    if idle:
        rows = []
        for watched in idle:
            for stream in watched["streams"]:
                closed = stream["closed_after_seconds"]
                passed = stream["handshake_status"] in (101, 200)
                rows.append(
                    [
                        NAMES[watched["transport"]],
                        stream["nginx"],
                        f"every {watched['heartbeat_seconds']:g} s"
                        if stream["heartbeat"]
                        else "off",
                        f"{watched['read_timeout_seconds']:g} s",
                        f"refused ({stream['handshake_status']})"
                        if not passed
                        else f"closed after {closed:g} s"
                        if closed is not None
                        else f"still open after {watched['watched_seconds']:g} s",
                    ]
                )
        section.blocks.append(
            "An idle stream (nothing published) watched past the proxy's read timeout:"
        )
        section.blocks.append(
            Table(["transport", "nginx", "server heartbeat", "read timeout", "idle stream"], rows)
        )
    return section
