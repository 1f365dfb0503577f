"""`python -m report.compare A B`: every figure and every Question 1 verdict of two runs side by
side; exits 1 when a verdict differs between them, and with `--fail-on-regression 10%` when a
figure of B is worse than A's beyond both A's interval and 10 %.

Steps match by id (scenario, transport and load); repeats of a step give a median and an
interval (min–max below 5 repeats, a 95 % bootstrap interval of the median from 5). The rule is
the report's own (`report.stats`): a two-sided exact Mann–Whitney U test over the per-repeat
values at p < 0.05 and medians more than 10 % apart. Figures that move with the machine's
speed (latency, CPU per message) are judged a second time after the drift: B's values divided
by how much B's references (the null servers and the peers) moved against A's.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from record import (
    PEERS,
    TRANSPORTS,
    DeliveryStep,
    RecordedRun,
    StepResult,
    UnknownSchema,
    delivers,
    latency_of,
    load,
)
from record.display import num
from report import question1, stats, verdicts

Figure = Callable[[StepResult], float | None]


def _delivered(get: Callable[[DeliveryStep], float | None]) -> Figure:
    return lambda s: get(s) if delivers(s) else None


def _latency(percentile: Literal["p50", "p99", "p99_9"]) -> Figure:
    def ms(s: StepResult) -> float | None:
        latency = latency_of(s)
        value = latency.get(percentile) if latency else None
        return None if value is None else value / 1000

    return ms


FIGURES: dict[str, Figure] = {
    "p50 ms": _latency("p50"),
    "p99 ms": _latency("p99"),
    "p99.9 ms": _latency("p99_9"),
    "achieved msg/s": _delivered(lambda s: s.get("achieved_rate")),
    "bytes down/msg": _delivered(lambda s: (s.get("bytes_per_message") or {}).get("down")),
    "bytes up/msg": _delivered(lambda s: (s.get("bytes_per_message") or {}).get("up")),
    "server µs/msg": _delivered(lambda s: s.get("server_cpu_us_per_message")),
    "driver µs/msg": _delivered(lambda s: s.get("driver_cpu_us_per_message")),
    "lost": _delivered(lambda s: s.get("lost")),
    "RSS KiB/conn": lambda s: (
        _kib(s["rss_per_connection_bytes"]) if s["result"] == "idle" else None
    ),
    "knee msg/s": lambda s: s["max_sustainable_rate"] if s["result"] == "knee" else None,
}


WORSE_WHEN_LOWER = ("achieved msg/s", "knee msg/s")
"""Figures where less is worse; for every other figure of `FIGURES`, more is worse."""


def regressions(a: RecordedRun, b: RecordedRun, threshold: float) -> list[str]:
    """Each figure of a step both runs ran whose median in B is worse than A's beyond A's
    interval (its single value below 2 repeats) and by more than `threshold` (0.1: 10 %),
    as a line saying by how much. Zero in A and anything worse in B is a regression (a loss
    where there was none)."""
    found = []
    for step_id, name, (_, sa), (_, sb) in figure_pairs(a, b):
        lower_is_worse = name in WORSE_WHEN_LOWER
        beyond = sb.median < sa.low if lower_is_worse else sb.median > sa.high
        if not beyond:
            continue
        change = (sb.median - sa.median) / sa.median if sa.median else math.inf
        if (-change if lower_is_worse else change) > threshold:
            shown = "from 0" if math.isinf(change) else f"{change:+.0%}"
            found.append(f"{step_id} {name}: {cell(sa)} → {cell(sb)} ({shown})")
    return found


Measured = tuple[list[float], stats.Spread]


def figure_pairs(a: RecordedRun, b: RecordedRun) -> Iterator[tuple[str, str, Measured, Measured]]:
    """Each figure of each step group both runs ran, with its per-repeat values and spread in
    A and in B."""
    ga, gb = grouped(a), grouped(b)
    for step_id in [k for k in ga if k in gb]:
        for name, figure in FIGURES.items():
            va = [v for s in ga[step_id] if (v := figure(s)) is not None]
            vb = [v for s in gb[step_id] if (v := figure(s)) is not None]
            sa, sb = stats.spread(va), stats.spread(vb)
            if sa is not None and sb is not None:
                yield step_id, name, (va, sa), (vb, sb)


def percent(text: str) -> float:
    """`10%` or `10` → 0.1."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a percentage like 10%, got {text!r}")
    return value / 100


def _kib(size: float | None) -> float | None:
    return None if size is None else size / 1024


