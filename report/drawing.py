"""The charts' one style: a colour per transport, units on every axis, the run's machine and
commit in every caption."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from record import PEERS, TRANSPORTS, RecordedRun

__all__ = ["COLORS", "SERIES", "caption", "finish", "plt"]

COLORS = {
    "longpoll": "#c8553d",
    "sse": "#e2a03f",
    "ws": "#2a7f8f",
    "null": "#7a7a7a",
    "bare-ws": "#3b4cc0",
    "picows": "#1b9e77",
    "socketio-ws": "#8e44ad",
    "socketio-polling": "#c39bd3",
    "nchan-longpoll": "#8c564b",
    "nchan-sse": "#bcbd22",
    "nchan-ws": "#17becf",
}

"""Reference peers (the `peers` package): shown next to ours, styled apart (dash-dot)."""
SERIES = TRANSPORTS + PEERS

plt.rcParams.update(
    {
        "figure.dpi": 110,
        "font.size": 9.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "axes.titleweight": "bold",
        "legend.frameon": False,
    }
)


def caption(run: RecordedRun) -> str:
    m, s = run.data["machine"], run.data["software"]
    pin = run.data["pinning"]
    commit = (s["git"].get("commit") or "unknown")[:10]
    return (
        f"{run.data['profile']['name']} run {run.data['run_id']} · {m['cpu_model']}, "
        f"{m['cores']} cores · server CPU {pin['server_cpus']}, driver CPU {pin['driver_cpus']}"
        f"{' (shared)' if pin['shared'] else ''} · Python {s['python']} · commit {commit}"
    )


def finish(fig: Figure, run: RecordedRun, path: Path) -> Path:
    fig.text(0.01, 0.005, caption(run), fontsize=7, color="#666666", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path
