"""The report reads a results folder only: charts, tables and verdicts come from the file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from record import UnknownSchema, load
from report.__main__ import write
from scenarios.load.browser import CHROMIUM_ARGS
from tests.support import chromium_binary

FIXTURE = Path(__file__).parent / "fixtures" / "run-tiny"


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    """A real (tiny) run, copied: the report writes its output into the run folder."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "run"))


def test_report_renders_every_chart_and_section(run_copy: Path) -> None:
    md, page = write(str(run_copy))
    charts = sorted(p.stem for p in (run_copy / "charts").glob("*.png"))
    assert charts == sorted(
        [
            "latency-cdf",
            "latency-vs-subscribers",
            "wire-bytes",
            "server-cpu",
            "driver-cpu",
            "rss-per-connection",
            "knee",
            "churn-timeline",
        ]
    )
    text = md.read_text()
    for heading in (
        "## The run",
        "## Question 1, measured",
        "## Charts",
        "## How to read this",
        "## How to reproduce",
    ):
        assert heading in text
    for chart in charts:
        assert f"charts/{chart}.png" in text
    html = page.read_text()
    assert html.count("data:image/png;base64,") == len(charts)
    # Self-contained: nothing to fetch.
    assert not re.search(r'(src|href)="(?!data:)', html)


def test_every_figure_comes_from_the_results_file(run_copy: Path) -> None:
    results = json.loads((run_copy / "results.json").read_text())
    step = next(s for s in results["steps"] if s["id"].startswith("broadcast-ws-5sub"))
    step["latency_us"]["p50"] = 123_456  # 123.46 ms: a value no run here would produce
    step["server_cpu_us_per_message"] = 987.6
    (run_copy / "results.json").write_text(json.dumps(results))
    md, _ = write(str(run_copy))
    text = md.read_text()
    assert "123.46 ms" in text and "987.6 µs" in text
    run = load(run_copy)
    assert run.data["run_id"] in text and run.data["software"]["git"]["commit"] in text


