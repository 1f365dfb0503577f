"""The run's headline: each transport's figures at the comparison load, and how noisy the
run was."""

from __future__ import annotations

from record import (
    TRANSPORTS,
    KneeStep,
    RecordedRun,
    Results,
    describe_lock,
    thresholds,
)
from record.display import num
from report import selection
from report.drawing import SERIES
from report.format import core_use, fmt_bytes, fmt_ms, fmt_us
from report.model import Section, Table
from report.selection import NAMES


def headline_load(run: RecordedRun) -> selection.Load | None:
    present = [t for t in TRANSPORTS if selection.repeats(run, "broadcast", t)]
    return selection.comparison_load(run, present) if present else None


def capacity(run: RecordedRun, transport: str, subscribers: int) -> str:
    knees = [k for k in run.knees(transport) if k["params"]["subscribers"] == subscribers]
    if not knees:
        return "not run"
    best = max(knees, key=lambda k: k.get("max_sustainable_deliveries_per_second") or 0)
    return capacity_text(best)


def capacity_text(knee: KneeStep) -> str:
    """`4,000/s`, or `≥ 16,000/s (load-generator bound)` when the sweep stopped before the
    server did: a lower bound, not a capacity to rank."""
    value = knee["max_sustainable_deliveries_per_second"]
    if not value:
        return "none"
    if not knee.get("capacity_is_lower_bound"):
        return f"{value:,.0f}/s"
    bound_by = knee.get("bound_by")
    label = {"the load generator": "load-generator bound", "the sweep's maximum":
             "the sweep's maximum"}.get(str(bound_by), "a lower bound")  # fmt: skip
    return f"≥ {value:,.0f}/s ({label})"


def headline(run: RecordedRun) -> Table | None:
    load = headline_load(run)
    if load is None:
        return None
    rows = []
    for scenario, t in [
        *(("broadcast", t) for t in SERIES),
        *(("baseline", t) for t in TRANSPORTS),
    ]:
        steps = selection.repeats(run, scenario, t, load)
        if not steps:
            continue
        idle = (
            max(run.idles(t), key=lambda s: s["connected"], default=None)
            if scenario == "broadcast"
            else None
        )
        flag = "; ".join(sorted({f for s in steps if (f := selection.saturated(s))}))
        status = ", ".join(sorted({s["status"] for s in steps}))
        rows.append(
            [
                NAMES[t] if scenario == "broadcast" else f"null server ({NAMES[t]}): the floor",
                fmt_ms(selection.spread_of(steps, selection.p50)),
                fmt_ms(selection.spread_of(steps, selection.p99)),
                fmt_bytes(selection.spread_of(steps, selection.wire)),
                fmt_us(selection.spread_of(steps, selection.cpu)),
                f"{core_use(steps, 'server_core')} / {core_use(steps, 'driver_core')}",
                num((idle["rss_per_connection_bytes"] or 0) / 1024, " KiB", 1) if idle else "–",
                num(idle.get("server_cpu_us_per_connection"), " µs", 0) if idle else "–",
                capacity(run, t, load[0]) if scenario == "broadcast" else "–",
                f"{sum(s['lost'] for s in steps)} of {sum(s['expected'] for s in steps):,}",
                status + (f" — **saturated**: {flag}" if flag else ""),
            ]
        )
    return Table(
        [
            f"transport ({selection.at_text(load)}, n = repeats)",
            "p50 [interval]",
            "p99 [interval]",
            "wire bytes/msg (down + up)",
            "server CPU/msg",
            "server / driver core (max)",
            "RSS/idle conn",
            "server CPU/accepted conn",
            f"capacity (deliveries/s, p99 ≤ bound, {load[0]} subs)",
            "lost",
            "status",
        ],
        rows,
    )


def noise_note(run: RecordedRun) -> str | None:
    """The run-to-run noise this run measured at its headline load."""
    load = headline_load(run)
    if load is None:
        return None
    parts = []
    for t in SERIES:
        steps = selection.repeats(run, "broadcast", t, load)
        p50s = selection.spread_of(steps, selection.p50)
        if p50s is not None and p50s.n >= 2:
            parts.append(f"{NAMES[t]} ± {p50s.half_width:.0%} ({p50s.n} repeats)")
    if not parts:
        return None
    return (
        "Run-to-run noise of p50 at the headline load (interval half-width): "
        + "; ".join(parts)
        + "."
    )


