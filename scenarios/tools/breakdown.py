"""Where a delivery's server CPU goes: py-spy samples of a server under broadcast, by layer.

    python -m scenarios.tools.breakdown                       # every transport, 100 × 50/s, 10 s
    python -m scenarios.tools.breakdown --transports ws --subscribers 1000 --fanout asgi

The server runs pinned to one core, the lean driver and publisher to the other, as in a bench
step, twice: once unsampled, for its CPU per delivery, then with py-spy (`py-spy record
--native`, which stops the server for each sample) for where that CPU goes. Every
sample is charged to one layer, the first that matches walking from the innermost frame out:

- `kernel write`: the socket write and what the kernel does inside it (uvloop's write, send);
- `framing`: encoding events and responses (`core/wire`, JSON);
- `core`: the event core (`core/`: broker, subscription, buffers, counters);
- `ASGI and HTTP`: uvicorn, Starlette, httptools, websockets, our endpoints (`servers/`);
- `event loop`: uvloop/asyncio scheduling, tasks, timers;
- `other`: anything else (imports, logging, the interpreter itself).

A sample whose innermost frame is `epoll_wait` is the loop waiting for sockets (py-spy can
read a thread that is just waking as running): it is counted apart (`idle_samples`), not in
any layer.

Each layer's share times the unsampled window's server CPU per delivery gives µs per delivery.
The result is a table on stdout and JSON (`--out`; written into a run's folder as
`breakdown.json`, the run's report shows it). A breakdown is a benchmark: its figures vary with
the machine and the load; run it on an otherwise idle machine, never beside another benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from processes.server import ServerProcess
from record import TRANSPORTS
from scenarios import ipc
from scenarios.load import driver as driver_program
from scenarios.load import publisher as publisher_program
from scenarios.measure import sample_process
from scenarios.workers import Worker

LAYERS = ("kernel write", "framing", "core", "ASGI and HTTP", "event loop", "other")

# Innermost first: the first rule a frame matches decides the sample's layer. Native frames
# read `name (library)`: the socket write is libc's write/send, inside uvloop's transport,
# whose own write functions count with it (whoever calls them: an endpoint or the fan-out).
SYSCALLS = ("write (libc", "writev (libc", "send (libc", "sendmsg (libc", "sendto (libc",
            "UVStream_write (", "UVStream__")  # fmt: skip
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kernel write", SYSCALLS),
    ("framing", ("core/wire/", "core/jsonc.py", "orjson", "json/encoder", "json/decoder",
                 "_json.c")),
    ("core", ("core/",)),
    ("ASGI and HTTP", ("uvicorn/", "starlette/", "httptools", "websockets/", "servers/",
                       "h11/", "anyio/")),
    ("event loop", ("uvloop", "asyncio/", "_asynciomodule")),
)  # fmt: skip


def layer_of(stack: list[str]) -> str:
    """`stack`: frames outermost first, as py-spy's raw format writes them."""
    for frame in reversed(stack):
        for layer, needles in RULES:
            if any(frame.startswith(n) if layer == "kernel write" else n in frame for n in needles):
                return layer
    return "other"


IDLE = "idle"
"""Samples taken while the loop waited for sockets (`epoll_wait` innermost): py-spy reads a
thread woken a moment ago as running. They are not CPU spent on deliveries: counted apart."""
WAITING = ("epoll_pwait (libc", "epoll_wait (libc")


