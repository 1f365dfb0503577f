"""`python -m report [RUN]`: charts, report.md and a self-contained report.html for a run;
verdicts.json (Question 1's verdicts), junit.xml (thresholds and claims as test cases) and
steps.csv (each step's figures) for CI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from record import UnknownSchema, load
from report import charts, ci, claims, document, question1, render


def write(run_path: str, lang: claims.Lang = "en") -> tuple[Path, Path]:
    run = load(run_path)
    drawn = charts.draw_all(run, run.folder / "charts")
    title, sections = document.build(run, drawn, lang)
    suffix = "" if lang == "en" else f".{lang}"
    md = run.folder / f"report{suffix}.md"
    md.write_text(render.to_markdown(title, sections, run.folder))
    page = run.folder / f"report{suffix}.html"
    page.write_text(render.to_html(title, sections))
    verdicts = question1.document(run)
    verdicts_file = run.folder / "verdicts.json"
    verdicts_file.write_text(json.dumps(verdicts, indent=1, ensure_ascii=False))
    (run.folder / "junit.xml").write_text(ci.junit(run, verdicts))
    (run.folder / "steps.csv").write_text(ci.steps_csv(run))
    return md, page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__)
    parser.add_argument(
        "run",
        nargs="?",
        default="results",
        help="a run folder or its results.json (default: results/latest)",
    )
    parser.add_argument(
        "--lang",
        choices=("en", "fr"),
        default="en",
        help="the language of the Question 1 section (fr: the course's own terms; written as "
        "report.fr.md and report.fr.html)",
    )
    args = parser.parse_args(argv)
    try:
        md, page = write(args.run, args.lang)
    except UnknownSchema as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {page}\n        {md}\n        {md.parent / 'verdicts.json'}\n"
          f"        {md.parent / 'junit.xml'}\n        {md.parent / 'steps.csv'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