def run_section(run: RecordedRun) -> Section:
    """Where and how the run was measured, what did not run clean, and the headline table."""
    d = run.data
    m, s = d["machine"], d["software"]
    intro = Section("The run")
    vm = m.get("virtual_machine")
    sharing = m.get("cpus_sharing_a_core")
    intro.blocks.append(
        f"{d['profile']['description']} Measured on {m['cpu_model']} ({m['cores']} cores, "
        f"{m['memory_bytes'] / 2**30:.0f} GiB, Linux {m['kernel']}"
        + (", a virtual machine" if vm else ", bare metal" if vm is False else "")
        + (
            f"; CPUs {', '.join(sharing)} are hyper-threads of one core"
            if sharing
            else "; no two CPUs share a physical core"
            if sharing is not None
            else ""
        )
        + f"), {d['created']}. {placement(d)}"
    )
    lock = s.get("lock")
    if lock is not None and lock["matches"] is False:
        intro.blocks.append(f"**Environment:** {describe_lock(s)}.")
    failed = [st for st in d["steps"] if st["result"] == "failed"]
    degraded = [st for st in d["steps"] if st.get("status") == "degraded"]
    saturated = [st for st in d["steps"] if selection.saturated(st)]
    if failed:
        intro.blocks.append(
            f"**{len(failed)} step(s) could not run**: "
            + "; ".join(f"`{st['id']}`: {st['error'][:120]}" for st in failed)
        )
    checked = d.get("thresholds") or []
    if checked:
        crossed = [found for found in checked if not thresholds.held(found)]
        intro.blocks.append(
            f"**Thresholds:** {len(checked) - len(crossed)} of {len(checked)} held"
            + (f"; **{len(crossed)} crossed** (the run exited 1)." if crossed else ".")
        )
        intro.blocks.append(Table(
            ["threshold", "figure", "steps checked", "outcome"],
            [[f"`{found['expression']}`", found["meaning"], str(found["checked_steps"]),
              thresholds.outcome(found)] for found in checked],
        ))  # fmt: skip
    if degraded:
        intro.blocks.append(
            f"**{len(degraded)} step(s) ran degraded** (figures shown as measured): "
            + "; ".join(
                f"`{st['id']}`: {st.get('degraded_because') or 'see its row'}" for st in degraded
            )
        )
    if saturated:
        limits = d["settings"].get("saturation") or {}
        intro.blocks.append(
            f"**{len(saturated)} step(s) ran saturated** (server core > "
            f"{limits.get('server', 0.8):.0%} or driver core > {limits.get('driver', 0.7):.0%} "
            "busy): their latency is queueing and their CPU/msg is a core divided by throughput, "
            "so no verdict cites them. They are listed in the last table."
        )
    table = headline(run)
    if table:
        intro.blocks.append(
            "Each figure: the median over the interleaved repeats, [min–max] below 5 repeats, "
            "[95 % bootstrap interval of the median] from 5."
        )
        intro.blocks.append(table)
    noise = noise_note(run)
    if noise:
        intro.blocks.append(noise)
    return intro


def placement(d: Results) -> str:
    """Where the server and the load ran: pinned cores, or a server the run did not start."""
    pinning = d["pinning"]
    driver = f"the measuring driver and publisher on CPU {pinning['driver_cpus']}"
    target = d["settings"].get("target")
    if target is not None:
        measured = (
            f"its CPU and memory sampled from pid {target['pid']}"
            if target["server_measured"]
            else "its CPU and memory **not measured** (no local pid given)"
        )
        url = target["url"]
        return f"The server was not started by the run: `{url}` (`--target`), {measured}; {driver}."
    shared = " — **shared**: figures include contention." if pinning["shared"] else "."
    return f"Servers ran on CPU {pinning['server_cpus']}, {driver}{shared}"
