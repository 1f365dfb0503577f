"""The report's content, built once and rendered twice: Markdown and self-contained HTML."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report.charts import NAMES, PEERS, SERIES, TRANSPORTS, comparison_load, plain
from report.results import Run


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path
    caption: str


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Image] = field(default_factory=list)


def ms(us: float | None) -> str:
    return "–" if us is None else f"{us / 1000:.2f} ms"


def num(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


def us(value: float | None) -> str:
    return num(value, " µs", 1)


# -- the comparison ---------------------------------------------------------------------------


def headline(run: Run) -> Table | None:
    subscribers = comparison_load(run)
    if subscribers is None:
        return None
    rows = []
    for t in SERIES:
        step = plain(run, "broadcast", t, subscribers)
        if step is None:
            continue
        idle = max(run.of("idle", t), key=lambda s: s["connected"], default=None)
        knee = next(
            (k for k in run.of("knee", t) if k["params"]["subscribers"] == subscribers), None
        )
        b = step["bytes_per_message"]
        rows.append(
            [
                NAMES[t],
                ms(step["latency_us"]["p50"]),
                ms(step["latency_us"]["p99"]),
                f"{num(b['down'])} + {num(b['up'])}",
                num(step["server_cpu_us_per_message"], " µs", 1),
                num((idle["rss_per_connection_bytes"] or 0) / 1024, " KiB", 1) if idle else "–",
                num(knee["max_sustainable_rate"], "/s") if knee else "not run",
                f"{step['lost']} of {step['expected']:,}",
            ]
        )
    return Table(
        [
            f"transport ({subscribers} subscribers)",
            "p50",
            "p99",
            "bytes/msg (down + up)",
            "server CPU/msg",
            "RSS/idle conn",
            "knee (msg/s)",
            "lost",
        ],
        rows,
    )


@dataclass
class Claim:
    transport: str
    claim: str
    figure: str
    verdict: str


def _cmp(a: float | None, b: float | None, tolerance: float = 0.10) -> str | None:
    """'higher', 'lower' or 'same' (within tolerance), None when a figure is missing."""
    if a is None or b is None or b == 0:
        return None
    if a > b * (1 + tolerance):
        return "higher"
    if a < b * (1 - tolerance):
        return "lower"
    return "same"


def claims(run: Run) -> list[Claim]:
    subscribers = comparison_load(run)
    # Any-valued: figures come from JSON; a missing step is None and is checked before use.
    at: dict[str, Any] = {t: plain(run, "broadcast", t, subscribers) for t in TRANSPORTS}
    chat: dict[str, Any] = {t: next(iter(run.of("chat", t)), None) for t in TRANSPORTS}
    churn: dict[str, Any] = {t: next(iter(run.of("churn", t)), None) for t in TRANSPORTS}
    out: list[Claim] = []

    def fig(t: str, key: str) -> float | None:
        step = at.get(t)
        if step is None:
            return None
        if key in ("p50", "p99"):
            return step["latency_us"][key]  # type: ignore[no-any-return]
        if key == "bytes":
            b = step["bytes_per_message"]
            return None if b["down"] is None else b["down"] + b["up"]
        return step[key]  # type: ignore[no-any-return]

    def versus(t: str, key: str, fmt: Any) -> str:
        return ", ".join(
            f"{NAMES[o]} {fmt(fig(o, key))}" for o in TRANSPORTS if o != t and at.get(o)
        )

    def judge(t: str, key: str, expect: str) -> str:
        others = {o: _cmp(fig(t, key), fig(o, key)) for o in TRANSPORTS if o != t and at.get(o)}
        results = set(others.values())
        if None in results or not others:
            return "not measured in this run"
        if results == {expect}:
            return "supported"
        if results == {"same"}:
            return "no clear difference (within 10 %)"
        if expect not in results:
            return "contradicted"
        words = {"higher": "higher than", "lower": "lower than", "same": "no different from"}
        return "partly: " + "; ".join(f"{words[r]} {NAMES[o]}" for o, r in others.items() if r)

    where = f"broadcast to {subscribers} subscribers"
    if at.get("longpoll"):
        out += [
            Claim(
                "longpoll",
                "HTTP overhead on every message",
                f"{num(fig('longpoll', 'bytes'))} B/msg on the wire vs "
                f"{versus('longpoll', 'bytes', num)} ({where})",
                judge("longpoll", "bytes", "higher"),
            ),
            Claim(
                "longpoll",
                "higher latency",
                f"p99 {ms(fig('longpoll', 'p99'))} vs {versus('longpoll', 'p99', ms)}",
                judge("longpoll", "p99", "higher"),
            ),
            Claim(
                "longpoll",
                "higher server load",
                f"{us(fig('longpoll', 'server_cpu_us_per_message'))} server CPU/msg vs "
                f"{versus('longpoll', 'server_cpu_us_per_message', us)}",
                judge("longpoll", "server_cpu_us_per_message", "higher"),
            ),
            Claim(
                "longpoll",
                "universal support (any client, any proxy)",
                "a property of clients and intermediaries, not of this loopback run",
                "not measurable here",
            ),
        ]
    if at.get("sse"):
        up_sse = at["sse"]["bytes_per_message"]["up"] if at.get("sse") else None
        up_lp = at["longpoll"]["bytes_per_message"]["up"] if at.get("longpoll") else None
        native = (
            "supported"
            if up_sse is not None and up_lp and up_sse < 0.05 * up_lp
            else "not measured in this run"
            if up_lp is None
            else "contradicted"
        )
        c = churn.get("sse")
        out += [
            Claim(
                "sse",
                "native server push (no request per message)",
                f"{num(up_sse, digits=1)} B/msg client → server vs long polling "
                f"{num(up_lp, digits=1)}",
                native,
            ),
            Claim(
                "sse",
                "automatic reconnection",
                f"{c['reconnects']} forced drops resumed with Last-Event-ID: {c['lost']} lost, "
                f"{c['duplicated']} duplicated"
                if c
                else "no churn step in this run",
                (
                    "supported (resume by Last-Event-ID; the browser's own EventSource retry "
                    "is shown by the demo)"
                    if c and not c["lost"]
                    else "contradicted"
                    if c
                    else "not measured in this run"
                ),
            ),
            Claim(
                "sse",
                "server → client only",
                (
                    f"in the chat, members publish by separate POSTs: "
                    f"{num(chat['sse']['bytes_per_message']['up'], ' B', 0)}/msg up vs WebSocket "
                    f"{num(chat['ws']['bytes_per_message']['up'], ' B', 0)}/msg over its socket"
                    if chat.get("sse") and chat.get("ws")
                    else "no chat step in this run"
                ),
                "by design; its cost is measured"
                if chat.get("sse")
                else "not measured in this run",
            ),
            Claim(
                "sse",
                "text only",
                "a format property: events are UTF-8 text (binary needs base64, +33 %)",
                "not measurable here",
            ),
        ]
    if at.get("ws"):
        chat_ws, chat_sse = chat.get("ws"), chat.get("sse")
        out += [
            Claim(
                "ws",
                "bidirectional",
                (
                    f"chat members publish over the same socket: "
                    f"{num(chat_ws['bytes_per_message']['up'], ' B', 0)}/msg up, p50 "
                    f"{ms(chat_ws['latency_us']['p50'])} (SSE + POST: p50 "
                    f"{ms(chat_sse['latency_us']['p50']) if chat_sse else '–'})"
                    if chat_ws
                    else "no chat step in this run"
                ),
                "supported" if chat_ws and chat_ws["lost"] == 0 else "not measured in this run",
            ),
            Claim(
                "ws",
                "lowest latency",
                f"p50 {ms(fig('ws', 'p50'))} vs {versus('ws', 'p50', ms)}; "
                f"p99 {ms(fig('ws', 'p99'))} vs {versus('ws', 'p99', ms)}",
                judge("ws", "p50", "lower"),
            ),
            Claim(
                "ws",
                "binary and text frames",
                "this run sends text frames only",
                "not measured in this run",
            ),
            Claim(
                "ws",
                "needs a load balancer that supports upgrades",
                "a single server on loopback; the cluster run (nginx) shows it",
                "not measurable here",
            ),
        ]
    return out


# -- reference peers --------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def peers_section(run: Run) -> Section | None:
    """Our WebSocket server next to the bare websockets server and python-socketio, same load."""
    loads = sorted({s["params"]["subscribers"] for t in PEERS for s in run.of("broadcast", t)})
    if not loads:
        return None
    section = Section("Reference peers")
    section.blocks.append(
        "The same broadcast, the same driver and publisher, against servers people would choose "
        "instead: `websockets`' own asyncio server with `websockets.broadcast` (no ASGI, no "
        "framework: the floor for WebSocket fan-out in Python) and python-socketio under "
        "uvicorn, reached over its WebSocket transport and over Engine.IO long polling. Peers "
        "keep no resume buffer and no per-connection queue; our servers do (see "
        "docs/socketio.md). CPU ratios divide our WebSocket server's CPU per delivered "
        "message by the peer's."
    )
    for subscribers in loads:
        rows = []
        ours = plain(run, "broadcast", "ws", subscribers)
        for t in ("ws", *PEERS):
            step = plain(run, "broadcast", t, subscribers)
            if step is None:
                continue
            cpu = step["server_cpu_us_per_message"]
            rows.append(
                [
                    NAMES[t],
                    step["status"],
                    f"{num(step['achieved_rate'], '/s', 1)} of {num(step['nominal_rate'], '/s')}",
                    ms(step["latency_us"]["p50"]),
                    ms(step["latency_us"]["p99"]),
                    f"{num(step['bytes_per_message']['down'])} + "
                    f"{num(step['bytes_per_message']['up'])}",
                    us(cpu),
                    "–"
                    if t == "ws"
                    else ratio(ours["server_cpu_us_per_message"] if ours else None, cpu),
                ]
            )
        section.blocks.append(
            Table(
                [
                    f"server ({subscribers:,} subscribers)",
                    "status",
                    "publish rate achieved",
                    "p50",
                    "p99",
                    "bytes/msg (down + up)",
                    "server CPU/msg",
                    "our WS CPU ÷ this",
                ],
                rows,
            )
        )
    return section


# -- scale-out --------------------------------------------------------------------------------


def cluster_section(run: Run) -> Section | None:
    steps = [s for s in run.of("cluster") if s["status"] != "failed"]
    if not steps:
        return None
    rows = []
    for t in SERIES:
        mine = [s for s in steps if s["transport"] == t]
        if not mine:
            continue
        load = mine[0]["params"]["subscribers"]
        single = plain(run, "broadcast", t, load)
        one_redis = next(
            (s for s in mine if s["params"]["nodes"] == 1 and s["params"]["broker"] == "redis"),
            None,
        )
        for label, step in [("1 node, memory broker", single)] + [
            (
                f"{s['params']['nodes']} node{'s' if s['params']['nodes'] > 1 else ''}, "
                f"{s['params']['broker']}{' + nginx' if s['params']['lb'] else ''}",
                s,
            )
            for s in mine
        ]:
            if step is None:
                continue
            processes = step.get("process_cpu_us_per_message") or {}
            nodes = {k: v for k, v in processes.items() if k.startswith("node")}
            added = (
                ms(one_redis["latency_us"]["p50"] - single["latency_us"]["p50"])
                if step is one_redis and single is not None and one_redis is not None
                else ""
            )
            rows.append(
                [
                    NAMES[t],
                    label,
                    step["status"]
                    + (f" ({step['lost']:,} lost)" if step["lost"] else "")
                    + (
                        f" ({step['missed_other_nodes']:,} deliveries missed: other nodes' events)"
                        if step.get("missed_other_nodes")
                        else ""
                    ),
                    f"{num(step['achieved_rate'], '/s', 1)}",
                    ms(step["latency_us"]["p50"]),
                    ms(step["latency_us"]["p99"]),
                    added,
                    us(step["server_cpu_us_per_message"]),
                    ", ".join(f"{k} {v:.1f}" for k, v in nodes.items() if v is not None) or "",
                    us(processes.get("redis-server")) if "redis-server" in processes else "",
                    us(processes.get("nginx")) if "nginx" in processes else "",
                ]
            )
    section = Section("Scale-out: a Redis backplane behind nginx")
    section.blocks.append(
        "The same broadcast on one node (memory broker), on one node whose events go through "
        "Redis Pub/Sub (what the backplane adds), and on several nodes on Redis behind nginx "
        "(round robin, no stickiness: the resume cursor lives in the client). Every process "
        "of the cluster shares the server CPUs of the run, so on a 2-core machine a second "
        "node adds no capacity: it shows the cost of the extra hops, not a speed-up. CPU is "
        "µs per delivered message, per process. With the memory broker, nodes do not see "
        "each other's events: the lost count is the failure a backplane exists to fix."
    )
    section.blocks.append(
        Table(
            [
                "transport",
                "setup",
                "status",
                "publish rate",
                "p50",
                "p99",
                "Redis adds (p50)",
                "nodes CPU/msg",
                "per node",
                "redis-server",
                "nginx",
            ],
            rows,
        )
    )
    notes = [s["note"] for s in steps if s.get("note")]
    section.blocks.extend(notes[:3])
    return section


# -- security costs ---------------------------------------------------------------------------

KNOBS = {"auth": "JWT at every handshake", "ratelimit": "rate limits checked", "tls": "TLS"}


def security_section(run: Run) -> Section | None:
    """Each security knob against the same broadcast without it, in the same run."""
    rows = []
    for t in TRANSPORTS:
        for knob, label in KNOBS.items():
            by_load: dict[int, list[dict[str, Any]]] = {}
            for step in run.of("broadcast", t):
                p = step["params"]
                others = [k for k in ("compression", *KNOBS) if k != knob and p.get(k)]
                if p.get(knob) and not others and step["status"] != "failed":
                    by_load.setdefault(p["subscribers"], []).append(step)
            for subscribers, steps in sorted(by_load.items()):
                steps.sort(key=lambda s: s["latency_us"]["p50"] or 0)
                step = steps[(len(steps) - 1) // 2]  # the median repeat, as plain() picks
                base = plain(run, "broadcast", t, subscribers)
                if base is None:
                    continue
                cpu, base_cpu = step["server_cpu_us_per_message"], base["server_cpu_us_per_message"]
                rows.append(
                    [
                        NAMES[t],
                        f"{label} ({subscribers} subscribers)",
                        f"{ms(base['latency_us']['p50'])} → {ms(step['latency_us']['p50'])}",
                        f"{ms(base['latency_us']['p99'])} → {ms(step['latency_us']['p99'])}",
                        f"{us(base_cpu)} → {us(cpu)}",
                        "–" if cpu is None or base_cpu is None else f"{cpu - base_cpu:+.1f} µs",
                    ]
                )
        idle = {
            bool(s["params"].get("auth")): s
            for s in run.of("idle", t)
            if s.get("server_cpu_us_per_connection") is not None and not s["params"].get("tls")
        }
        if True in idle and False in idle:
            off, on = idle[False], idle[True]
            a, b = off["server_cpu_us_per_connection"], on["server_cpu_us_per_connection"]
            rows.append(
                [
                    NAMES[t],
                    f"JWT per connection ({on['connected']:,} idle)",
                    "",
                    "",
                    f"{num(a, ' µs/conn')} → {num(b, ' µs/conn')}",
                    f"{b - a:+.0f} µs/conn",
                ]
            )
    if not rows:
        return None
    section = Section("What security costs")
    section.blocks.append(
        "Each knob on vs off, same run, same load. `JWT`: the server verifies an HS256 token at "
        "every handshake (for long polling, every poll). `rate limits`: token buckets are "
        "consulted on every publish and client frame, set far above the load, so this is the "
        "cost of checking, not of refusing. `TLS`: HTTPS/WSS with a test CA. Server CPU is per "
        "delivered message (per connection for the idle rows), the median repeat when the "
        "profile repeats; /proc counts CPU in 10 ms ticks and runs on a shared VM vary, so "
        "differences of a few µs/msg are within noise (compare the plain steps' repeats)."
    )
    section.blocks.append(
        Table(["transport", "knob", "p50 off → on", "p99 off → on", "server CPU", "cost"], rows)
    )
    return section


# -- assembling -------------------------------------------------------------------------------


def build(run: Run, charts: dict[str, Path]) -> tuple[str, list[Section]]:
    d = run.data
    m, s = d["machine"], d["software"]
    title = f"rtbench — {d['profile']['name']} run {d['run_id']}"
    sections: list[Section] = []

    intro = Section("The run")
    intro.blocks.append(
        f"{d['profile']['description']} Measured on {m['cpu_model']} ({m['cores']} cores, "
        f"{m['memory_bytes'] / 2**30:.0f} GiB, Linux {m['kernel']}), {d['created']}. "
        f"Servers ran on CPU {d['pinning']['server_cpus']}, the measuring driver and publisher on "
        f"CPU {d['pinning']['driver_cpus']}"
        + (" — **shared**: figures include contention." if d["pinning"]["shared"] else ".")
    )
    failed = [st for st in d["steps"] if st.get("status") == "failed"]
    degraded = [st for st in d["steps"] if st.get("status") == "degraded"]
    if failed or degraded:
        intro.blocks.append(
            f"**{len(failed)} step(s) could not run** ("
            + ", ".join(f"`{st['id']}`: {st.get('error', '')[:80]}" for st in failed[:5])
            + f") and {len(degraded)} ran degraded (loss, errors or an undrained queue); "
            "their figures are shown as measured."
        )
    table = headline(run)
    if table:
        intro.blocks.append(table)
    sections.append(intro)

    q1 = Section("Question 1, measured")
    q1.blocks.append(
        "Each claim of the course text next to the figure from this run that bears on it. "
        "A difference within 10 % is treated as no difference; with repeats, the repeat "
        "with the median p50 stands for its step."
    )
    q1.blocks.append(
        Table(
            ["transport", "claim", "this run", "verdict"],
            [[NAMES[c.transport], c.claim, c.figure, f"**{c.verdict}**"] for c in claims(run)],
        )
    )
    sections.append(q1)
    for extra in (peers_section(run), security_section(run), cluster_section(run)):
        if extra is not None:
            sections.append(extra)

    captions = {
        "latency-cdf": "Latency distribution at the comparison fan-out (100 subscribers when "
        "the run has it), with the null-server baseline: the gap between a transport and its "
        "dotted line is the server's own share.",
        "latency-vs-subscribers": "How latency grows with fan-out at a fixed publish rate.",
        "wire-bytes": "Bytes on the wire per delivered message, from the kernel's TCP counters.",
        "server-cpu": "Server CPU per delivered message; hatched: the null server (kernel floor).",
        "driver-cpu": "What the measuring driver spends per message: when it approaches the "
        "server's, the harness is part of what is measured.",
        "rss-per-connection": "Server memory per idle subscriber connection.",
        "knee": "p99 as the offered load doubles until it leaves the bound or loses events.",
        "churn-timeline": "Deliveries through forced drops: every subscriber resumes by id.",
    }
    figures = Section("Charts")
    for name, path in charts.items():
        figures.blocks.append(Image(path, captions.get(name, name)))
    sections.append(figures)

    read = Section("How to read this")
    read.blocks += [
        "**Latency** is the time from the publisher's *scheduled* send time to the subscriber "
        "reading the event (open loop: a slow server cannot hide its delay by slowing the "
        "publisher). Percentiles come from every raw sample (HdrHistogram, 3 digits).",
        "**Bytes per message** count everything on the client sockets (HTTP headers, chunk and "
        "frame overhead, polls, handshakes) divided by delivered messages.",
        "**CPU per message** is user + system time of the process over the measured phase "
        "(10 ms clock ticks), divided by measured deliveries. **The harness baseline** (null "
        "server) shows what the driver, publisher and kernel account for by themselves.",
        "**Status**: *ok* means nothing lost, duplicated or left undelivered, and the publisher "
        "achieved at least 95 % of its nominal rate; *degraded* means the step ran but "
        "something was lost or the server could not keep up (then its latency is that of an "
        "overloaded server).",
    ]
    sections.append(read)

    again = Section("How to reproduce")
    packages = ", ".join(f"{k} {v}" for k, v in s["packages"].items() if v)
    again.blocks += [
        f"Command: `{d.get('command', 'python -m scenarios.run')}` (or `make bench "
        f"PROFILE={d['profile']['name']}`), git commit `{s['git'].get('commit')}`"
        + (" (with uncommitted changes)" if s["git"].get("dirty") else "")
        + ".",
        f"Python {s['python']}; {packages}. Broker: {d['settings']['broker']}; driver: "
        f"{d['settings']['driver']}.",
    ]
    sections.append(again)
    return title, sections


# -- rendering --------------------------------------------------------------------------------


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("|" + "---|" * len(block.headers))
                lines += [
                    "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                    for row in block.rows
                ]
            elif isinstance(block, Image):
                lines.append(f"![{block.caption}]({block.path.relative_to(base)})")
                lines.append(f"*{block.caption}*")
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 980px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; width: 100%; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.5em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } code { background: #f3f3f3; padding: 0 3px; }
"""


def _inline(text: str) -> str:
    """Escape, then the two Markdown marks the report uses: **bold** and `code`."""
    out, parts = [], html.escape(text).split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def to_html(title: str, sections: list[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{_inline(h)}</th>" for h in block.headers)
                rows = "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                    for row in block.rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif isinstance(block, Image):
                data = base64.b64encode(block.path.read_bytes()).decode()
                body.append(
                    f'<figure><img alt="{html.escape(block.caption)}" '
                    f'src="data:image/png;base64,{data}">'
                    f"<figcaption>{_inline(block.caption)}</figcaption></figure>"
                )
            else:
                body.append(f"<p>{_inline(block)}</p>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
