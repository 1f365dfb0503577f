"""Verdicts on synthetic result sets whose answer is known: the rule (intervals and 10 %), the
saturated steps left out, and the words a degraded step is reported with."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from report import document, stats, verdicts
from report.results import Run

counter = itertools.count()


def step(
    transport: str,
    p50_ms: float,
    p99_ms: float | None = None,
    *,
    cpu: float = 30.0,
    subscribers: int = 100,
    rate: float = 20,
    saturated: str | None = None,
    scenario: str = "broadcast",
    **extra: Any,
) -> dict[str, Any]:
    delivered = int(subscribers * rate * 3)
    return {
        "id": f"{scenario}-{transport}-{subscribers}sub-{rate:g}hz-r{next(counter)}",
        "scenario": scenario,
        "transport": transport,
        "repeat": 1,
        "params": {"subscribers": subscribers, "rate": rate, "payload_bytes": 90},
        "status": "ok",
        "degraded_because": None,
        "nominal_rate": rate,
        "achieved_rate": rate,
        "latency_us": {"p50": p50_ms * 1000, "p99": (p99_ms or p50_ms * 2) * 1000},
        "server_cpu_us_per_message": cpu,
        "bytes_per_message": {"down": 150.0, "up": 1.0},
        "utilisation": {
            "server_core": 0.9 if saturated else 0.3,
            "driver_core": 0.3,
            "saturated_because": saturated,
        },
        "lost": 0,
        "expected": delivered,
        "delivered": delivered,
        "polls": delivered if transport == "longpoll" else 0,
        "reconnects": 0,
        **extra,
    }


def run_of(*steps: dict[str, Any]) -> Run:
    return Run(
        Path("."),
        {
            "run_id": "synthetic",
            "created": "2026-11-28T00:00:00+00:00",
            "command": "synthetic",
            "profile": {"name": "synthetic", "description": "Synthetic.", "definition": {}},
            "machine": {"cpu_model": "test CPU", "cores": 2, "memory_bytes": 2**30,
                        "kernel": "6", "virtual_machine": True, "cpus_sharing_a_core": []},
            "software": {"python": "3.11", "packages": {}, "git": {"commit": "abc"}},
            "pinning": {"server_cpus": [0], "driver_cpus": [1], "shared": False},
            "settings": {"broker": "memory", "tls": False, "driver": "lean",
                         "saturation": {"server": 0.8, "driver": 0.7, "kept_up": 0.95}},
            "steps": list(steps),
        },
    )  # fmt: skip


def claim(run: Run, transport: str, words: str) -> verdicts.Claim:
    [found] = [c for c in verdicts.claims(run) if c.transport == transport and c.claim == words]
    return found


def test_overlapping_intervals_are_no_measurable_difference() -> None:
    run = run_of(
        *(step("ws", v) for v in (2.0, 2.6, 2.2)),
        *(step("sse", v) for v in (2.4, 3.0, 2.5)),
        *(step("longpoll", v) for v in (9.0, 10.0, 11.0)),
    )
    low = claim(run, "ws", "low latency")
    # Lower than long polling, inside the noise against SSE: "low", though not "lowest".
    assert low.verdict == "supported: no transport measurably lower"
    assert "no measurable difference from Server-Sent Events" in low.reason
    assert "lower than Long polling" in low.reason
    high = claim(run, "longpoll", "higher latency")
    assert high.verdict == "supported"


def test_disjoint_intervals_within_ten_percent_are_the_same() -> None:
    a = stats.spread([100, 101, 102])
    b = stats.spread([104, 105, 106])
    assert a is not None and b is not None
    assert stats.compare(b, a) == "same"  # disjoint, but only 4 % apart
    c = stats.spread([120, 121, 122])
    assert c is not None and stats.compare(c, a) == "higher" and stats.compare(a, c) == "lower"


def test_a_claim_is_judged_on_p50_and_p99_both() -> None:
    # WebSocket's p50 is clearly lower, its p99 clearly higher: not "supported".
    run = run_of(
        *(step("ws", v, 10.0 + v) for v in (1.0, 1.1, 1.05)),
        *(step("sse", v, 5.0 + v / 10) for v in (2.0, 2.1, 2.05)),
    )
    low = claim(run, "ws", "low latency")
    assert low.verdict == "partly"
    assert "p50 lower than Server-Sent Events" in low.reason
    assert "p99 higher than Server-Sent Events" in low.reason
    assert "p50 1.05 ms [1.00–1.10]" in low.figures and "p99" in low.figures


def test_all_same_says_the_noise() -> None:
    run = run_of(*(step("ws", v) for v in (2.0, 2.5, 3.0)), *(step("sse", v) for v in (2.2, 2.6)))
    p50 = verdicts.compare_at(run, (100, 20.0), ["ws", "sse"], "p50", verdicts.p50, verdicts.fmt_ms)
    verdict, _ = verdicts.judge("ws", "lower", [p50])
    assert verdict.startswith("no measurable difference at this noise (± ")
    # The course says "low": tied with the fastest is low latency.
    low = claim(run, "ws", "low latency")
    assert low.verdict == "supported: no transport measurably lower"
    # Between runs the noise figure may move; the verdict must not.
    noisy = verdicts.Claim("ws", "x", "", "no measurable difference at this noise (± 16%)", "")
    assert noisy.outcome == "no measurable difference at this noise"


def test_saturated_steps_are_never_cited() -> None:
    run = run_of(
        *(step("ws", 50.0, subscribers=1000, rate=50, saturated="server core 99% busy")
          for _ in range(3)),
        *(step("sse", 20.0, subscribers=1000, rate=50) for _ in range(3)),
        *(step("ws", 2.0 + i / 10) for i in range(3)),
        *(step("sse", 2.0 + i / 10) for i in range(3)),
    )  # fmt: skip
    assert verdicts.comparison_load(run, ["sse", "ws"]) == (100, 20.0)
    for c in verdicts.claims(run):
        assert "1,000 subscribers" not in c.figures, c
    assert "100 subscribers × 20 msg/s" in claim(run, "ws", "low latency").figures


def test_single_runs_are_not_judged() -> None:
    run = run_of(step("ws", 1.0), step("sse", 5.0))
    assert claim(run, "ws", "low latency").verdict == "not judged"


def test_every_load_saturated_gives_no_verdict() -> None:
    run = run_of(*(step(t, 5.0, saturated="server core 95% busy") for t in ("ws", "sse")))
    assert {c.verdict for c in verdicts.claims(run)} == {"not judged"}


def test_degraded_step_reports_what_happened() -> None:
    bad = step("ws", 2.0, status="degraded", degraded_because="publisher reached 44.2 of 50/s")
    run = run_of(bad, *(step("sse", 2.0) for _ in range(2)))
    _, sections = document.build(run, {})
    text = document.to_markdown("t", sections, Path("."))
    assert f"`{bad['id']}`: publisher reached 44.2 of 50/s" in text
    assert "could not run" not in text  # nothing failed: no empty failure list
    assert text.count(bad["id"]) >= 2  # named in the intro and in the table of every step


def binary(transport: str, size: int, down: float, **extra: Any) -> dict[str, Any]:
    made = step(transport, 2.0, **extra)
    made["params"] = {**made["params"], "payload_bytes": size, "binary": True}
    made["bytes_per_message"] = {"down": down, "up": 1.0}
    return made


def test_binary_sweep_judges_text_only_and_binary_frames() -> None:
    run = run_of(
        *(step(t, 2.0) for t in ("ws", "sse") for _ in range(3)),
        *(binary("ws", 1024, 1060 + i) for i in range(3)),
        *(binary("sse", 1024, 1460 + i) for i in range(3)),
        *(binary("ws", 65536, 65578 + i) for i in range(3)),
        *(binary("sse", 65536, 87479 + i) for i in range(3)),
    )
    text = claim(run, "sse", "text only")
    assert text.verdict == "supported: binary data travels as base64 text"
    assert "at 64 KiB SSE sends 33% more than the payload" in text.reason
    frames = claim(run, "ws", "binary and text frames")
    assert frames.verdict == "supported"
    assert "1 KiB: 1,062 B [1,061–1,063]/msg (+3.7%)" in frames.figures  # down + up
    # The binary steps are not the plain comparison: the headline load stays 100 × 20.
    assert verdicts.comparison_load(run, ["ws", "sse"]) == (100, 20.0)


def test_binary_claims_without_a_sweep_say_where_it_runs() -> None:
    run = run_of(*(step(t, 2.0) for t in ("ws", "sse") for _ in range(3)))
    assert claim(run, "sse", "text only").verdict == "not measured in this run"
    frames = claim(run, "ws", "binary and text frames")
    assert "PROFILE=realworld" in frames.reason


def test_a_saturated_binary_step_is_not_cited() -> None:
    run = run_of(
        *(step(t, 2.0) for t in ("ws", "sse") for _ in range(3)),
        *(binary("ws", 65536, 65578, saturated="server core 90% busy") for _ in range(3)),
        *(binary("sse", 65536, 87479) for _ in range(3)),
    )
    assert claim(run, "sse", "text only").verdict == "not measured in this run"
    assert "saturated" in claim(run, "ws", "binary and text frames").reason


def browser_step(transport: str, **extra: Any) -> dict[str, Any]:
    made = step(transport, 3.0, scenario="browser")
    made["params"] = {"subscribers": 4, "rate": 20.0, "duration_seconds": 5.0}
    made["recovery_code_lines"] = {"longpoll": 58, "ws": 56}
    made.update(extra)
    return made


def test_eventsource_reconnection_is_judged_from_the_browser() -> None:
    reconnect = {
        "stream_max_seconds": 2.0,
        "1000": {"expected": 130, "lost": 0, "reconnects": 2, "reconnect_ms": [1007.0, 1009.0]},
        "100": {"expected": 130, "lost": 0, "reconnects": 3, "reconnect_ms": [105.0, 106.0]},
    }
    run = run_of(
        *(step(t, 2.0) for t in ("ws", "sse") for _ in range(3)),
        browser_step("sse", sse_reconnection=reconnect),
    )
    judged = claim(run, "sse", "automatic reconnection")
    assert judged.verdict == "supported"
    assert "retry: 1000 ms → reconnected after 1,008 ms [1,007–1,009]" in judged.figures
    assert "Long polling 58, WebSocket 56; EventSource: none" in judged.figures
    lost = {**reconnect, "100": {**reconnect["100"], "lost": 4}}
    run = run_of(*(step(t, 2.0) for t in ("ws", "sse")), browser_step("sse", sse_reconnection=lost))
    assert claim(run, "sse", "automatic reconnection").verdict == "contradicted"


def test_a_websocket_read_from_another_origin_is_no_same_origin_protection() -> None:
    def crossed(read: int) -> dict[str, Any]:
        outcome = "read" if read else "refused: closed 1006 before it opened"
        refused = {"outcome": "refused: closed 1006 before it opened", "events_read": 0,
                   "events_published": 3}  # fmt: skip
        return {"no_origin_check": {"outcome": outcome, "events_read": read,
                                    "events_published": 3}, "origin_checked": refused}  # fmt: skip

    plain = [step(t, 2.0) for t in ("ws", "sse")]
    run = run_of(*plain, browser_step("ws", cross_origin=crossed(3)))
    judged = claim(run, "ws", "finer-grained security")
    assert judged.verdict == "partly: per-action checks exist, but no same-origin protection"
    assert "WebSocket without an Origin check read 3 of 3 events" in judged.figures
    run = run_of(*plain, browser_step("ws", cross_origin=crossed(0)))
    assert claim(run, "ws", "finer-grained security").verdict == "not measured in this run"


def chat(transport: str, p50_ms: float) -> dict[str, Any]:
    made = step(transport, p50_ms, p50_ms * 3, scenario="chat")
    made["params"] = {"rooms": 20, "members_per_room": 10, "member_rate": 0.5}
    return made


def test_bidirectional_is_a_capability_that_only_a_slower_socket_qualifies() -> None:
    plain = [step(t, 2.0) for t in ("ws", "sse") for _ in range(3)]
    faster = run_of(*plain, *(chat("ws", v) for v in (0.9, 0.95, 1.0)),
                    *(chat("sse", v) for v in (1.2, 1.25, 1.3)))  # fmt: skip
    tied = run_of(*plain, *(chat("ws", v) for v in (1.0, 1.5, 1.2)),
                  *(chat("sse", v) for v in (1.1, 1.6, 1.3)))  # fmt: skip
    slower = run_of(*plain, *(chat("ws", v) for v in (2.0, 2.1, 2.2)),
                    *(chat("sse", v) for v in (1.5, 1.55, 1.6)))  # fmt: skip
    same = "supported: both directions on one socket, no slower than SSE + POST"
    assert claim(faster, "ws", "bidirectional").verdict == same
    assert "p50 lower than Server-Sent Events" in claim(faster, "ws", "bidirectional").reason
    assert claim(tied, "ws", "bidirectional").verdict == same
    slow = "supported, but slower here than SSE + POST"
    assert claim(slower, "ws", "bidirectional").verdict == slow
