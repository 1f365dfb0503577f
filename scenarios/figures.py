"""Pure figure functions: what a step's raw counts and process samples mean.

Thresholds live here and are written into every results file (`settings.saturation`), so the
report judges a run by the rules it was measured with.
"""

from __future__ import annotations

from typing import Any

from record import Soak, Storm, Utilisation
from scenarios.measure import ProcessSample

SERVER_SATURATED = 0.80
"""Server core busier than this: latency there is queueing, and CPU per message is just one
core divided by throughput."""
DRIVER_SATURATED = 0.70
"""Driver core busier than this: the measuring side is part of what is measured."""
KEPT_UP = 0.95
"""The publisher must reach this share of its nominal rate for a step to count as ok."""


def thresholds() -> dict[str, float]:
    return {"server": SERVER_SATURATED, "driver": DRIVER_SATURATED, "kept_up": KEPT_UP}


def cpu_us_per(
    before: ProcessSample | None, after: ProcessSample | None, count: int
) -> float | None:
    """µs of CPU between two samples per counted item, None when either sample is missing."""
    if before is None or after is None or count <= 0:
        return None
    return round((after.cpu_ns - before.cpu_ns) / 1000 / count, 3)


def busy_fraction(
    before: ProcessSample | None, after: ProcessSample | None, wall_seconds: float, cores: int
) -> float | None:
    """CPU seconds of the processes pinned to `cores` CPUs ÷ wall seconds ÷ `cores`."""
    if before is None or after is None or wall_seconds <= 0 or cores <= 0:
        return None
    return round((after.cpu_ns - before.cpu_ns) / 1e9 / wall_seconds / cores, 3)


def saturation(server_core: float | None, driver_core: float | None) -> str | None:
    """Why a step ran saturated, or None when neither core was past its threshold."""
    reasons = []
    if server_core is not None and server_core > SERVER_SATURATED:
        reasons.append(f"server core {server_core:.0%} busy (> {SERVER_SATURATED:.0%})")
    if driver_core is not None and driver_core > DRIVER_SATURATED:
        reasons.append(f"driver core {driver_core:.0%} busy (> {DRIVER_SATURATED:.0%})")
    return "; ".join(reasons) or None


def degraded_reasons(
    nominal_rate: float,
    achieved_rate: float | None,
    lost: int,
    duplicated: int,
    drained: bool,
    errors: int,
    publish_errors: int,
    reconnect_failures: int,
    server_dropped: dict[str, int] | None = None,
) -> list[str]:
    """Each thing that made a step degraded, in words a reader can check against the row."""
    reasons = []
    for reason, count in (server_dropped or {}).items():
        if count:
            reasons.append(f"the server dropped {count:,} subscriber(s) as {reason.split('_')[0]}")
    achieved = achieved_rate or 0.0
    if achieved < KEPT_UP * nominal_rate:
        reasons.append(f"publisher reached {achieved:.1f} of {nominal_rate:g}/s")
    if lost:
        reasons.append(f"{lost:,} lost")
    if duplicated:
        reasons.append(f"{duplicated:,} duplicated")
    if not drained:
        reasons.append("subscribers had not received the last event when the drain ended")
    if errors:
        reasons.append(f"{errors:,} subscriber error(s)")
    if publish_errors:
        reasons.append(f"{publish_errors:,} publish error(s)")
    if reconnect_failures:
        reasons.append(f"{reconnect_failures:,} failed reconnect(s)")
    return reasons


def utilisation(
    server: tuple[ProcessSample | None, ProcessSample | None],
    driver: tuple[ProcessSample | None, ProcessSample | None],
    wall_seconds: float,
    server_cores: int,
    driver_cores: int,
    cpus_busy: dict[str, float],
) -> Utilisation:
    """The step's utilisation block: both cores by their pinned processes, and every CPU as
    /proc/stat saw it (kernel work included)."""
    server_core = busy_fraction(*server, wall_seconds, server_cores)
    driver_core = busy_fraction(*driver, wall_seconds, driver_cores)
    return Utilisation(
        server_core=server_core,
        driver_core=driver_core,
        cpus_busy=cpus_busy,
        window_seconds=round(wall_seconds, 3),
        saturated_because=saturation(server_core, driver_core),
    )


