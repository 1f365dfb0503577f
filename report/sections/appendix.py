"""The report's closing sections: the charts, how to read the figures, how to reproduce the
run, and every step of it."""

from __future__ import annotations

from pathlib import Path

from record import RecordedRun, describe_lock
from report.model import Image, Section
from report.sections.steps import every_step

CAPTIONS = {
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
    "soak": "The server's RSS and open file descriptors through the soak.",
}


def charts_section(charts: dict[str, Path]) -> Section:
    figures = Section("Charts")
    for name, path in charts.items():
        figures.blocks.append(Image(path, CAPTIONS.get(name, name)))
    return figures


def reading_section() -> Section:
    read = Section("How to read this")
    read.blocks += [
        "**Latency** is the time from the publisher's *scheduled* send time to the subscriber "
        "reading the event (open loop: a slow server cannot hide its delay by slowing the "
        "publisher). Percentiles come from every raw sample (HdrHistogram, 3 digits).",
        "**Bytes per message** count everything on the client sockets (HTTP headers, chunk and "
        "frame overhead, polls, handshakes) divided by delivered messages.",
        "**CPU per message** is the process's time on a CPU over the measured phase, in "
        "nanoseconds from the scheduler (`/proc/<pid>/task/*/schedstat`), divided by measured "
        "deliveries. **Core utilisation** is the CPU seconds of the processes pinned to a "
        "side's core(s) ÷ wall seconds of the measured window; past the run's thresholds a "
        "step is *saturated*. **The null server** shows what the driver, publisher and kernel "
        "account for by themselves.",
        "**Status**: *ok* means nothing lost, duplicated or left undelivered, and the publisher "
        "achieved at least 95 % of its nominal rate; *degraded* names what was not so (the "
        "publisher's achieved rate, losses, errors, an undrained queue).",
    ]
    return read


def reproduce_section(run: RecordedRun) -> Section:
    d = run.data
    s = d["software"]
    again = Section("How to reproduce")
    packages = ", ".join(f"{k} {v}" for k, v in s["packages"].items() if v)
    again.blocks += [
        f"Command: `{d.get('command', 'python -m scenarios.run')}` (or `make bench "
        f"PROFILE={d['profile']['name']}`), git commit `{s['git'].get('commit')}`"
        + (" (with uncommitted changes)" if s["git"].get("dirty") else "")
        + ".",
        f"Python {s['python']}; {packages}. Broker: {d['settings']['broker']}; driver: "
        f"{d['settings']['driver']}.",
        f"Environment: {describe_lock(s)}. `make install` recreates it; `results.json` "
        "lists every installed distribution (`software.distributions`).",
    ]
    return again


def steps_section(run: RecordedRun) -> Section:
    return Section("Every step of the run", [every_step(run)])
