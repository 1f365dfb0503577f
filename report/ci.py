"""What a CI system reads beside `results.json`: `junit.xml`, one test case per threshold and per
claim of Question 1, and `steps.csv`, one row of figures per step.

In `junit.xml` a threshold that held passes and one that was crossed fails, with each step
that crossed it and its figure. A claim the run confirmed passes, one it refuted fails, and
one it left inconclusive or could not measure is skipped, with why: the run could not say."""

from __future__ import annotations

import csv
import io
from typing import Any
from xml.etree import ElementTree

from record import RecordedRun, thresholds
from record.thresholds import FIGURES


def junit(run: RecordedRun, verdicts: dict[str, Any]) -> str:
    """The run's thresholds and claims as JUnit XML (the schema Jenkins, GitLab and GitHub
    reporters read)."""
    suites = ElementTree.Element("testsuites", name=f"rtbench {run.data['run_id']}")
    checked = run.data.get("thresholds") or []
    limits = suite(suites, "thresholds")
    for found in checked:
        case = ElementTree.SubElement(limits, "testcase", classname="thresholds",
                                      name=found["expression"])  # fmt: skip
        if not thresholds.held(found):
            ElementTree.SubElement(case, "failure", message=thresholds.describe(found))
    claims = suite(suites, "question1")
    for claim in verdicts["claims"]:
        case = ElementTree.SubElement(claims, "testcase", classname=f"question1.{claim['kind']}",
                                      name=claim["claim"])  # fmt: skip
        said = claim_text(claim)
        if claim["verdict"] == "refuted":
            ElementTree.SubElement(case, "failure", message=said)
        elif claim["verdict"] != "confirmed":
            ElementTree.SubElement(case, "skipped", message=said)
    for element in suites:
        cases = list(element)
        element.set("tests", str(len(cases)))
        element.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        element.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    ElementTree.indent(suites)
    return ElementTree.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def claim_text(claim: dict[str, Any]) -> str:
    """The verdict, what the course says, and what the run found: each comparison, or what
    was missing."""
    found: list[str] = []
    for figure, by_other in (claim.get("comparisons") or {}).items():
        found += [f"{figure} against {other}: {c['direction']}, ×{c['ratio']:.2f}, p = {c['p']:.3g}"
                  for other, c in by_other.items()
                  if c.get("ratio") is not None and c.get("p") is not None]  # fmt: skip
    for figure in (claim.get("figures") or {}).values():
        sides = figure["transports"].items()
        found += [f"{transport}: {side['missing']}" for transport, side in sides
                  if "missing" in side]  # fmt: skip
    course = claim["course"]["en"]
    return f"{claim['verdict']}: {course} ({claim['because']})" + (
        f"; {'; '.join(found)}" if found else ""
    )


def suite(parent: ElementTree.Element, name: str) -> ElementTree.Element:
    return ElementTree.SubElement(parent, "testsuite", name=name)


COLUMNS = ("id", "scenario", "transport", "repeat", "status", "subscribers", "rate",
           "payload_bytes", *FIGURES, "server_core", "driver_core", "wall_seconds")  # fmt: skip
"""The step's identity and load, every figure a threshold can name, both cores' use."""


def steps_csv(run: RecordedRun) -> str:
    """One row per step; a figure the step did not measure is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for step in run.data["steps"]:
        found: dict[str, Any] = dict(step)
        params = found.get("params", {})
        use = found.get("utilisation") or {}
        row: dict[str, Any] = {
            **{key: found.get(key) for key in ("id", "scenario", "transport", "repeat",
                                               "status", "wall_seconds")},
            **{key: params.get(key) for key in ("subscribers", "rate", "payload_bytes")},
            **{name: read(found) for name, (_, read) in FIGURES.items()},
            "server_core": use.get("server_core"),
            "driver_core": use.get("driver_core"),
        }  # fmt: skip
        writer.writerow(["" if row[column] is None else row[column] for column in COLUMNS])
    return out.getvalue()
