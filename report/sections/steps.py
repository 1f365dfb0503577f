"""The appendix: every step of the run, in one table."""

from __future__ import annotations

from record import LatencySummary, RecordedRun, StepResult, Utilisation, delivers
from record.display import ms, num, pct, us
from report.model import Table
from report.sections.headline import capacity_text


def every_step(run: RecordedRun) -> Table:
    """Every step that ran or failed, so nothing measured is out of sight."""
    return Table(
        ["step", "status", "publish rate", "p50", "p99", "server CPU/msg", "cores", "note"],
        [row(step) for step in run.data["steps"]],
    )


def row(step: StepResult) -> list[str]:
    use: Utilisation = {}
    latency: LatencySummary | None = None
    rate = cpu = note = ""
    if step["result"] == "failed":
        note = step["error"]
    elif step["result"] == "knee":
        note = f"capacity {capacity_text(step)}; {step['stopped_because']}"
    elif step["result"] == "idle":
        per_connection = (step["rss_per_connection_bytes"] or 0) / 1024
        note = f"{step['connected']:,} held; {num(per_connection, ' KiB/conn', 1)}"
    elif step["result"] == "browser":
        use, latency, note = step["utilisation"], step["latency_us"], step["degraded_because"] or ""
    elif step["result"] == "delay":
        use = step["utilisation"]
    elif step["result"] == "scalars":
        use, note = step.get("utilisation", use), step.get("degraded_because") or ""
    elif delivers(step):
        use, latency = step.get("utilisation", use), step.get("latency_us")
        note = step.get("degraded_because") or ""
        rate = num(step.get("achieved_rate"), "/s", 1) if "achieved_rate" in step else ""
        cpu = (
            us(step.get("server_cpu_us_per_message")) if "server_cpu_us_per_message" in step else ""
        )
    if use.get("saturated_because"):
        note = "; ".join(x for x in (note, f"saturated: {use['saturated_because']}") if x)
    return [
        f"`{step['id']}`",
        step["status"],
        rate,
        ms(latency["p50"]) if latency else "",
        ms(latency["p99"]) if latency else "",
        cpu,
        f"{pct(use.get('server_core'))} / {pct(use.get('driver_core'))}" if use else "",
        note,
    ]
