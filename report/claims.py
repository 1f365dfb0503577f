"""Claims judged from a run: an item of the course, the figures that test it, and the verdict
one rule gives them.

An `Item` declares the course's words (French, as the course says them, and English), the
figures that test it (`Measure`), the transports it is compared with and the direction that
confirms it. `judge_item` reads each figure from the run's own steps and applies the rule of
`report.stats` to every pair; the verdict follows from those pairs alone:

- **confirmed**: every comparison goes the expected way (for a limit: the limit was observed);
- **refuted**: every comparison goes the other way;
- **inconclusive**: anything else: a tie inside the noise, or comparisons that disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from record import RecordedRun
from report import stats
from report.stats import Difference, Direction

ItemKind = Literal["advantage", "limit", "use case"]
Verdict = Literal["confirmed", "inconclusive", "refuted", "not measured"]
Lang = Literal["en", "fr"]

P99_EVENTS = 1000
"""The fewest events in one repeat from which its p99 is more than its few worst samples."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One transport's figure: its per-repeat values and the steps they come from."""

    values: tuple[float, ...]
    steps: tuple[str, ...]
    where: str
    """The load or condition it was measured at, in words."""
    server_core: float | None
    driver_core: float | None
    driver_cpu_us_per_message: float | None

    @property
    def spread(self) -> stats.Spread:
        found = stats.spread(self.values)
        assert found is not None
        return found


Reading = Figure | str
"""A figure, or why the run has none."""


@dataclass(frozen=True, slots=True)
class Measure:
    key: str
    en: str
    fr: str
    unit: str
    digits: int
    counted: bool
    """Counted exactly (lines, outcomes, events read): no noise, the threshold alone decides."""
    read: Callable[[RecordedRun, str], Reading]


@dataclass(frozen=True, slots=True)
class Item:
    claim: str
    """A stable id: `transport.name`."""
    kind: ItemKind
    transport: str
    fr: str
    en: str
    measures: tuple[Measure, ...]
    """The figures that test it; every one is compared, by the same rule."""
    expect: Direction
    against: tuple[str, ...]
    because: str
    """Why these transports and this direction test the course's words."""


@dataclass(frozen=True, slots=True)
class Judged:
    item: Item
    verdict: Verdict
    figures: dict[str, dict[str, Reading]]
    """By measure key, then by transport."""
    differences: dict[str, dict[str, Difference]] = field(default_factory=dict)
    """By measure key, then by the transport compared with."""

    @property
    def missing(self) -> list[str]:
        return [
            f"{t}: {r}"
            for readings in self.figures.values()
            for t, r in readings.items()
            if isinstance(r, str)
        ]

    @property
    def found(self) -> list[Figure]:
        return [r for rs in self.figures.values() for r in rs.values() if isinstance(r, Figure)]


OPPOSITE: dict[Direction, Direction] = {"higher": "lower", "lower": "higher", "same": "same"}


def verdict_of(expect: Direction, directions: Sequence[Direction]) -> Verdict:
    if directions and all(d == expect for d in directions):
        return "confirmed"
    if directions and all(d == OPPOSITE[expect] for d in directions):
        return "refuted"
    return "inconclusive"


def enough_repeats(measure: Measure, reading: Reading) -> Reading:
    """A sampled figure of fewer repeats than the test needs cannot be judged: it is missing,
    not a tie."""
    if isinstance(reading, str) or measure.counted or len(reading.values) >= stats.MIN_REPEATS:
        return reading
    return f"{len(reading.values)} repeat(s) at {reading.where}: the test needs {stats.MIN_REPEATS}"


def judge_item(run: RecordedRun, item: Item) -> Judged:
    involved = (item.transport, *item.against)
    figures = {
        m.key: {t: enough_repeats(m, m.read(run, t)) for t in involved} for m in item.measures
    }
    if any(isinstance(r, str) for readings in figures.values() for r in readings.values()):
        return Judged(item, "not measured", figures)
    differences: dict[str, dict[str, Difference]] = {}
    for measure in item.measures:
        readings = figures[measure.key]
        subject = readings[item.transport]
        assert isinstance(subject, Figure)
        differences[measure.key] = {}
        for other in item.against:
            theirs = readings[other]
            assert isinstance(theirs, Figure)
            differences[measure.key][other] = stats.judge(
                subject.values, theirs.values, measure.counted
            )
    directions = [d.direction for by in differences.values() for d in by.values()]
    return Judged(item, verdict_of(item.expect, directions), figures, differences)


RULE = (
    f"per pair of transports, {stats.RULE}; confirmed when every pair goes the expected way, "
    "refuted when every pair goes the other way, inconclusive otherwise"
)
