"""`rtbench COMMAND …`: one entry point for the programs `make` runs.

    rtbench bench [--profile default] [...] measure (python -m scenarios.run), then the report
    rtbench serve ws --port 8000 [...]       one server (python -m servers)
    rtbench report [RUN]                     charts + report.md + report.html (python -m report)
    rtbench compare A B                      two runs side by side (python -m report.compare)
    rtbench token --config FILE [...]        mint a JWT (python -m servers.token)

Each command is its module's own program, so `rtbench COMMAND --help` is that program's help;
measuring and reporting stay separate programs that share only the results file.
"""

from __future__ import annotations

import argparse
import runpy
import sys

from scenarios.machine import unsupported_platform

COMMANDS = {
    "bench": ("scenarios.run", "run a benchmark profile, then write its report"),
    "serve": ("servers", "run one real-time server"),
    "report": ("report", "charts, report.md and report.html for a run"),
    "compare": ("report.compare", "every figure and verdict of two runs side by side"),
    "token": ("servers.token", "mint a JWT for a secured config"),
}


def usage() -> str:
    lines = ["usage: rtbench COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:8} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "rtbench COMMAND --help shows that command's options."]
    return "\n".join(lines)


def run_module(module: str, args: list[str], prog: str) -> int:
    sys.argv = [prog, *args]
    try:
        runpy.run_module(module, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    problem = unsupported_platform()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"error: expected a command among {', '.join(COMMANDS)}, got {command!r}",
              file=sys.stderr)  # fmt: skip
        print(usage(), file=sys.stderr)
        return 2
    module = COMMANDS[command][0]
    code = run_module(module, rest, f"rtbench {command}")
    # Exit 2: the bench refused its options or profile and ran nothing; the last run's report
    # is not this one's, so none is written.
    if command == "bench" and code != 2 and not {"-h", "--help"} & set(rest):
        run = bench_parser().parse_known_args(rest)[0]
        if not (run.list_profiles or run.list_kinds or run.dry_run):
            report = run_module("report", [run.out], "rtbench report")
            return code or report
    return code


def bench_parser() -> argparse.ArgumentParser:
    from scenarios.options import parser

    return parser("rtbench bench")
