"""Charts over a step's time: deliveries through reconnect churn, and the server's memory
through a soak."""

from __future__ import annotations

from pathlib import Path

from record import DeliveryStep, RecordedRun, Timeline
from report.drawing import COLORS, finish, plt
from report.selection import NAMES


def churn_timeline(run: RecordedRun, path: Path) -> Path | None:
    steps = run.deliveries("churn")
    timelines: list[tuple[DeliveryStep, Timeline]] = [
        (step, found)
        for step in steps
        if (found := run.timeline(step)) is not None and found.get("delivered")
    ]
    if not timelines:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    for step, timeline in timelines:
        bucket = timeline["bucket_ms"] / 1000
        xs = [i * bucket for i in range(len(timeline["delivered"]))]
        ys = [n / bucket for n in timeline["delivered"]]
        ax.plot(
            xs,
            ys,
            color=COLORS[step["transport"]],
            linewidth=1.2,
            label=f"{NAMES[step['transport']]}: {step['reconnects']} reconnects, "
            f"{step['lost']} lost",
        )
        drops = [x for x, n in zip(xs, timeline["reconnects"], strict=True) if n]
        ax.plot(drops, [0] * len(drops), "|", color=COLORS[step["transport"]], markersize=8)
    ax.set_xlabel("time since the driver started (s); ticks on the axis: a subscriber dropped")
    ax.set_ylabel("deliveries per second")
    ax.set_title("Delivery through reconnect churn (every drop resumes by id)")
    ax.legend(fontsize=8)
    return finish(fig, run, path)


def soak(run: RecordedRun, path: Path) -> Path | None:
    """The server's RSS and open fds through each soak step."""
    steps = [s for s in run.broadcasts("soak") if "soak" in s and s["soak"].get("samples")]
    if not steps:
        return None
    with_heap = any(len(s) > 3 and s[3] for st in steps for s in st["soak"]["samples"])
    fig, axes = plt.subplots(3 if with_heap else 2, 1, figsize=(7.5, 7.5 if with_heap else 5.5),
                             sharex=True)  # fmt: skip
    rss, fds = axes[0], axes[-1]
    for step in steps:
        figures = step["soak"]
        samples = [[v or 0.0 for v in s] for s in figures["samples"]]
        xs = [sample[0] / 60 for sample in samples]
        slope = figures.get("rss_slope_mib_per_hour")
        label = NAMES[step["transport"]] + (f": {slope:+.1f} MiB/h" if slope is not None else "")
        color = COLORS[step["transport"]]
        rss.plot(xs, [s[1] / 2**20 for s in samples], color=color, label=label)
        fds.plot(xs, [s[2] for s in samples], color=color)
        if with_heap:
            heap = [
                (x, s[3] / 1000) for x, s in zip(xs, samples, strict=True) if len(s) > 3 and s[3]
            ]
            axes[1].plot([h[0] for h in heap], [h[1] for h in heap], color=color)
        for ax in axes:
            ax.axvline(figures["warmup_seconds"] / 60, color="grey", linewidth=0.8, linestyle=":")
    if with_heap:
        axes[1].set_ylabel("Python's blocks (thousands)")
    rss.set_ylabel("server RSS (MiB)")
    fds.set_ylabel("server open fds")
    fds.set_xlabel("minutes into the soak (dotted: end of the warm-up the slope excludes)")
    rss.set_title("Soak: memory and file descriptors under broadcast with churn")
    rss.legend(fontsize=8)
    return finish(fig, run, path)
