"""Time-shaped conditions: a round trip through the delay proxy, a reconnect storm, and the
soak."""

from __future__ import annotations

from record import RecordedRun, Soak, Storm
from record.display import ms, num
from report import selection
from report.model import Section, Table, explained
from report.selection import NAMES


def delay_table(run: RecordedRun) -> Table | None:
    found = selection.delayed(run)
    if not found:
        return None
    rows = []
    for (t, rtt), step in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        first = step["time_to_first_event_ms"]
        resumed = step["resume_ms"]
        by_place = step["burst_latency_ms_by_place"]
        rows.append(
            [
                NAMES[t],
                f"{rtt:g} ms",
                f"{num(step['time_to_first_event_median_ms'], ' ms', 1)}"
                + (f" [{min(first):.1f}–{max(first):.1f}]" if first else ""),
                num(by_place[0] if by_place else None, " ms", 1),
                num(step["burst_rest_median_ms"], " ms", 1),
                num(max((v for v in by_place if v is not None), default=None), " ms", 1),
                f"{num(step['resume_median_ms'], ' ms', 1)}"
                + (f" [{min(resumed):.1f}–{max(resumed):.1f}]" if resumed else ""),
            ]
        )
    return Table(
        ["transport", "RTT", "time to first event [range]", "burst: event 1",
         "events 2–10 (median)", "slowest of the burst", "resume after a drop [range]"],
        rows,
    )  # fmt: skip


def storm_table(run: RecordedRun) -> Table | None:
    rows = []
    for step in run.broadcasts("storm"):
        storm = step.get("storm", Storm())
        recovered = storm.get("recovery_seconds")
        rows.append(
            [
                NAMES[step["transport"]],
                f"{int(step['params']['subscribers']):,} within "
                f"{storm.get('within_seconds', 0):g} s",
                f"{step['reconnects']:,} ({len(step.get('reconnect_failures') or [])} failed)",
                f"{step['lost']} of {step['expected']:,}",
                ms(storm.get("p99_before_us")),
                ms(storm.get("p99_worst_us")),
                "not within the step" if recovered is None else f"{recovered:g} s",
                step["status"]
                + (
                    f" — **saturated**: {selection.saturated(step)}"
                    if selection.saturated(step)
                    else ""
                ),
            ]
        )
    if not rows:
        return None
    return Table(
        ["transport", "subscribers reconnecting", "reconnects", "lost", "p99 before",
         "worst p99 (100 ms)", "p99 back to its level after", "status"],
        rows,
    )  # fmt: skip


def soak_table(run: RecordedRun) -> Table | None:
    rows = []
    for step in run.broadcasts("soak"):
        figures = step.get("soak", Soak())
        if not figures:
            continue
        p = step["params"]
        slope = figures.get("rss_slope_mib_per_hour")
        heap = figures.get("python_blocks_slope_share_per_hour")
        freed = figures.get("cyclic_gc_freed_per_hour")
        rows.append([
            NAMES[step["transport"]],
            f"{p['subscribers']:,} × {p['rate']:g}/s, {p['churn_per_second']:g} drops/s",
            f"{float(p['duration_seconds']) / 60:g} min",
            f"{step['delivered']:,}",
            f"{step['lost']} of {step['expected']:,}",
            f"{step.get('reconnects', 0):,}",
            "–" if slope is None else f"{slope:+.2f}",
            f"{figures.get('rss_first_mib')} → {figures.get('rss_last_mib')} MiB",
            "–" if heap is None else f"{heap:+.2%} ({figures.get('python_blocks_first'):,} → "
            f"{figures.get('python_blocks_last'):,})",
            "–" if freed is None else f"{freed:,}",
            f"{figures.get('fds_min')}–{figures.get('fds_max')}",
            step["status"],
        ])  # fmt: skip
    if not rows:
        return None
    return Table(
        ["transport", "load", "length", "delivered", "lost", "reconnects",
         "RSS slope after warm-up (MiB/h)", "RSS after warm-up → end",
         "Python's blocks: slope per hour (after warm-up → end)",
         "objects freed by the cyclic GC per hour", "open fds (range)",
         "status"],
        rows,
    )  # fmt: skip


def delay_section(run: RecordedRun) -> Section | None:
    return explained(
        "At a distance: round-trip time through a delay proxy",
        "Each subscriber through `scenarios.load.delayproxy`, which holds every chunk for half "
        "the RTT in each direction (and the client's first bytes for the TCP handshake's round "
        "trip); the publisher posts to the server directly. Medians over the step's repeats. "
        "Time to first event counts the connection, the subscribe request or upgrade and the "
        "answer; a burst is ten events published back to back — a long poll answers with "
        "what it holds and pays a round trip to ask for the rest; resume is a reconnection "
        "with a cursor after a drop, an event having been published meanwhile.",
        delay_table(run),
    )


def storm_section(run: RecordedRun) -> Section | None:
    return explained(
        "Reconnect storm",
        "Every subscriber drops its connection and resumes with its cursor (`after` / "
        "`Last-Event-ID`) within the given time, while the publisher goes on. p99 is taken "
        "per 100 ms; recovery is the time from the storm's start until p99 stays within "
        "what the second before showed (its worst 100 ms, or 20 % / 5 ms above its median), "
        "three buckets running. A saturated step was already queueing before the storm.",
        storm_table(run),
    )


def soak_section(run: RecordedRun) -> Section | None:
    return explained(
        "Soak",
        "A long broadcast while subscribers drop and resume, the server's resident memory and "
        "open file descriptors sampled every few seconds. After the warm-up, the RSS slope "
        "is a least-squares fit; a server that leaks shows a slope that does not go away "
        "with a longer run, and fds that climb.",
        soak_table(run),
    )
