"""Kinds without a section of their own: each step's figures as its kind declared them in the
results file (`kinds`: what each measures, each figure's label and unit), a row per transport
and load, the median over repeats with their range. A new kind is in the report from its
first run."""

from __future__ import annotations

from record import KindRecord, RecordedRun, ScalarStep
from record.display import MISSING
from report import stats
from report.format import fmt
from report.model import Block, Section, Table
from report.selection import NAMES


def declared_section(run: RecordedRun) -> Section | None:
    blocks: list[Block] = []
    for name, kind in run.data.get("kinds", {}).items():
        steps = run.scalars(name)
        if steps:
            blocks += [f"**{name}**: {kind['about']}", kind_table(kind, steps)]
    if not blocks:
        return None
    intro = (
        "Kinds of step without a section of their own, each figure as its kind names it; "
        "the median over the repeats [min–max]."
    )
    return Section("More measurements", [intro, *blocks])


def kind_table(kind: KindRecord, steps: list[ScalarStep]) -> Table:
    """A row per transport and per value of the parameters that vary between the steps."""
    varying = sorted(
        key
        for key in {k for s in steps for k in s["params"]}
        if len({str(s["params"].get(key)) for s in steps}) > 1
    )
    groups: dict[tuple[str, ...], list[ScalarStep]] = {}
    for step in steps:
        load = (str(step["params"].get(key, MISSING)) for key in varying)
        groups.setdefault((step["transport"], *load), []).append(step)
    labels = [
        f["label"] + (f" ({f['unit']})" if f["unit"] else "") for f in kind["figures"].values()
    ]
    rows = [
        [
            NAMES.get(key[0], key[0]),
            *key[1:],
            *(cell(members, figure) for figure in kind["figures"]),
        ]
        for key, members in groups.items()
    ]
    return Table(["transport", *varying, *labels], rows)


def cell(steps: list[ScalarStep], figure: str) -> str:
    """Counts and figures of 100 or more without decimals, smaller ones with two."""
    values = [float(v) for s in steps if isinstance(v := s["figures"].get(figure), int | float)]
    spread = stats.spread(values)
    whole = spread is None or abs(spread.median) >= 100 or all(v.is_integer() for v in values)
    return fmt(spread, 1, "", 0 if whole else 2)
