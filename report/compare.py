"""`python -m report.compare A B`: every figure of two runs side by side, with B/A.

Steps match by id (scenario, transport and load); repeats of a step give a median and an
interval (min–max below 5 repeats, a 95 % bootstrap interval of the median from 5). The rule is
the report's own (`report.stats`): B differs from A only when the intervals do not overlap and
the medians differ by more than 10 %; otherwise the row says "within noise". With a single
repeat on either side nothing can be said about noise, and the row says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from report import stats, verdicts
from report.results import Run, UnknownResults, load
from scenarios.schema import StepResult

FIGURES: dict[str, Callable[[StepResult], float | None]] = {
    "p50 ms": lambda s: _ms(s.get("latency_us", {}).get("p50")),
    "p99 ms": lambda s: _ms(s.get("latency_us", {}).get("p99")),
    "p99.9 ms": lambda s: _ms(s.get("latency_us", {}).get("p99_9")),
    "achieved msg/s": lambda s: s.get("achieved_rate"),
    "bytes down/msg": lambda s: (s.get("bytes_per_message") or {}).get("down"),
    "bytes up/msg": lambda s: (s.get("bytes_per_message") or {}).get("up"),
    "server µs/msg": lambda s: s.get("server_cpu_us_per_message"),
    "driver µs/msg": lambda s: s.get("driver_cpu_us_per_message"),
    "lost": lambda s: s.get("lost"),
    "RSS KiB/conn": lambda s: _kib(s.get("rss_per_connection_bytes")),
    "knee msg/s": lambda s: s.get("max_sustainable_rate"),
}


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def _kib(size: float | None) -> float | None:
    return None if size is None else size / 1024


def grouped(run: Run) -> dict[str, list[StepResult]]:
    """Steps by id without the repeat suffix."""
    groups: dict[str, list[StepResult]] = {}
    for step in run.steps:
        groups.setdefault(step["id"].rsplit("-r", 1)[0], []).append(step)
    return groups


def fmt(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def compare(a: Run, b: Run) -> list[list[str]]:
    rows = []
    ga, gb = grouped(a), grouped(b)
    for step_id in [k for k in ga if k in gb]:
        for name, figure in FIGURES.items():
            va = [v for s in ga[step_id] if (v := figure(s)) is not None]
            vb = [v for s in gb[step_id] if (v := figure(s)) is not None]
            if not va or not vb:
                continue
            sa, sb = stats.spread(va), stats.spread(vb)
            assert sa is not None and sb is not None
            ratio = f"{sb.median / sa.median:.2f}×" if sa.median else "–"
            if not stats.judgeable(sa, sb):
                noise = "single sample"
            elif stats.compare(sb, sa) == "same":
                noise = f"within noise (± {stats.noise(sa, sb):.0%})"
            else:
                noise = f"**{stats.compare(sb, sa)}**"
            rows.append([step_id, name, cell(sa), cell(sb), ratio, noise])
    return rows


def cell(spread: stats.Spread) -> str:
    if spread.n < 2:
        return fmt(spread.median)
    return f"{fmt(spread.median)} [{fmt(spread.low)}–{fmt(spread.high)}] n={spread.n}"


def markdown(a: Run, b: Run) -> str:
    lines = [
        f"# rtbench — {a.data['run_id']} (A) vs {b.data['run_id']} (B)",
        "",
        f"A: {a.data['profile']['name']} on {a.data['machine']['cpu_model']}, commit "
        f"`{(a.data['software']['git'].get('commit') or '?')[:10]}`. "
        f"B: {b.data['profile']['name']} on {b.data['machine']['cpu_model']}, commit "
        f"`{(b.data['software']['git'].get('commit') or '?')[:10]}`.",
        "",
        "Median of the repeats [interval] n=repeats; B differs from A only when the intervals "
        "do not overlap and the medians differ by more than 10 %; otherwise: within noise.",
        "",
        "| step | figure | A | B | B/A | |",
        "|---|---|---|---|---|---|",
    ]
    rows = compare(a, b)
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if not rows:
        lines.append("| (no step in common) | | | | | |")
    flips = verdict_rows(a, b)
    if flips:
        changed = sum(1 for row in flips if row[-1] != "same")
        lines += [
            "",
            f"## Question 1 verdicts: {changed} of {len(flips)} changed",
            "",
            "| transport | claim | A | B | |",
            "|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in flips]
    return "\n".join(lines) + "\n"


def verdict_rows(a: Run, b: Run) -> list[list[str]]:
    """Each claim's verdict in both runs: a flip between two runs of one machine means the
    verdict rests on noise."""
    found_a = {(c.transport, c.claim): c for c in verdicts.claims(a)}
    found_b = {(c.transport, c.claim): c for c in verdicts.claims(b)}
    rows = []
    for key in [k for k in found_a if k in found_b]:
        ca, cb = found_a[key], found_b[key]
        same = ca.outcome == cb.outcome  # the noise figure may differ; the verdict may not
        rows.append([verdicts.NAMES[key[0]], key[1], ca.verdict, cb.verdict,
                     "same" if same else "**flipped**"])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m report.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", help="run folder (or results.json) A, the reference")
    parser.add_argument("b", help="run folder (or results.json) B")
    args = parser.parse_args(argv)
    try:
        a, b = load(args.a), load(args.b)
    except UnknownResults as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(a, b)
    out = b.folder / f"compare-{a.data['run_id']}.md"
    Path(out).write_text(text)
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
