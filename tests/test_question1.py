"""Question 1 on synthetic result sets whose answer is known: the rule (an exact Mann–Whitney U
test and 10 %), one verdict rule for all eighteen items, the steps no verdict may cite, the
verdicts file and the compare that fails on a changed verdict."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from record import RESULTS, RecordedRun
from report import claims, document, question1, render, stats, verdicts
from report.sections import headline

counter = itertools.count()
RESULT_OF = {"broadcast": "broadcast", "chat": "chat", "proxy": "proxy", "delay": "delay",
             "browser": "browser"}  # fmt: skip


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
        "result": RESULT_OF[scenario],
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


def run_of(*steps: dict[str, Any]) -> RecordedRun:
    return RecordedRun(
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


def judged(run: RecordedRun, claim: str) -> claims.Judged:
    [found] = [j for j in question1.judge(run) if j.item.claim == claim]
    return found


def test_the_exact_test_gives_known_p_values() -> None:
    assert stats.mann_whitney_p([1, 2, 3, 4], [5, 6, 7, 8]) == 2 / 70
    assert round(stats.mann_whitney_p([1, 3, 5, 7, 9], [2, 4, 6, 8, 10]), 4) == 0.6905
    assert stats.mann_whitney_p([0, 0, 0, 0], [1, 1, 1, 1]) == 2 / 70  # ties at mid-ranks
    assert stats.mann_whitney_p([1, 1, 1], [1, 1, 1]) == 1.0


def test_three_repeats_a_side_never_differ_however_far_apart() -> None:
    assert stats.MIN_REPEATS == 4
    assert stats.judge([1, 2, 3], [10, 20, 30]).direction == "same"  # the smallest p is 0.1
    assert stats.judge([1, 2, 3, 4], [10, 20, 30, 40]).direction == "lower"


def test_a_significant_difference_within_ten_percent_is_the_same() -> None:
    a, b = [100, 101, 102, 103, 104], [106, 107, 108, 109, 110]
    found = stats.judge(b, a)
    assert found.p is not None and found.p < 0.05 and found.direction == "same"
    assert stats.judge([120, 121, 122, 123, 124], a).direction == "higher"


def test_counted_figures_are_judged_by_the_threshold_alone() -> None:
    assert stats.judge([58], [56], counted=True).direction == "same"  # 3.6 %
    assert stats.judge([0], [56], counted=True).direction == "lower"
    assert stats.judge([3], [0], counted=True).direction == "higher"
    assert stats.judge([0], [0], counted=True).direction == "same"


def test_a_figure_of_three_repeats_is_too_few_to_judge_not_a_tie() -> None:
    run = run_of(*full_steps())
    short = [s for s in run.data["steps"] if s["scenario"] != "chat"]
    chats = [s for s in run.data["steps"] if s["scenario"] == "chat"]
    kept: dict[str, int] = {}
    for s in chats:  # three repeats of each chat, per transport and workload
        key = s["transport"] + s["params"].get("workload", "chat")
        kept[key] = kept.get(key, 0) + 1
        if kept[key] <= 3:
            short.append(s)
    j = judged(run_of(*short), "ws.bidirectional")
    assert j.verdict == "not measured"
    assert "3 repeat(s) at games" in j.missing[0] and "the test needs 4" in j.missing[0]


def test_the_verdict_rule_lets_no_tie_lean() -> None:
    assert claims.verdict_of("higher", ["higher", "higher"]) == "confirmed"
    assert claims.verdict_of("higher", ["lower", "lower"]) == "refuted"
    assert claims.verdict_of("higher", ["higher", "same"]) == "inconclusive"
    assert claims.verdict_of("lower", ["lower", "same"]) == "inconclusive"
    assert claims.verdict_of("higher", ["higher", "lower"]) == "inconclusive"
    assert claims.verdict_of("lower", ["same"]) == "inconclusive"


def test_the_course_has_eighteen_items_in_its_order() -> None:
    items = question1.ITEMS
    assert len(items) == 18 and len({i.claim for i in items}) == 18
    layout = [(i.transport, i.kind) for i in items]
    for transport, advantages, limits in (("longpoll", 2, 3), ("sse", 3, 2), ("ws", 3, 2)):
        mine = [kind for t, kind in layout if t == transport]
        expected = ["advantage"] * advantages + ["limit"] * limits + ["use case"]
        assert mine == expected, transport
    assert [i.transport for i in items] == ["longpoll"] * 6 + ["sse"] * 6 + ["ws"] * 6
    for item in items:
        assert item.fr and item.en and item.because and item.against
        assert item.transport not in item.against and item.expect in ("higher", "lower")


# -- a synthetic run with every step the eighteen items read ----------------------------------

COST = {"longpoll": 90.0, "sse": 15.0, "ws": 15.5}
WIRE = {"longpoll": 380.0, "sse": 158.0, "ws": 142.0}


def broadcast_steps(subscribers: int, rate: float, n: int = 5) -> list[dict[str, Any]]:
    made = []
    for i in range(n):
        for t in ("longpoll", "sse", "ws"):
            s = step(t, 2.0 + i / 50, 5.0 + i / 20, cpu=COST[t] + i, subscribers=subscribers,
                     rate=rate)  # fmt: skip
            s["bytes_per_message"] = {"down": WIRE[t] + i, "up": 90.0 if t == "longpoll" else 1.0}
            s["latency_us"]["count"] = subscribers * rate * 2
            made.append(s)
    return made


def browser_step(transport: str, **extra: Any) -> dict[str, Any]:
    made = {k: v for k, v in step(transport, 3.0, scenario="browser").items()
            if k in RESULTS["browser"]}  # fmt: skip
    made["params"] = {"subscribers": 4, "rate": 20.0, "duration_seconds": 5.0}
    made["recovery_code_lines"] = {"longpoll": 58, "ws": 56}
    made["latency"] = {
        "expected": 400,
        "delivered": 400,
        "lost": 0,
        "duplicated": 0,
        "subscribers": 4,
        "rate": 20.0,
        "seconds": 5.0,
        "latency_us": made["latency_us"],
        "browser_cpu_us_per_message": 5000.0,
    }
    read = 3 if transport == "ws" else 0
    outcome = "read" if read else "blocked: TypeError"
    made["cross_origin"] = {
        "no_origin_check": {"outcome": outcome, "events_read": read, "events_published": 3},
    }
    if transport == "sse":
        made["sse_reconnection"] = {
            "stream_max_seconds": 2.0,
            "by_retry_ms": {
                "1000": {"expected": 130, "lost": 0, "reconnects": 2, "reconnect_ms": [1007.0]},
            },
        }
    made.update(extra)
    return made


def proxy_step(transport: str, nginx: str, i: int = 0) -> dict[str, Any]:
    passed = transport != "ws" or nginx == "tuned"
    made = step(transport, 4.0, cpu=COST[transport] * 1.5 + i, subscribers=500, rate=2,
                scenario="proxy")  # fmt: skip
    made["params"] = {"subscribers": 500, "rate": 2.0, "payload_bytes": 90, "nginx": nginx}
    made["nginx"] = nginx
    made["handshake_passed"] = passed
    made["handshake_status"] = (101 if transport == "ws" else 200) if passed else 400
    if not passed:
        for key in ("latency_us", "server_cpu_us_per_message", "delivered", "expected"):
            made.pop(key)
    return made


def delay_step(transport: str, rtt: float) -> dict[str, Any]:
    rest = rtt * 2.5 if transport == "longpoll" else rtt / 2
    return {
        "id": f"delay-{transport}-{rtt:g}ms-rtt-r{next(counter)}",
        "scenario": "delay",
        "result": "delay",
        "transport": transport,
        "repeat": 1,
        "params": {"rtt_ms": rtt, "repeats": 5, "burst": 10},
        "wall_seconds": 1.0,
        "status": "ok",
        "rtt_ms": rtt,
        "time_to_first_event_ms": [rtt * 1.5] * 5,
        "time_to_first_event_median_ms": rtt * 1.5,
        "resume_ms": [rtt * 2] * 5,
        "resume_median_ms": rtt * 2,
        "burst_latency_ms_by_place": [rtt / 2, *(rest for _ in range(9))],
        "burst_first_median_ms": rtt / 2,
        "burst_rest_ms": [rest + i for i in range(5)],
        "burst_rest_median_ms": rest + 2,
        "proxy_cpu_us_per_chunk": 50.0,
        "clients": "synthetic",
        "utilisation": {"server_core": 0.1, "driver_core": 0.1, "saturated_because": None},
    }


def binary_step(transport: str, size: int, i: int) -> dict[str, Any]:
    made = step(transport, 2.0, subscribers=50)
    made["params"] = {**made["params"], "payload_bytes": size, "binary": True}
    down = size * (1.001 if transport == "ws" else 1.335) + i
    made["bytes_per_message"] = {"down": down, "up": 1.0}
    return made


def chat_step(transport: str, i: int, workload: str = "chat") -> dict[str, Any]:
    p99_ms = {"longpoll": 30.0, "sse": 12.0, "ws": 6.0}[transport] + i / 10
    made = step(transport, p99_ms / 3, p99_ms, scenario="chat")
    made["params"] = {"rooms": 20, "members_per_room": 10, "member_rate": 0.5}
    if workload == "games":
        made["params"] = {"workload": workload, "rooms": 2, "members_per_room": 4,
                          "member_rate": 30}  # fmt: skip
    if workload == "collaboration":
        made["params"] = {"workload": workload, "rooms": 10, "members_per_room": 6,
                          "member_rate": 5, "acknowledged": True}  # fmt: skip
        made["acknowledgement_us"] = {"count": 1050, "p50": p99_ms * 300, "p99": p99_ms * 1000}
    per_message = {"longpoll": 1200.0, "sse": 320.0, "ws": 60.0}[transport] + i
    made["published"] = 480
    made["bytes_per_message"] = {"down": 200.0, "up": 30.0, "total_up": int(480 * per_message)}
    made["latency_us"]["count"] = 1500
    return made


def full_steps(**replace: dict[str, Any]) -> list[dict[str, Any]]:
    transports = ("longpoll", "sse", "ws")
    steps = [
        *broadcast_steps(100, 20),
        *broadcast_steps(1000, 4, n=4),
        *(browser_step(t) for t in transports),
        *(proxy_step(t, "defaults", i) for t in transports for i in range(4)),
        *(proxy_step(t, "tuned") for t in transports),
        *(delay_step(t, 20.0) for t in transports),
        *(binary_step(t, 16384, i) for t in transports for i in range(4)),
        *(chat_step(t, i) for t in transports for i in range(5)),
        *(chat_step(t, i, "games") for t in transports for i in range(5)),
        *(chat_step(t, i, "collaboration") for t in transports for i in range(5)),
    ]
    return [replace.get(s["id"], s) for s in steps]


def test_a_run_with_every_step_judges_all_eighteen_items_from_their_figures() -> None:
    run = run_of(*full_steps())
    by_claim = {j.item.claim: j.verdict for j in question1.judge(run)}
    assert "not measured" not in by_claim.values(), by_claim
    assert by_claim["longpoll.server_load"] == "confirmed"
    assert by_claim["longpoll.http_overhead"] == "confirmed"
    assert by_claim["longpoll.latency"] == "confirmed"
    assert by_claim["ws.low_latency"] == "confirmed"
    assert by_claim["ws.load_balancer"] == "confirmed"
    assert by_claim["ws.security"] == "confirmed"
    assert by_claim["sse.automatic_reconnection"] == "confirmed"
    assert by_claim["sse.text_only"] == "confirmed"
    # 58 lines against EventSource's none and WebSocket's 56: worse than one, tied with one.
    assert by_claim["longpoll.simple"] == "inconclusive"
    # As cheap as WebSocket, far cheaper than long polling: a tie leans neither way.
    assert by_claim["sse.broadcast"] == "inconclusive"
    # Costlier per event than SSE behind the proxy, better than a refused WebSocket.
    assert by_claim["longpoll.legacy_notifications"] == "inconclusive"
    # The figure the row prints is the figure judged.
    server_load = verdicts.row(judged(run, "longpoll.server_load"), "en")
    assert "Long polling 92.0 µs [90.0–94.0]" in server_load[3]
    assert "100 subscribers × 20 msg/s" in server_load[3]
    assert server_load[4] == "5 (bootstrap 95 %)" and server_load[6] == "**confirmed**"
    assert server_load[5] == "30\u202f% / 30\u202f%"


def test_the_fan_out_figures_come_from_the_widest_common_load() -> None:
    run = run_of(*full_steps())
    found = judged(run, "sse.broadcast").figures["fanout_server_cpu"]["sse"]
    assert isinstance(found, claims.Figure) and "1,000 subscribers × 4 msg/s" in found.where


def test_a_saturated_repeat_is_never_cited() -> None:
    steps = full_steps()
    hot = next(
        s for s in steps if s["id"].startswith("chat-ws") and s["params"].get("workload") == "games"
    )
    hot["utilisation"] = {"server_core": 0.93, "driver_core": 0.3,
                          "saturated_because": "server core 93% busy"}  # fmt: skip
    j = judged(run_of(*steps), "ws.bidirectional")
    assert j.verdict == "not measured"
    assert j.missing == [f"ws: not clean or saturated: {hot['id']}"]


def test_a_p99_needs_a_thousand_events_per_repeat() -> None:
    steps = full_steps()
    for s in steps:
        if s["scenario"] == "chat":
            s["latency_us"]["count"] = 600
    j = judged(run_of(*steps), "ws.chat_collaboration_games")
    assert j.verdict == "not measured" and "fewer than 1,000 events" in j.missing[0]
    assert len(j.missing) == 6  # chat and games; acknowledgements are counted on their own


def test_collaboration_is_judged_on_each_edits_wait_for_its_acknowledgement() -> None:
    steps = full_steps()
    j = judged(run_of(*steps), "ws.chat_collaboration_games")
    assert j.verdict == "confirmed"
    ws = j.figures["collaboration_ack_p99"]["ws"]
    assert isinstance(ws, claims.Figure) and ws.values == (6.0, 6.1, 6.2, 6.3, 6.4)
    for s in steps:
        if s["params"].get("workload") == "collaboration":
            s["acknowledgement_us"]["count"] = 900
    j = judged(run_of(*steps), "ws.chat_collaboration_games")
    assert j.verdict == "not measured"
    assert j.missing[0].startswith("ws: fewer than 1,000 acknowledgements")


def test_an_eventsource_that_lost_events_has_no_reconnection_figure() -> None:
    steps = full_steps()
    sse = next(s for s in steps if s["scenario"] == "browser" and s["transport"] == "sse")
    sse["sse_reconnection"]["by_retry_ms"]["1000"]["lost"] = 4
    j = judged(run_of(*steps), "sse.automatic_reconnection")
    assert j.verdict == "not measured" and "EventSource lost events" in j.missing[0]


def test_a_foreign_page_reading_nothing_leaves_the_security_limit_unobserved() -> None:
    steps = full_steps()
    ws = next(s for s in steps if s["scenario"] == "browser" and s["transport"] == "ws")
    ws["cross_origin"]["no_origin_check"]["events_read"] = 0
    assert judged(run_of(*steps), "ws.security").verdict == "inconclusive"


def test_a_websocket_through_default_nginx_refutes_its_proxy_limit() -> None:
    steps = full_steps()
    for s in steps:
        if s["scenario"] == "proxy" and s["transport"] == "ws":
            s.update(handshake_passed=True, delivered=3000, expected=3000)
    # Passing like the others is no limit observed; nothing goes the other way: a tie.
    assert judged(run_of(*steps), "ws.load_balancer").verdict == "inconclusive"


def test_the_verdicts_file_cites_only_steps_of_the_run(tmp_path: Path) -> None:
    run = run_of(*full_steps())
    written = question1.document(run)
    ids = {s["id"] for s in run.data["steps"]}
    assert written["schema"] == "rtbench.verdicts" and len(written["claims"]) == 18
    for claim in written["claims"]:
        assert set(claim) >= {"claim", "kind", "transport", "verdict", "steps", "n", "figures"}
        assert claim["steps"] and set(claim["steps"]) <= ids, claim["claim"]
        for figure in claim["figures"].values():
            for found in figure["transports"].values():
                assert {"median", "low", "high", "n", "interval", "steps"} <= set(found)
    json.dumps(written)  # plain JSON


def test_the_french_section_speaks_the_course_terms() -> None:
    run = run_of(*full_steps())
    _, sections = document.build(run, {}, "fr")
    text = render.to_markdown("t", sections, Path("."))
    assert "## Question 1, mesurée" in text
    assert "| avantage | Long polling | Support universel |" in text
    assert "**confirmé**" in text and "**non concluant** :" in text
    assert "Sur les 18 points du cours" in text


def write_run(folder: Path, steps: list[dict[str, Any]]) -> Path:
    import record

    data = dict(run_of(*steps).data)
    data.update(schema="rtbench.results", schema_version=record.SCHEMA_VERSION, software={
        "python": "3.11", "packages": {}, "git": {"commit": "abc"}})  # fmt: skip
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(data))
    record.read(folder)
    return folder


def test_compare_fails_and_names_a_verdict_that_changed(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", full_steps())
    b = write_run(tmp_path / "b", full_steps())
    changed = full_steps()
    for s in changed:
        if s["scenario"] == "proxy" and s["transport"] == "ws":
            s.update(handshake_passed=True, delivered=3000, expected=3000)
    c = write_run(tmp_path / "c", changed)

    def compare(x: Path, y: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "report.compare", str(x), str(y)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    same = compare(a, b)
    assert same.returncode == 0, same.stderr
    assert "## Question 1 verdicts: 0 of 18 changed" in same.stdout
    differs = compare(a, c)
    assert differs.returncode == 1
    # A WebSocket passing nginx's defaults moves its proxy limit and the notifications case.
    assert (
        "2 verdict(s) differ between the runs: longpoll.legacy_notifications, ws.load_balancer"
        in differs.stderr
    )


def test_calibration_counts_false_positives_and_changed_verdicts(tmp_path: Path) -> None:
    folder = tmp_path / "calibration"
    folder.mkdir()
    for name in ("r1", "r2", "r3"):
        write_run(folder / name, full_steps())
    (folder / "latest").symlink_to("r3")

    def calibrate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "report.calibrate", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    same = calibrate(str(folder))
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.count("| synthetic |") == 3  # three pairs, the link not counted twice
    assert "**False-positive rate: 0 of " in same.stdout and "verdicts changed: 0" in same.stdout
    changed = full_steps()
    for s in changed:
        if s["scenario"] == "proxy" and s["transport"] == "ws":
            s.update(handshake_passed=True, delivered=3000, expected=3000)
    other = write_run(tmp_path / "other", changed)
    moved = calibrate(str(folder / "r1"), str(other))
    assert moved.returncode == 1
    assert "verdicts changed: 2 (longpoll.legacy_notifications" in moved.stdout
    assert "). Failed." in moved.stdout or ". Failed." in moved.stdout


def test_degraded_step_reports_what_happened() -> None:
    bad = step("ws", 2.0, status="degraded", degraded_because="publisher reached 44.2 of 50/s")
    run = run_of(bad, *(step("sse", 2.0) for _ in range(2)))
    _, sections = document.build(run, {})
    text = render.to_markdown("t", sections, Path("."))
    assert f"`{bad['id']}`: publisher reached 44.2 of 50/s" in text
    assert "could not run" not in text  # nothing failed: no empty failure list
    assert text.count(bad["id"]) >= 2  # named in the intro and in the table of every step


def test_a_sweep_the_load_generator_ended_is_a_lower_bound_not_a_capacity() -> None:
    knee: Any = {"max_sustainable_deliveries_per_second": 16000.0}
    generator = {**knee, "capacity_is_lower_bound": True, "bound_by": "the load generator"}
    assert headline.capacity_text(generator) == "≥ 16,000/s (load-generator bound)"
    server = {**knee, "capacity_is_lower_bound": False, "bound_by": "the server"}
    assert headline.capacity_text(server) == "16,000/s"