def test_unknown_schema_version_is_refused_clearly(run_copy: Path) -> None:
    results = json.loads((run_copy / "results.json").read_text())
    results["schema_version"] = 99
    (run_copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(UnknownSchema, match="version 99: is rtbench older than the run"):
        load(run_copy)
    done = subprocess.run(
        [sys.executable, "-m", "report", str(run_copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "expected rtbench.results version 1" in done.stderr


def test_missing_run_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(UnknownSchema, match=r"expected a run folder with results\.json"):
        load(tmp_path)


def _with_repeats(folder: Path, scale: float, spread_: float) -> None:
    """Five repeats of every step, latencies scaled by `scale` and spread by ±`spread_`."""
    results = json.loads((folder / "results.json").read_text())
    steps = []
    factors = (1 - spread_, 1 - spread_ / 2, 1.0, 1 + spread_ / 2, 1 + spread_)
    for step in results["steps"]:
        for repeat, factor in enumerate(factors, 1):
            copy = json.loads(json.dumps(step))
            copy["id"] = step["id"].rsplit("-r", 1)[0] + f"-r{repeat}"
            copy["repeat"] = repeat
            if "latency_us" in copy and copy["latency_us"]["p50"] is not None:
                copy["latency_us"]["p50"] = step["latency_us"]["p50"] * scale * factor
            steps.append(copy)
    results["steps"] = steps
    results["run_id"] += f"-x{scale}"
    (folder / "results.json").write_text(json.dumps(results))


def _scaled_runs(tmp_path: Path, *scales: float) -> list[Path]:
    """Copies of the tiny run, each with repeats whose latency is the fixture's × its scale."""
    runs = []
    for name, scale in zip("abcdefgh", scales, strict=False):
        run = Path(shutil.copytree(FIXTURE, tmp_path / name))
        _with_repeats(run, scale, 0.05)
        runs.append(run)
    return runs


def test_compare_judges_by_the_rule_and_again_after_the_machine_drift(tmp_path: Path) -> None:
    from report.compare import compare

    a, b, c = _scaled_runs(tmp_path, 1.0, 2.0, 1.02)
    rows = {(r[0], r[1]): r for r in compare(load(a), load(b))}
    row = rows[("broadcast-ws-5sub-50hz-90B", "p50 ms")]
    assert row[4] == "2.00×" and row[5] == "**higher**"
    # Every transport doubled in the same repeats: the machine was slower, not this server.
    assert row[6] == "same" and row[7] == "yes"
    assert "–" in row[2]  # median (min–max)
    close = {(r[0], r[1]): r for r in compare(load(a), load(c))}
    assert close[("broadcast-ws-5sub-50hz-90B", "p50 ms")][5] == "same"
    single = {(r[0], r[1]): r for r in compare(load(FIXTURE), load(FIXTURE))}
    assert single[("broadcast-ws-5sub-50hz-90B", "p50 ms")][5] == "same"
    done = subprocess.run(
        [sys.executable, "-m", "report.compare", str(a), str(b)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "2.00×" in done.stdout
    assert "B over A on the references (medians of the null servers and peers): p50 ms ×2.00" in (
        done.stdout
    )


def test_compare_fails_on_a_planted_regression_and_passes_an_a_a_pair(tmp_path: Path) -> None:
    a, b, c = _scaled_runs(tmp_path, 1.0, 2.0, 1.05)

    def compared(x: Path, y: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "report.compare", str(x), str(y), *extra],
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    same = compared(a, a, "--fail-on-regression", "10%")
    assert same.returncode == 0, same.stderr
    planted = compared(a, b, "--fail-on-regression", "10%")
    assert planted.returncode == 1
    assert "regression: broadcast-ws-5sub-50hz-90B p50 ms:" in planted.stderr
    assert "(+100%)" in planted.stderr
    # 5 % worse is inside the threshold: no figure is called a regression.
    close = compared(a, c, "--fail-on-regression", "10%")
    assert "regression:" not in close.stderr
    refused = compared(a, b, "--fail-on-regression", "much")
    assert refused.returncode == 2 and "expected a percentage like 10%" in refused.stderr


def test_html_report_opens_in_headless_chromium(run_copy: Path) -> None:
    chromium = chromium_binary()
    from playwright.sync_api import sync_playwright

    _, page_path = write(str(run_copy))
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            images = page.evaluate("document.images.length")
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || !i.naturalWidth).length"
            )
            shot = run_copy / "report-screenshot.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert images == 8 and broken == 0
    assert errors == []
    assert shot.stat().st_size > 50_000


def test_peer_table_gives_medians_over_repeats_and_their_ratio(run_copy: Path) -> None:
    results = json.loads((run_copy / "results.json").read_text())
    ours = next(s for s in results["steps"] if s["id"] == "broadcast-ws-5sub-50hz-90B-r1")
    for transport, cpus in (("ws", (10.0, 12.0, 11.0)), ("picows", (7.0, 9.5, 8.0))):
        for repeat, cpu in enumerate(cpus, 1):
            step = json.loads(json.dumps(ours))
            step["id"] = f"broadcast-{transport}-5sub-50hz-90B-r{repeat}"
            step["transport"], step["repeat"] = transport, repeat
            step["server_cpu_us_per_message"] = cpu
            results["steps"] = [s for s in results["steps"] if s["id"] != step["id"]] + [step]
    (run_copy / "results.json").write_text(json.dumps(results))
    md, _ = write(str(run_copy))
    table = md.read_text().split("## Reference peers", 1)[1].split("##", 1)[0]
    row = next(line for line in table.splitlines() if line.startswith("| picows"))
    # The median of 7.0, 9.5, 8.0 with its range, 3 repeats, and 11.0 / 8.0: not one repeat's.
    assert "8.0 µs [7.0–9.5] | 3 | 1.38× |" in row, row


def test_a_kind_without_a_section_is_shown_by_the_figures_it_declared(run_copy: Path) -> None:
    """A kind that writes its own figures needs nothing in the report: its table comes from
    the results file's `kinds`, a row per transport and varying parameter, the median and
    range over repeats."""
    results = json.loads((run_copy / "results.json").read_text())
    results["schema_version"] = 3
    results["kinds"] = {
        "echo": {
            "about": "An echo, timed.",
            "figures": {
                "echo_ms": {"label": "echo", "unit": "ms"},
                "echoes": {"label": "echoes", "unit": ""},
            },
        }
    }
    results["steps"] = [
        {"id": f"echo-{t}-{size}B-r{r}", "scenario": "echo", "result": "scalars", "transport": t,
         "repeat": r, "params": {"size": size}, "wall_seconds": 1.0, "status": "ok",
         "figures": {"echo_ms": 1.0 + r + size / 100, "echoes": 10}}
        for t in ("sse", "ws") for size in (10, 100) for r in (1, 2, 3)
    ]  # fmt: skip
    (run_copy / "results.json").write_text(json.dumps(results))
    md, _ = write(str(run_copy))
    text = md.read_text()
    assert "## More measurements" in text and "**echo**: An echo, timed." in text
    assert "| transport | size | echo (ms) | echoes |" in text
    assert "| WebSocket | 100 | 4 [3–5] | 10 [10–10] |" in text
    assert "| WebSocket | 10 | 3.10 [2.10–4.10] | 10 [10–10] |" in text


def test_ci_outputs_hold_a_case_per_threshold_and_claim_and_a_row_per_step(
    run_copy: Path,
) -> None:
    import csv
    from xml.etree import ElementTree

    from record import thresholds

    results = json.loads((run_copy / "results.json").read_text())
    results["thresholds"] = thresholds.check(
        [thresholds.parse("lost>0"), thresholds.parse("p50_ms<0")], load(run_copy).steps
    )
    assert all(found["checked_steps"] > 0 for found in results["thresholds"])
    (run_copy / "results.json").write_text(json.dumps(results))
    write(str(run_copy))
    suites = ElementTree.parse(run_copy / "junit.xml").getroot()
    limits, claims = suites.findall("testsuite")
    # lost>0 held on every delivering step; p50_ms<0 held too (no latency is negative).
    assert [c.get("name") for c in limits] == ["lost>0", "p50_ms<0"]
    assert limits.get("failures") == "0" and limits.get("tests") == "2"
    verdicts = json.loads((run_copy / "verdicts.json").read_text())["claims"]
    assert [c.get("name") for c in claims] == [v["claim"] for v in verdicts]
    for case, verdict in zip(claims, verdicts, strict=True):
        failed, skipped = case.find("failure"), case.find("skipped")
        assert (failed is not None) == (verdict["verdict"] == "refuted")
        assert (skipped is not None) == (verdict["verdict"] not in ("confirmed", "refuted"))
    rows = list(csv.DictReader((run_copy / "steps.csv").open()))
    assert [r["id"] for r in rows] == [s["id"] for s in results["steps"]]
    broadcast = next(r for r in rows if r["scenario"] == "broadcast")
    step = next(s for s in results["steps"] if s["id"] == broadcast["id"])
    assert float(broadcast["p99_ms"]) == step["latency_us"]["p99"] / 1000
    assert int(broadcast["lost"]) == step["lost"]