def breakdown(raw: str) -> Counter[str]:
    """Samples per layer from py-spy's raw (collapsed) output: `frame;frame;... count`."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            idle = frames[-1].startswith(WAITING)
            counts[IDLE if idle else layer_of(frames)] += int(count)
    return counts


Window = tuple[float | None, float | None, int, Counter[str] | None]
"""(server CPU µs per delivery, server core utilisation, events lost, samples per layer)."""


async def window(args: argparse.Namespace, transport: str, raw_file: Path | None) -> Window:
    """One broadcast at the asked load; sampled by py-spy into `raw_file` when given."""
    run_id = f"breakdown-{uuid.uuid4().hex[:6]}"
    room = f"breakdown-{uuid.uuid4().hex[:8]}"
    extra = ["--log-level", "warning", "--fanout", args.fanout]
    spy: asyncio.subprocess.Process | None = None
    with ServerProcess(transport, extra_args=extra, cpu=args.server_cpu) as server:
        common = ["--cpus", str(args.driver_cpu)]
        driver = Worker(driver_program, [
            "--transport", transport, "--url", server.url, "--room", room,
            "--subscribers", str(args.subscribers), *common,
        ], run_id, "driver")  # fmt: skip
        publisher = Worker(publisher_program, [
            "--url", server.url, "--room", room, "--rate", str(args.rate),
            "--warmup", "2", "--duration", str(args.seconds), *common,
        ], run_id, "publisher")  # fmt: skip
        try:
            driver.start()
            await driver.receive(ipc.DriverReady, 120)
            publisher.start()
            await publisher.receive(ipc.Measuring, 60)
            before, started = sample_process(server.pid), time.monotonic()
            if raw_file is not None:
                spy = await asyncio.create_subprocess_exec(
                    args.py_spy, "record", "--pid", str(server.pid), "--native",
                    "--rate", str(args.sample_rate),
                    "--duration", str(max(1, int(args.seconds) - 1)),
                    "--format", "raw", "--output", str(raw_file),
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    preexec_fn=lambda: os.sched_setaffinity(0, {args.driver_cpu}),
                )  # fmt: skip
            published = await publisher.receive(ipc.PublisherResult, args.seconds + 60)
            after, wall = sample_process(server.pid), time.monotonic() - started
            spy_errors = b"" if spy is None else (await spy.communicate())[1]
            await driver.send(cmd="drain", last_id=published["last_id"] or 0, seconds=5)
            received = await driver.receive(ipc.DriverResult, 65)
        finally:
            await driver.aclose()
            await publisher.aclose()
    counts = None
    if raw_file is not None:
        try:
            if spy is None or spy.returncode != 0:
                raise FileNotFoundError(raw_file)
            counts = breakdown(await asyncio.to_thread(raw_file.read_text))
        except FileNotFoundError:
            raise RuntimeError(
                f"expected py-spy to record the server, got: {spy_errors.decode()}"
            ) from None
    delivered = max(1, published["measured"] * args.subscribers)
    if before is None or after is None:
        return None, None, received["lost"], counts
    used_ns = after.cpu_ns - before.cpu_ns
    return used_ns / 1000 / delivered, used_ns / 1e9 / wall, received["lost"], counts


async def measure(args: argparse.Namespace, transport: str, workdir: Path) -> dict[str, object]:
    """The CPU per delivery from a window nobody samples (py-spy stops the server to read its
    stacks, which batches long polls and slows everything a little), then the shares from a
    sampled window of the same load."""
    cpu_us, core, lost, _ = await window(args, transport, None)
    _, sampled_core, sampled_lost, counts = await window(
        args, transport, workdir / f"{transport}.txt"
    )
    assert counts is not None
    total = sum(counts[layer] for layer in LAYERS) or 1
    return {
        "transport": transport,
        "fanout": args.fanout,
        "subscribers": args.subscribers,
        "rate": args.rate,
        "lost": lost + sampled_lost,
        "samples": total,
        "idle_samples": counts[IDLE],
        "server_cpu_us_per_message": None if cpu_us is None else round(cpu_us, 2),
        # Past 0.8 the server was saturated: CPU per delivery is then the queue's as much.
        "server_core": None if core is None else round(core, 2),
        "server_core_sampled": None if sampled_core is None else round(sampled_core, 2),
        "layers": {
            layer: {
                "share": round(counts[layer] / total, 3),
                "us_per_message": None
                if cpu_us is None
                else round(cpu_us * counts[layer] / total, 2),
            }
            for layer in LAYERS
        },
    }


def table(rows: list[dict[str, object]]) -> str:
    head = "| transport | server µs/msg | " + " | ".join(LAYERS) + " |"
    lines = [head, "|---" * (len(LAYERS) + 2) + "|"]
    for row in rows:
        layers = row["layers"]
        assert isinstance(layers, dict)
        cells = [
            f"{v['us_per_message']} ({v['share']:.0%})" if v["us_per_message"] is not None
            else f"{v['share']:.0%}"
            for v in layers.values()
        ]  # fmt: skip
        name = f"{row['transport']} ({row['fanout']})"
        lines.append(f"| {name} | {row['server_cpu_us_per_message']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m scenarios.tools.breakdown",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--transports", default=",".join(TRANSPORTS), help="comma-separated")
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--rate", type=float, default=50.0, help="events per second")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window")
    p.add_argument("--fanout", choices=["direct", "asgi"], default="direct")
    p.add_argument("--sample-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--driver-cpu", type=int, default=1)
    p.add_argument(
        "--out",
        type=Path,
        help="write the breakdown as JSON here; as results/<run>/breakdown.json, that run's "
        "report shows it",
    )
    p.add_argument("--raw-dir", type=Path, help="keep py-spy's raw stacks here (flame graphs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(args.py_spy).exists():
        print("error: expected py-spy (pip install py-spy), got none on PATH", file=sys.stderr)
        return 2
    transports = [t for t in args.transports.split(",") if t]
    unknown = [t for t in transports if t not in TRANSPORTS]
    if unknown:
        print(f"error: expected transports among {TRANSPORTS}, got {unknown}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.raw_dir or scratch
        Path(folder).mkdir(parents=True, exist_ok=True)
        for transport in transports:
            print(f"{transport}: {args.subscribers} × {args.rate:g}/s for {args.seconds:g} s …",
                  file=sys.stderr)  # fmt: skip
            rows.append(asyncio.run(measure(args, transport, Path(folder))))
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
