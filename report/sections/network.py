"""The broadcast beyond loopback: subscribers on load hosts behind a link that limits the rate,
loses packets and adds a round trip; what each transport's tail, loss and TCP retransmissions
become."""

from __future__ import annotations

from record import DeliveryStep, LinkStep, RecordedRun
from record.display import MISSING
from report import claims, lossy, selection, verdicts
from report.format import core_use, fmt, fmt_ms
from report.model import Section, Table
from report.selection import NAMES


def network_section(run: RecordedRun) -> Section | None:
    steps = [s for s in run.links() if s["status"] != "failed"]
    if not steps:
        return None
    groups: dict[tuple[str, str, str], list[LinkStep]] = {}
    for step in steps:
        key = (step["link"]["profile"], step["transport"], variant(step))
        groups.setdefault(key, []).append(step)
    rows = [row(profile, transport, how, members)
            for (profile, transport, how), members in groups.items()]  # fmt: skip
    links = {s["link"]["profile"]: s["link"] for s in steps}
    described = "; ".join(
        f"**{name}**: {rate(link['down_kbit'])} down, {rate(link['up_kbit'])} up, "
        f"{link['loss']:.1%} loss each way, +{link['rtt_ms']:g} ms round trip"
        for name, link in links.items()
    )
    intro = (
        "The broadcast with the server on a host of its own and its subscribers on load hosts "
        "(network namespaces on one bridge), behind a link: " + described + ". The publisher "
        "is beside the server, so only the subscribers' side crosses the link. Retransmissions "
        "are the TCP segments every host sent again over the step (the kernel's counters of "
        "each namespace), per delivered message. A latency is a load host's receive time "
        "minus the publisher host's send stamp, the load host's clock corrected by its offset "
        "(an NTP-style exchange before each step); the clock column gives the largest offset "
        "and how far it may be off. Where the load hosts' links went down for a while, "
        "recovery is the longest latency minus the outage: how long after the link came back "
        "the last event it held arrived. The median over the repeats [min–max]."
    )
    headers = ["link", "transport", "p50", "p99", "p99.9", "lost", "retransmissions/msg",
               "segments/msg", "recovery", "clock offset", "server core"]  # fmt: skip
    section = Section(
        "Over a network: loss, delay and a narrow link", [intro, Table(headers, rows)]
    )
    judged = lossy.judge(run)
    if judged:
        section.blocks.append(
            "**Question 1 over a lossy link**: the items a link speaks to, each judged over "
            f"every lossy link of the run by the rule of Question 1 ({claims.RULE}); the "
            "lean drivers' broadcast on HTTP/1.1 with the link up throughout."
        )
        section.blocks.append(
            Table(verdicts.HEADERS["en"], [verdicts.row(j, "en") for j in judged])
        )
    return section


def variant(step: LinkStep) -> str:
    """How the step's subscribers came: lean drivers (over HTTP/2 or not), or Locust users."""
    if step["scenario"] == "network_locust":
        return f" (Locust chat, {step['params']['locust_workers']} workers)"
    how = " over HTTP/2" if step["params"].get("http2") else ""
    outage = step.get("outage_seconds")
    return how + (f", link down {outage:g} s" if outage else "")


def row(profile: str, transport: str, how: str, steps: list[LinkStep]) -> list[str]:
    name = NAMES.get(transport, transport) + how
    lost = sum(s.get("lost", 0) for s in steps)
    expected = sum(s.get("expected", 0) for s in steps)
    return [
        profile,
        name,
        fmt_ms(selection.spread_of(steps, selection.p50)),
        fmt_ms(selection.spread_of(steps, selection.p99)),
        fmt_ms(selection.spread_of(steps, lambda s: s["latency_us"].get("p99_9"))),
        f"{lost:,} of {expected:,}",
        fmt(selection.spread_of(steps, lossy.retransmissions), 1, "", 3),
        fmt(selection.spread_of(steps, lossy.segments), 1, "", 2),
        fmt(selection.spread_of(steps, recovery), 1, " s", 2) if recovered(steps) else MISSING,
        clock_text(steps),
        core_use(list(steps), "server_core"),
    ]


def recovery(step: DeliveryStep) -> float | None:
    return step.get("recovery_seconds") if step["result"] == "link" else None


def recovered(steps: list[LinkStep]) -> bool:
    return any("recovery_seconds" in step for step in steps)


def clock_text(steps: list[LinkStep]) -> str:
    """The largest offset any load host's clock had, ± the largest uncertainty of the step."""
    offsets = [abs(o) for s in steps for o in s.get("clock_offsets_us", [])]
    uncertainty = [u for s in steps if (u := s.get("latency_uncertainty_us")) is not None]
    if not offsets or not uncertainty:
        return MISSING
    return f"{max(offsets):,.0f} ± {max(uncertainty):,.0f} µs"


def rate(kbit: int | None) -> str:
    if kbit is None:
        return "unshaped"
    return f"{kbit / 1000:g} Mbit/s" if kbit >= 1000 else f"{kbit} kbit/s"