def code_lines(source: str) -> int:
    """Lines of code in a Python module: not blank, not a comment, not a docstring."""
    import ast

    tree = ast.parse(source)
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    return sum(
        1
        for number, line in enumerate(source.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def ip_tcp_header_bytes() -> int:
    """IPv4 (20) + TCP (20) header bytes per segment, + 12 when TCP timestamps are on (Linux's
    default): what each segment costs beyond its payload, loopback or not (no link layer)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_timestamps") as f:
            timestamps = f.read().strip() != "0"
    except OSError:
        timestamps = True
    return 40 + (12 if timestamps else 0)


def wire_split(
    transport: str,
    room: str,
    payload_bytes: int,
    last_id: int,
    down_per_message: float,
    events_per_response: float,
    binary: bool = False,
) -> dict[str, float]:
    """The downstream bytes of one delivered message, split: the payload, the event's
    envelope (id, room, keys; for a binary event on SSE or long polling also base64's third),
    the transport's framing (SSE lines and chunk header, WebSocket frame header, the poll
    response's JSON), computed with the codecs for a typical event of the step; what the
    kernel counted beyond those is HTTP headers and handshakes."""
    from clients.stamped import binary_payload, payload
    from core import jsonc
    from core.events import Event
    from core.wire import longpoll, sse, ws
    from record import WS_PEERS

    scheduled_ns = 1_700_000_000_000_000_000
    data: Any
    if binary:
        data = binary_payload(last_id, scheduled_ns, payload_bytes)
        payload_size = len(data)
    else:
        data = jsonc.loads(payload(last_id, scheduled_ns, payload_bytes))["data"]
        payload_size = len(jsonc.dumps(data))
    event = Event(max(1, last_id), room, data, scheduled_ns)
    carried = len(event.json)
    framing: float
    if transport in ("sse",):
        frame = len(sse.encode_event(event))
        framing = frame - carried + len(b"%x\r\n\r\n" % frame)
    elif transport in ("ws", *WS_PEERS):
        carried = len(ws.encode_event(event))
        framing = 2 if carried < 126 else 4 if carried < 65536 else 10
    elif transport == "longpoll":
        per = max(1, round(events_per_response))
        body = len(longpoll.encode_response([event] * per, event.id))
        framing = (body - per * carried) / per
    else:
        return {}
    envelope = carried - payload_size
    return {
        "payload": float(payload_size),
        "envelope": float(envelope),
        "framing": round(framing, 1),
        "http_headers_and_handshakes": round(
            down_per_message - payload_size - envelope - framing, 1
        ),
    }


def storm_recovery(
    p99_us: list[int | None], bucket_ms: int, storm_bucket: int, within_s: float
) -> Storm:
    """From a p99-per-bucket timeline: the level in the second before the storm (its median
    bucket), the worst bucket after it, and how long after the storm began p99 was back within
    what the second before showed (its worst bucket, or 20 % / 5 ms above its median) for
    three buckets running; None if it never was."""
    per_second = 1000 // bucket_ms
    before = [v for v in p99_us[max(0, storm_bucket - per_second) : storm_bucket] if v]
    after = p99_us[storm_bucket:]
    if not before or not after:
        return {"p99_before_us": None, "p99_worst_us": None, "recovery_seconds": None}
    level = sorted(before)[len(before) // 2]
    bound = max(max(before), level * 1.2, level + 5000)
    first_quiet = int(within_s * per_second)  # not before every subscriber has reconnected
    recovered: float | None = None
    for index in range(first_quiet, len(after) - 2):
        window = after[index : index + 3]
        if all(v is not None and v <= bound for v in window):
            recovered = round(index * bucket_ms / 1000, 2)
            break
    return {
        "p99_before_us": level,
        "p99_worst_us": max((v for v in after if v), default=None),
        "recovery_seconds": recovered,
    }


def slope_per_hour(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of `ys` over `xs` seconds, per hour."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread * 3600


def soak(samples: list[list[float | None]], warmup_seconds: float) -> Soak:
    """From [seconds, RSS bytes, open fds, Python's allocated blocks, objects the cyclic
    collector freed (both when known)] samples of a long run: after the warm-up, the RSS slope
    (least squares, MiB per hour), the slope of the blocks Python holds (per hour, and as a
    share of their mean), the objects the cyclic collector freed per hour, and the ranges."""
    steady = [[float(v) if v is not None else None for v in s] for s in samples]
    steady = [s for s in steady if s[0] is not None and s[0] >= warmup_seconds]
    if len(steady) < 3:
        return {"rss_slope_mib_per_hour": None, "fds_min": None, "fds_max": None}
    xs = [s[0] or 0.0 for s in steady]
    ys = [(s[1] or 0.0) / 2**20 for s in steady]
    fds = [int(s[2] or 0) for s in steady]
    found: Soak = {
        "rss_slope_mib_per_hour": round(slope_per_hour(xs, ys), 2),
        "rss_first_mib": round(ys[0], 1),
        "rss_last_mib": round(ys[-1], 1),
        "rss_max_mib": round(max(ys), 1),
        "fds_min": min(fds),
        "fds_max": max(fds),
        "steady_seconds": round(xs[-1] - xs[0], 1),
    }
    blocks = [(x, s[3]) for x, s in zip(xs, steady, strict=True) if len(s) > 3 and s[3]]
    if len(blocks) >= 3:
        bx, by = [b[0] for b in blocks], [b[1] or 0.0 for b in blocks]
        per_hour = slope_per_hour(bx, by)
        found["python_blocks_slope_per_hour"] = round(per_hour)
        found["python_blocks_slope_share_per_hour"] = round(per_hour / (sum(by) / len(by)), 4)
        found["python_blocks_first"] = int(by[0])
        found["python_blocks_last"] = int(by[-1])
    freed = [(x, s[4]) for x, s in zip(xs, steady, strict=True) if len(s) > 4 and s[4] is not None]
    if len(freed) >= 2 and freed[-1][0] > freed[0][0]:
        (x0, f0), (x1, f1) = freed[0], freed[-1]
        found["cyclic_gc_freed_per_hour"] = round(((f1 or 0.0) - (f0 or 0.0)) / (x1 - x0) * 3600)
    return found