def grouped(run: RecordedRun) -> dict[str, list[StepResult]]:
    """Steps by id without the repeat suffix."""
    groups: dict[str, list[StepResult]] = {}
    for step in run.steps:
        groups.setdefault(step["id"].rsplit("-r", 1)[0], []).append(step)
    return groups


def fmt(value: float) -> str:
    """Two digits below 100, none above: a difference of 0.03 ms shows, of 0.3 B does not."""
    return num(value, digits=2 if abs(value) < 100 else 0)


DRIFTING = ("p50 ms", "p99 ms", "p99.9 ms", "server µs/msg", "driver µs/msg")
"""Figures that move with the machine's speed: judged again relative to the run itself."""


def references(run: RecordedRun) -> dict[str, list[StepResult]]:
    """The in-run references: the null servers and the reference peers, by step group."""
    return {
        group: steps
        for group, steps in grouped(run).items()
        if steps[0]["scenario"] == "baseline" or steps[0]["transport"] in PEERS
    }


def drift(a: RecordedRun, b: RecordedRun) -> dict[str, tuple[float, int]]:
    """Per drifting figure, the median over the reference steps both runs share of B's median
    over A's, and how many references that is: how much faster or slower the machine was."""
    ra, rb = references(a), references(b)
    found: dict[str, tuple[float, int]] = {}
    for name in DRIFTING:
        figure = FIGURES[name]
        ratios = []
        for group in [g for g in ra if g in rb]:
            va = [v for s in ra[group] if (v := figure(s)) is not None]
            vb = [v for s in rb[group] if (v := figure(s)) is not None]
            if va and vb and statistics.median(va) > 0:
                ratios.append(statistics.median(vb) / statistics.median(va))
        if ratios:
            found[name] = (statistics.median(ratios), len(ratios))
    return found


def relative(run: RecordedRun, name: str) -> dict[str, list[float]]:
    """Per step group, each repeat's figure divided by the geometric mean of the same figure
    of our transports in the same repeat of the same step: what is left once whatever the
    machine did to that moment of the run is divided out. The machine drifts within a run
    as well as between runs, and the repeats of one step are the only figures measured at
    the same moment (transports interleaved). Groups with one transport have none."""
    figure = FIGURES[name]
    by_step: dict[str, dict[str, list[StepResult]]] = {}
    for group, steps in grouped(run).items():
        transport = steps[0]["transport"]
        key = group.replace(f"-{transport}-", "-*-", 1)
        by_step.setdefault(key, {})[transport] = steps
    found: dict[str, list[float]] = {}
    for key, members in by_step.items():
        ours = [steps for t, steps in members.items() if t in TRANSPORTS]
        if len(ours) < 2:
            continue
        for transport, steps in members.items():
            values = []
            for step in steps:
                moment = [
                    figure(s) for group in ours for s in group if s["repeat"] == step["repeat"]
                ]
                value = figure(step)
                if value and len(moment) == len(ours) and all(moment):
                    floor = math.exp(sum(math.log(v) for v in moment if v) / len(moment))
                    values.append(value / floor)
            found[key.replace("-*-", f"-{transport}-", 1)] = values
    return found


def verdict_text(difference: stats.Difference) -> str:
    if difference.direction == "same":
        return "same"
    return f"**{difference.direction}**"


def compare(a: RecordedRun, b: RecordedRun) -> list[list[str]]:
    """One row per figure of each step both runs ran: A, B, B/A, the rule's verdict on the raw
    values and, for figures that move with the machine, on each run's values relative to the
    transports measured at the same moment (`relative`; raw where the step has no others)."""
    rows = []
    within = {name: (relative(a, name), relative(b, name)) for name in DRIFTING}
    for step_id, name, (va, sa), (vb, sb) in figure_pairs(a, b):
        ratio = f"{sb.median / sa.median:.2f}×" if sa.median else "–"
        raw = verdict_text(stats.judge(vb, va))
        ra = rb = None
        if name in within:
            ra, rb = within[name][0].get(step_id), within[name][1].get(step_id)
        adjusted = verdict_text(stats.judge(rb, ra)) if ra and rb else raw
        testable = "yes" if min(sa.n, sb.n) >= stats.MIN_REPEATS else "no"
        rows.append([step_id, name, cell(sa), cell(sb), ratio, raw, adjusted, testable])
    return rows


def false_positives(rows: Sequence[Sequence[str]]) -> tuple[int, int]:
    """Of the figure rows with enough repeats a side for the test to call them different at
    all, how many it calls different relative to the run, and of how many."""
    testable = [row for row in rows if row[7] == "yes"]
    return sum(1 for row in testable if row[6] != "same"), len(testable)


