"""`python -m report [RUN]`: charts, report.md and a self-contained report.html for a run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from report import charts, document
from report.results import UnknownResults, load


def write(run_path: str) -> tuple[Path, Path]:
    run = load(run_path)
    drawn = charts.draw_all(run, run.folder / "charts")
    title, sections = document.build(run, drawn)
    md = run.folder / "report.md"
    md.write_text(document.to_markdown(title, sections, run.folder))
    page = run.folder / "report.html"
    page.write_text(document.to_html(title, sections))
    return md, page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__)
    parser.add_argument(
        "run",
        nargs="?",
        default="results",
        help="a run folder or its results.json (default: results/latest)",
    )
    args = parser.parse_args(argv)
    try:
        md, page = write(args.run)
    except UnknownResults as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {page}\n        {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
