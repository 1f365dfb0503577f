"""`python -m report.calibrate RUN RUN [RUN ...]`: the rule's false-positive rate, measured on
runs of one commit.

Runs of one commit on one machine differ only by noise and by the machine's drift. Every figure
the rule calls different between two of them (after the drift, as `make compare` judges it) is
a false positive, and every Question 1 verdict that changes between them is a verdict the noise
decided. This program compares every pair of the runs given, counts both, and exits 1 when the
false-positive rate exceeds 5 % or any verdict changes. A folder holding several runs may be
given in place of the runs themselves.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from record import RecordedRun, UnknownSchema, load
from report import compare

LIMIT = 0.05
"""The largest share of same-commit figure comparisons the rule may call different."""


def runs_in(paths: list[str]) -> list[RecordedRun]:
    """Each path a run, or a folder whose sub-folders are runs (in name order)."""
    found: list[RecordedRun] = []
    for path in paths:
        folder = Path(path)
        if (folder / "results.json").exists() or folder.suffix == ".json":
            found.append(load(folder))
            continue
        # `latest` is a link to one of the runs: each run counts once.
        subfolders = sorted(
            p for p in folder.iterdir() if not p.is_symlink() and (p / "results.json").exists()
        )
        if not subfolders:
            raise UnknownSchema(f"expected a run folder or a folder of runs, got {folder}")
        found += [load(p) for p in subfolders]
    return found


def commit(run: RecordedRun) -> str:
    return str(run.data["software"]["git"].get("commit") or "?")[:10]


def report(runs: list[RecordedRun]) -> tuple[str, bool]:
    """The calibration in Markdown, and whether the rule passed it."""
    lines = [
        f"# rtbench — the rule on {len(runs)} runs of one commit",
        "",
        "Runs: " + ", ".join(f"`{r.data['run_id']}` (commit `{commit(r)}`)" for r in runs) + ".",
        "",
        "Figures compared: those both runs measured in at least four repeats, the fewest from "
        "which the rule can call a difference at all; latency and CPU relative to the "
        "transports measured in the same repeat (`make compare`'s *relative*).",
        "",
        "| A | B | figures compared | called different | share | verdicts changed |",
        "|---|---|---|---|---|---|",
    ]
    called_all = total_all = 0
    changed_all: list[str] = []
    by_figure: dict[str, list[int]] = {}
    for a, b in itertools.combinations(runs, 2):
        rows = compare.compare(a, b)
        for row in rows:
            if row[7] != "yes":
                continue
            tally = by_figure.setdefault(row[1], [0, 0])
            tally[0] += row[6] != "same"
            tally[1] += 1
        called, total = compare.false_positives(rows)
        changed = [row[0] for row in compare.verdict_rows(a, b) if row[2] != row[3]]
        called_all, total_all = called_all + called, total_all + total
        changed_all += [f"{name} ({a.data['run_id']} → {b.data['run_id']})" for name in changed]
        share = f"{called / total:.1%}" if total else "–"
        lines.append(
            f"| {a.data['run_id']} | {b.data['run_id']} | {total} | {called} | {share} | "
            f"{', '.join(changed) or 'none'} |"
        )
    rate = called_all / total_all if total_all else 0.0
    passed = total_all > 0 and rate <= LIMIT and not changed_all
    lines += [
        "",
        f"**False-positive rate: {called_all} of {total_all} figure comparisons ({rate:.1%})**, "
        f"limit {LIMIT:.0%}; verdicts changed: {len(changed_all)}"
        + (f" ({'; '.join(changed_all)})" if changed_all else "")
        + f". {'Passed' if passed else 'Failed'}.",
    ]
    lines += [
        "",
        "By figure (every pair of runs, testable figures):",
        "",
        "| figure | compared | called different | share |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {total} | {called} | {called / total:.1%} |"
        for name, (called, total) in by_figure.items()
    ]
    if len({commit(r) for r in runs}) > 1:
        lines.append("")
        lines.append("**These runs are not of one commit**: differences may be real.")
    return "\n".join(lines) + "\n", passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m report.calibrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("runs", nargs="+", help="run folders, or a folder of runs")
    parser.add_argument("--out", help="also write the calibration to this Markdown file")
    args = parser.parse_args(argv)
    try:
        runs = runs_in(args.runs)
    except (UnknownSchema, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if len(runs) < 2:
        print(f"error: expected at least 2 runs, got {len(runs)}", file=sys.stderr)
        return 2
    text, passed = report(runs)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