def cell(spread: stats.Spread) -> str:
    if spread.n < 2:
        return fmt(spread.median)
    return f"{fmt(spread.median)} [{fmt(spread.low)}–{fmt(spread.high)}] n={spread.n}"


def markdown(a: RecordedRun, b: RecordedRun) -> str:
    lines = [
        f"# rtbench — {a.data['run_id']} (A) vs {b.data['run_id']} (B)",
        "",
        f"A: {a.data['profile']['name']} on {a.data['machine']['cpu_model']}, commit "
        f"`{(a.data['software']['git'].get('commit') or '?')[:10]}`. "
        f"B: {b.data['profile']['name']} on {b.data['machine']['cpu_model']}, commit "
        f"`{(b.data['software']['git'].get('commit') or '?')[:10]}`.",
        "",
        f"Median of the repeats [interval] n=repeats. The rule: {stats.RULE}. *relative* "
        "judges latency and CPU once more on each repeat's figure divided by the geometric "
        "mean of our transports' in the same repeat of the same step: the machine drifts "
        "within a run as well as between runs, and only the figures of one repeat were "
        "measured at the same moment. *testable*: at least "
        f"{stats.MIN_REPEATS} repeats a side, the fewest from which the test can call a "
        "difference at all.",
        "",
        drift_text(a, b),
        "",
        "| step | figure | A | B | B/A | raw | relative | testable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = compare(a, b)
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if not rows:
        lines.append("| (no step in common) | | | | | | | |")
    called, total = false_positives(rows)
    if total:
        lines += ["", f"Testable figures called different relative to their run: {called} of "
                      f"{total} ({called / total:.1%})."]  # fmt: skip
    flips = verdict_rows(a, b)
    if flips:
        changed = sum(1 for row in flips if row[-1] != "same")
        lines += [
            "",
            f"## Question 1 verdicts: {changed} of {len(flips)} changed",
            "",
            "| claim | the course says | A | B | |",
            "|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in flips]
    return "\n".join(lines) + "\n"


def drift_text(a: RecordedRun, b: RecordedRun) -> str:
    moved = drift(a, b)
    if not moved:
        return "Machine drift: no reference step in common, figures judged raw only."
    parts = [f"{name} ×{factor:.2f} ({n} references)" for name, (factor, n) in moved.items()]
    return (
        "Machine drift, B over A on the references (medians of the null servers and peers): "
        + "; ".join(parts)
        + "."
    )


def verdict_rows(a: RecordedRun, b: RecordedRun) -> list[list[str]]:
    """Each Question 1 item's verdict in both runs: a change between two runs of one commit
    means the verdict rests on noise."""
    found_b = {j.item.claim: j for j in question1.judge(b)}
    rows = []
    for ja in question1.judge(a):
        jb = found_b.get(ja.item.claim)
        if jb is None:
            continue
        item = ja.item
        rows.append([item.claim, f"{verdicts.NAMES['en'][item.transport]}: {item.en}",
                     ja.verdict, jb.verdict,
                     "same" if ja.verdict == jb.verdict else "**changed**"])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m report.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", help="run folder (or results.json) A, the reference")
    parser.add_argument("b", help="run folder (or results.json) B")
    parser.add_argument(
        "--fail-on-regression",
        type=percent,
        metavar="PCT",
        help="also exit 1 when a figure of B is worse than A's beyond both A's interval and "
        "PCT (e.g. 10%%): latency, bytes, CPU, loss or memory higher, throughput lower",
    )
    args = parser.parse_args(argv)
    try:
        a, b = load(args.a), load(args.b)
    except UnknownSchema as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(a, b)
    out = b.folder / f"compare-{a.data['run_id']}.md"
    Path(out).write_text(text)
    print(text)
    print(f"written: {out}")
    failed = False
    changed = [row[0] for row in verdict_rows(a, b) if row[2] != row[3]]
    if changed:
        print(f"error: {len(changed)} verdict(s) differ between the runs: {', '.join(changed)}",
              file=sys.stderr)  # fmt: skip
        failed = True
    if args.fail_on_regression is not None:
        worse = regressions(a, b, args.fail_on_regression)
        for line in worse:
            print(f"regression: {line}", file=sys.stderr)
        if worse:
            print(f"error: {len(worse)} figure(s) regressed beyond A's interval and "
                  f"{args.fail_on_regression:.0%}", file=sys.stderr)  # fmt: skip
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
