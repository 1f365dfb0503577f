"""The report's content, built once and rendered twice (`report.render`): Markdown and
self-contained HTML."""

from __future__ import annotations

from pathlib import Path

from record import RecordedRun
from report.claims import Lang
from report.model import Section
from report.sections import SECTIONS
from report.sections.appendix import (
    charts_section,
    reading_section,
    reproduce_section,
    steps_section,
)
from report.sections.headline import run_section
from report.sections.question import question_one


def build(
    run: RecordedRun, charts: dict[str, Path], lang: Lang = "en"
) -> tuple[str, list[Section]]:
    """The title and the sections: the run, Question 1, every subject the run measured, then
    the charts, how to read and reproduce it, and every step."""
    d = run.data
    title = f"rtbench — {d['profile']['name']} run {d['run_id']}"
    measured = [found for section_of in SECTIONS if (found := section_of(run)) is not None]
    return title, [
        run_section(run),
        question_one(run, lang),
        *measured,
        charts_section(charts),
        reading_section(),
        reproduce_section(run),
        steps_section(run),
    ]
