"""The appendix: every step of the run, in one table."""

from __future__ import annotations

from record import (
    RecordedRun,
    Utilisation,
)
from record.display import ms, num, pct, us
from report.model import Table
from report.sections.headline import capacity_text


def every_step(run: RecordedRun) -> Table:
    """Every step that ran or failed, so nothing measured is out of sight."""
    rows = []
    for step in run.data["steps"]:
        use = step.get("utilisation", Utilisation())
        latency = step.get("latency_us")
        note = step.get("error") or step.get("degraded_because") or ""
        if use.get("saturated_because"):
            note = "; ".join(x for x in (note, f"saturated: {use['saturated_because']}") if x)
        if step["scenario"] == "knee":
            note = f"capacity {capacity_text(step)}; "
            note += step.get("stopped_because", "")
        if step["scenario"] == "idle":
            note = (
                f"{step.get('connected', 0):,} held; "
                f"{num((step.get('rss_per_connection_bytes') or 0) / 1024, ' KiB/conn', 1)}"
            )
        rows.append(
            [
                f"`{step['id']}`",
                step["status"],
                num(step.get("achieved_rate"), "/s", 1) if "achieved_rate" in step else "",
                ms(latency["p50"]) if latency else "",
                ms(latency["p99"]) if latency else "",
                us(step.get("server_cpu_us_per_message")) if "server_cpu_us_per_message" in step
                else "",
                f"{pct(use.get('server_core'))} / {pct(use.get('driver_core'))}" if use else "",
                note,
            ]
        )  # fmt: skip
    return Table(
        ["step", "status", "publish rate", "p50", "p99", "server CPU/msg", "cores", "note"],
        rows,
    )
