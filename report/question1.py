"""Question 1 of the course, as data: eighteen items, each judged from the run by one rule.

The course lists, per transport, its advantages, its limits and its use case. Each `Item` here
declares the course's words (French, as the course says them, and English), the figure that
tests it (`Measure`), the transports it is compared with and the direction that confirms it.
`judge` reads each figure from the run's own steps and applies the rule of `report.stats` to
every pair; the verdict follows from those pairs alone:

- **confirmed**: every comparison goes the expected way (for a limit: the limit was observed);
- **refuted**: every comparison goes the other way;
- **inconclusive**: anything else: a tie inside the noise, or comparisons that disagree.

No verdict text is written by hand and no tie leans either way. A figure may cite only steps
that ran clean and unsaturated (server core ≤ 80 %, driver core ≤ 70 %), and a p99 only
repeats of at least 1,000 events; where no such step exists the item says what is missing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from record import TRANSPORTS, RecordedRun, StepResult, Utilisation
from report import stats
from report.selection import (
    KNOBS,
    at_text,
    browser_steps,
    cpu,
    load_of,
    loads,
    p99,
    repeats,
    requests_per_message,
    saturated,
    wire,
)
from report.stats import Difference, Direction

Kind = Literal["advantage", "limit", "use case"]
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
    kind: Kind
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


# -- which steps a figure may cite -------------------------------------------------------------


def clean(step: StepResult) -> bool:
    """Ran to the end with nothing lost and no core past its threshold."""
    return step.get("status") == "ok" and saturated(step) is None


def cores(steps: Sequence[StepResult]) -> tuple[float | None, float | None, float | None]:
    """The busiest server and driver core over these steps, and the driver's CPU per message."""
    uses = [s.get("utilisation", Utilisation()) for s in steps]
    server = [v for u in uses if (v := u.get("server_core")) is not None]
    driver = [v for u in uses if (v := u.get("driver_core")) is not None]
    driver_cpu = [v for s in steps if (v := s.get("driver_cpu_us_per_message")) is not None]
    return (
        max(server) if server else None,
        max(driver) if driver else None,
        statistics.median(driver_cpu) if driver_cpu else None,
    )


def events(step: StepResult) -> int:
    latency = step.get("latency_us")
    return 0 if latency is None else latency["count"]


def figure_of(
    steps: Sequence[StepResult],
    get: Callable[[StepResult], float | None],
    where: str,
    p99: bool = False,
) -> Reading:
    if not steps:
        return f"no step at {where}"
    unfit = [s["id"] for s in steps if not clean(s)]
    if unfit:
        return f"not clean or saturated: {', '.join(unfit)}"
    if p99:
        short = [s["id"] for s in steps if events(s) < P99_EVENTS]
        if short:
            return f"fewer than {P99_EVENTS:,} events in {', '.join(short)}"
    values = tuple(v for s in steps if (v := get(s)) is not None)
    if len(values) != len(steps):
        return f"a step without this figure at {where}"
    return Figure(values, tuple(s["id"] for s in steps), where, *cores(steps))


# -- loads -------------------------------------------------------------------------------------


def common_loads(run: RecordedRun) -> list[tuple[int, float]]:
    """Plain broadcast loads where every transport ran clean and unsaturated."""
    return [
        load
        for load in loads(run)
        if all(
            (steps := repeats(run, "broadcast", t, load)) and all(clean(s) for s in steps)
            for t in TRANSPORTS
        )
    ]


def headline(run: RecordedRun) -> tuple[int, float] | None:
    """The comparison load: the common load with the most repeats (then the most deliveries)."""
    found = common_loads(run)
    if not found:
        return None
    return max(
        found,
        key=lambda load: (min(len(repeats(run, "broadcast", t, load)) for t in TRANSPORTS),
                          load[0] * load[1]),
    )  # fmt: skip


def widest(run: RecordedRun) -> tuple[int, float] | None:
    """The fan-out load: the common load with the most subscribers."""
    found = common_loads(run)
    return max(found, key=lambda load: (load[0], load[1])) if found else None


def at_load(
    pick: Callable[[RecordedRun], tuple[int, float] | None],
    get: Callable[[StepResult], float | None],
    p99: bool = False,
) -> Callable[[RecordedRun, str], Reading]:
    def read(run: RecordedRun, transport: str) -> Reading:
        load = pick(run)
        if load is None:
            return "no broadcast load where all three transports ran clean and unsaturated"
        steps = repeats(run, "broadcast", transport, load)
        return figure_of(steps, get, at_text(load), p99)

    return read


# -- figures -----------------------------------------------------------------------------------


def p99_ms(step: StepResult) -> float | None:
    value = p99(step)
    return None if value is None else value / 1000


def burst_at_distance(run: RecordedRun, transport: str) -> Reading:
    """Events 2–10 of a burst through the delay proxy at the run's widest round-trip time: a
    long poll answers with what it has and pays a round trip to ask for the rest."""
    steps = [s for s in run.of("delay") if float(s["params"]["rtt_ms"]) > 0]
    if not steps:
        return "no delay step with a round-trip time"
    rtt = max(float(s["params"]["rtt_ms"]) for s in steps)
    mine = [s for s in steps if s["transport"] == transport and float(s["params"]["rtt_ms"]) == rtt]
    where = f"RTT {rtt:g} ms through the delay proxy"
    if not mine:
        return f"no step at {where}"
    unfit = [s["id"] for s in mine if not clean(s)]
    if unfit:
        return f"not clean or saturated: {', '.join(unfit)}"
    values = tuple(v for s in mine for v in s.get("burst_rest_ms", []) if v is not None)
    if not values:
        return f"no burst measured at {where}"
    return Figure(values, tuple(s["id"] for s in mine), f"{where}, {len(values)} bursts",
                  *cores(mine))  # fmt: skip


def browser_code(run: RecordedRun, transport: str) -> Reading:
    """Lines of browser code the demo page needs to reconnect and resume a subscription;
    EventSource's are none, provided Chromium's own reconnection lost nothing."""
    steps = browser_steps(run, transport)
    where = "headless Chromium, the demo page's subscription code"
    if not steps:
        return "no browser step"
    step = steps[0]
    if saturated(step) is not None:
        return f"saturated: {step['id']}"
    if transport == "sse":
        retries = [r for r in (step.get("sse_reconnection") or {}).values() if isinstance(r, dict)]
        if not retries:
            return "EventSource's reconnection was not measured"
        failed = [r for r in retries if r["lost"] or not r["reconnects"]]
        if failed:
            return "EventSource lost events or did not reconnect by itself"
        return Figure((0.0,), (step["id"],), where, *cores([step]))
    lines = (step.get("recovery_code_lines") or {}).get(transport)
    if lines is None:
        return "lines of recovery code not counted"
    return Figure((float(lines),), (step["id"],), where, *cores([step]))


def proxy_steps(run: RecordedRun, transport: str, nginx: str) -> list[StepResult]:
    """Subscriptions through nginx (defaults or tuned), the SSE server sending its usual
    `X-Accel-Buffering: no`."""
    return [
        s
        for s in run.of("proxy", transport)
        if s["params"]["nginx"] == nginx and s["params"].get("sse_proxy_buffering_off", True)
    ]


def delivered_share(step: StepResult) -> float:
    """The share of events a subscriber behind the proxy received (0 when refused)."""
    if not step.get("handshake_passed"):
        return 0.0
    expected = step.get("expected") or 0
    return (step.get("delivered") or 0) / expected if expected else 0.0


def through_default_proxy(run: RecordedRun, transport: str) -> Reading:
    steps = proxy_steps(run, transport, "defaults")
    return figure_of(steps, delivered_share, "nginx with a distribution's defaults")


def kept_by_default_proxy(run: RecordedRun, transport: str) -> Reading:
    """The share of events nginx's defaults kept from the subscriber: what its author must
    configure a proxy for."""
    steps = proxy_steps(run, transport, "defaults")
    return figure_of(
        steps, lambda s: 1 - delivered_share(s), "nginx with a distribution's defaults"
    )


def events_per_cpu_ms(step: StepResult) -> float | None:
    """Events delivered per ms of CPU of the server and nginx (0 when nginx refused)."""
    if not step.get("handshake_passed"):
        return 0.0
    cpu = step.get("server_cpu_us_per_message")
    return None if not cpu else 1000 / cpu


def notifications(run: RecordedRun, transport: str) -> Reading:
    steps = proxy_steps(run, transport, "defaults")
    where = "nginx defaults"
    if steps:
        where += f", {at_text(load_of(steps[0]))}"
    return figure_of(steps, events_per_cpu_ms, where)


def paths_delivering_all(run: RecordedRun, transport: str) -> Reading:
    """Of nginx's defaults, nginx tuned and Chromium: how many delivered every event."""
    paths = {
        "nginx defaults": proxy_steps(run, transport, "defaults"),
        "nginx tuned": proxy_steps(run, transport, "tuned"),
        "Chromium": browser_steps(run, transport),
    }
    absent = [name for name, steps in paths.items() if not steps]
    if absent:
        return f"no step for {', '.join(absent)}"
    cited = [s for steps in paths.values() for s in steps]
    # A path that lost events is this figure's finding; a saturated one says nothing.
    hot = [s["id"] for s in cited if saturated(s) is not None]
    if hot:
        return f"saturated: {', '.join(hot)}"
    passed = 0
    for name, steps in paths.items():
        if name == "Chromium":
            ok = all(s.get("status") == "ok" and not s["latency"]["lost"] for s in steps)
        else:
            ok = all(s.get("handshake_passed") and delivered_share(s) == 1 for s in steps)
        passed += ok
    return Figure((float(passed),), tuple(s["id"] for s in cited),
                  "of nginx defaults, nginx tuned, Chromium", *cores(cited))  # fmt: skip


def foreign_reads(run: RecordedRun, transport: str) -> Reading:
    """Events a page of another origin read, the server checking no Origin (Chromium)."""
    steps = browser_steps(run, transport)
    if not steps:
        return "no browser step"
    if saturated(steps[0]) is not None:
        return f"saturated: {steps[0]['id']}"
    found = (steps[0].get("cross_origin") or {}).get("no_origin_check")
    if not isinstance(found, dict):
        return "the cross-origin page was not run"
    return Figure((float(found.get("events_read") or 0),), (steps[0]["id"],),
                  f"of {found.get('events_published')} published, a foreign page in Chromium",
                  *cores(steps[:1]))  # fmt: skip


def binary_overhead(run: RecordedRun, transport: str) -> Reading:
    """Wire bytes per binary event over its payload, at the run's largest binary payload."""
    binary = [s for s in run.of("broadcast") if s["params"].get("binary")]
    if not binary:
        return "no binary step"
    size = max(int(s["params"]["payload_bytes"]) for s in binary)
    mine = [
        s
        for s in binary
        if s["transport"] == transport and int(s["params"]["payload_bytes"]) == size
    ]

    def ratio(step: StepResult) -> float | None:
        total = wire(step)
        return None if total is None else total / size

    return figure_of(mine, ratio, f"binary events of {size // 1024} KiB")


def chat_steps(run: RecordedRun, transport: str, workload: str) -> list[StepResult]:
    """The chat steps of one workload: "chat" (many rooms, a message every few seconds per
    member) or "games" (a few players, many updates a second each)."""
    # The workload sets its own payload: only the server's knobs (TLS, auth...) make a variant.
    return [
        s
        for s in run.of("chat", transport)
        if s["params"].get("workload", "chat") == workload
        and not any(s["params"].get(knob) for knob in KNOBS)
    ]


def chat_where(steps: Sequence[StepResult], workload: str) -> str:
    if not steps:
        return workload
    p = steps[0]["params"]
    return (f"{workload}, {p['rooms']} rooms × {p['members_per_room']} members, "
            f"each publishing {p['member_rate']:g}/s")  # fmt: skip


def upstream_per_message(step: StepResult) -> float | None:
    """Every byte the members sent, handshakes and polls included, per message they sent."""
    total = (step.get("bytes_per_message") or {}).get("total_up")
    published = step.get("published") or 0
    return None if total is None or not published else total / published


def client_upstream(run: RecordedRun, transport: str) -> Reading:
    """What a client's own messages cost on the wire, where each member sends many: the games
    workload (in a chat at 0.5 messages/s the connections' handshakes would outweigh them)."""
    steps = chat_steps(run, transport, "games")
    return figure_of(steps, upstream_per_message, chat_where(steps, "games"))


def acknowledgement_p99(run: RecordedRun, transport: str) -> Reading:
    """p99 from an edit's scheduled send to its acknowledgement: what an editor waits for."""
    steps = chat_steps(run, transport, "collaboration")
    where = chat_where(steps, "collaboration")
    found = [s["acknowledgement_us"] for s in steps if "acknowledgement_us" in s]
    if len(found) != len(steps):
        return f"no acknowledgement measured at {where}"
    short = [s["id"] for s, a in zip(steps, found, strict=True) if a["count"] < P99_EVENTS]
    if short:
        return f"fewer than {P99_EVENTS:,} acknowledgements in {', '.join(short)}"

    def p99_of(step: StepResult) -> float | None:
        value = step["acknowledgement_us"]["p99"]
        return None if value is None else value / 1000

    return figure_of(steps, p99_of, where)


def conversation_p99(workload: str) -> Callable[[RecordedRun, str], Reading]:
    def read(run: RecordedRun, transport: str) -> Reading:
        steps = chat_steps(run, transport, workload)
        return figure_of(steps, p99_ms, chat_where(steps, workload), p99=True)

    return read


# -- the measures ------------------------------------------------------------------------------

M = Measure
WIRE = M(
    "wire_bytes",
    "wire bytes per delivered message",
    "octets sur le fil par message livré",
    "B",
    0,
    False,
    at_load(headline, wire),
)
SERVER_CPU = M(
    "server_cpu",
    "server CPU per delivered message",
    "CPU serveur par message livré",
    "µs",
    1,
    False,
    at_load(headline, cpu),
)
REQUESTS = M(
    "requests_per_message",
    "HTTP requests per delivered message",
    "requêtes HTTP par message livré",
    "",
    2,
    False,
    at_load(headline, requests_per_message),
)
FANOUT_CPU = M(
    "fanout_server_cpu",
    "server CPU per delivered message, widest fan-out",
    "CPU serveur par message livré, diffusion la plus large",
    "µs",
    1,
    False,
    at_load(widest, cpu),
)
FANOUT_P99 = M(
    "fanout_p99",
    "p99 latency, widest fan-out",
    "latence p99, diffusion la plus large",
    "ms",
    2,
    False,
    at_load(widest, p99_ms, p99=True),
)
BURST = M(
    "burst_latency",
    "latency of events 2–10 of a burst",
    "latence des événements 2 à 10 d'une rafale",
    "ms",
    1,
    False,
    burst_at_distance,
)
CODE = M(
    "browser_code_lines",
    "lines of browser code to reconnect and resume",
    "lignes de code navigateur pour se reconnecter et reprendre",
    "lines",
    0,
    True,
    browser_code,
)
PATHS = M(
    "paths_delivering_all",
    "paths that delivered every event",
    "chemins qui ont livré chaque événement",
    "",
    0,
    True,
    paths_delivering_all,
)
DEFAULT_PROXY = M(
    "default_proxy_share",
    "share of events delivered through nginx's defaults",
    "part des événements livrés à travers nginx par défaut",
    "",
    2,
    True,
    through_default_proxy,
)
PROXY_KEPT = M(
    "default_proxy_kept",
    "share of events nginx's defaults kept from the subscriber",
    "part des événements retenus par nginx par défaut",
    "",
    2,
    True,
    kept_by_default_proxy,
)
NOTIFY = M(
    "events_per_cpu_ms",
    "events delivered per ms of server and proxy CPU",
    "événements livrés par ms de CPU serveur et proxy",
    "",
    1,
    False,
    notifications,
)
FOREIGN = M(
    "foreign_reads",
    "events a foreign page read with no Origin check",
    "événements lus par une page d'une autre origine sans contrôle d'Origin",
    "",
    0,
    True,
    foreign_reads,
)
BINARY = M(
    "binary_overhead",
    "wire bytes per binary event ÷ payload",
    "octets sur le fil par événement binaire ÷ charge utile",
    "×",
    3,
    False,
    binary_overhead,
)
CLIENT_UP = M(
    "client_upstream",
    "client → server wire bytes per message a client sends",
    "octets client → serveur par message envoyé par un client",
    "B",
    0,
    False,
    client_upstream,
)
CHAT_P99 = M(
    "chat_p99",
    "p99 latency of chat messages",
    "latence p99 des messages de chat",
    "ms",
    2,
    False,
    conversation_p99("chat"),
)
EDIT_ACK_P99 = M(
    "collaboration_ack_p99",
    "p99 from an edit to its acknowledgement",
    "p99 d'une modification à son accusé de réception",
    "ms",
    2,
    False,
    acknowledgement_p99,
)
GAMES_P99 = M(
    "games_p99",
    "p99 latency of game updates",
    "latence p99 des mises à jour de jeu",
    "ms",
    2,
    False,
    conversation_p99("games"),
)

OTHERS = {t: tuple(o for o in TRANSPORTS if o != t) for t in TRANSPORTS}

ITEMS: tuple[Item, ...] = (
    Item("longpoll.universal_support", "advantage", "longpoll", "Support universel",
         "universal support", (PATHS,), "higher", OTHERS["longpoll"],
         "plain requests should pass where the streams do not"),
    Item("longpoll.simple", "advantage", "longpoll", "Simple", "simple", (CODE, PROXY_KEPT),
         "lower", OTHERS["longpoll"], "what a page's author writes for the same resumable "
         "subscription, and what a proxy left at its defaults keeps from it"),
    Item("longpoll.http_overhead", "limit", "longpoll", "Overhead HTTP", "HTTP overhead", (WIRE,),
         "higher", OTHERS["longpoll"], "a request and its headers for every batch"),
    Item("longpoll.latency", "limit", "longpoll", "Latence", "latency", (BURST,), "higher",
         OTHERS["longpoll"], "a round trip to ask again before the rest of a burst"),
    Item("longpoll.server_load", "limit", "longpoll", "Charge serveur", "server load",
         (SERVER_CPU,), "higher", OTHERS["longpoll"], "a request to parse and answer per batch"),
    Item("longpoll.legacy_notifications", "use case", "longpoll", "Notifications (legacy)",
         "legacy notifications", (NOTIFY,), "higher", OTHERS["longpoll"],
         "many clients, a low rate, a proxy left at its defaults: the pick fits best when it "
         "delivers the most per CPU there"),
    Item("sse.native_push", "advantage", "sse", "Push natif (EventSource)", "native push",
         (REQUESTS,), "lower", ("longpoll",), "the server pushes on an open response instead of "
         "answering polls"),
    Item("sse.automatic_reconnection", "advantage", "sse", "Reconnexion automatique",
         "automatic reconnection", (CODE,), "lower", OTHERS["sse"],
         "EventSource reconnects and resumes with Last-Event-ID by itself"),
    Item("sse.broadcast", "advantage", "sse", "Parfait pour le broadcast", "perfect for broadcast",
         (FANOUT_CPU,), "lower", OTHERS["sse"], "one stream to many: the cost of each delivery"),
    Item("sse.no_client_to_server", "limit", "sse", "Pas de client → serveur",
         "no client → server messages", (CLIENT_UP,), "higher", ("ws",),
         "a client's message needs a separate POST where a WebSocket sends a frame"),
    Item("sse.text_only", "limit", "sse", "Texte uniquement", "text only", (BINARY,), "higher",
         ("ws",), "binary data must travel as base64 text where a WebSocket sends binary frames"),
    Item("sse.live_monitoring", "use case", "sse", "Monitoring en direct", "live monitoring",
         (FANOUT_P99,), "lower", OTHERS["sse"],
         "one stream to a thousand viewers: the pick fits best when its p99 is the lowest"),
    Item("ws.bidirectional", "advantage", "ws", "Bidirectionnel", "bidirectional", (CLIENT_UP,),
         "lower", OTHERS["ws"], "a client's message is a frame on the open socket"),
    Item("ws.low_latency", "advantage", "ws", "Faible latence", "low latency", (BURST,), "lower",
         ("longpoll",), "a pushed event waits for no request, unlike a poll"),
    Item("ws.binary_frames", "advantage", "ws", "Frames binaires et texte",
         "binary and text frames", (BINARY,), "lower", OTHERS["ws"],
         "binary events as binary frames, not base64 text"),
    Item("ws.load_balancer", "limit", "ws", "Nécessite un load balancer compatible",
         "needs a load balancer that supports it", (DEFAULT_PROXY,), "lower", OTHERS["ws"],
         "the upgrade must be forwarded explicitly"),
    Item("ws.security", "limit", "ws", "Sécurité plus fine à gérer",
         "finer-grained security to get right", (FOREIGN,), "higher", OTHERS["ws"],
         "browsers apply no CORS to a WebSocket: the server must check Origin itself"),
    Item("ws.chat_collaboration_games", "use case", "ws", "Chat, collaboration, jeux",
         "chat, collaboration, games", (CHAT_P99, EDIT_ACK_P99, GAMES_P99), "lower",
         OTHERS["ws"],
         "everyone publishes and receives, and an edit waits for its acknowledgement: the pick "
         "fits best when its p99 is the lowest"),
)  # fmt: skip


# -- the rule ----------------------------------------------------------------------------------

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


def judge(run: RecordedRun) -> list[Judged]:
    return [judge_item(run, item) for item in ITEMS]


# -- words -------------------------------------------------------------------------------------

NAMES: dict[Lang, dict[str, str]] = {
    "en": {"longpoll": "Long polling", "sse": "SSE", "ws": "WebSocket"},
    "fr": {"longpoll": "Long polling", "sse": "SSE", "ws": "WebSocket"},
}
KINDS: dict[Lang, dict[str, str]] = {
    "en": {"advantage": "advantage", "limit": "limit", "use case": "use case"},
    "fr": {"advantage": "avantage", "limit": "limite", "use case": "cas d'usage"},
}
VERDICTS: dict[Lang, dict[str, str]] = {
    "en": {"confirmed": "confirmed", "inconclusive": "inconclusive", "refuted": "refuted",
           "not measured": "not measured"},
    "fr": {"confirmed": "confirmé", "inconclusive": "non concluant", "refuted": "réfuté",
           "not measured": "non mesuré"},
}  # fmt: skip
DIRECTIONS: dict[Lang, dict[str, str]] = {
    "en": {"higher": "higher than", "lower": "lower than", "same": "no different from"},
    "fr": {"higher": "plus haut que", "lower": "plus bas que", "same": "pas différent de"},
}
LEGEND: dict[Lang, list[str]] = {
    "en": [
        "**confirmed**: every comparison goes the way the course says (for a limit: the limit "
        "was observed);",
        "**inconclusive**: a difference inside the noise, or comparisons that disagree;",
        "**refuted**: every comparison goes the other way.",
    ],
    "fr": [
        "**confirmé** : chaque comparaison va dans le sens du cours (pour une limite : la "
        "limite a été observée) ;",
        "**non concluant** : un écart dans le bruit, ou des comparaisons qui se contredisent ;",
        "**réfuté** : chaque comparaison va dans l'autre sens.",
    ],
}


def number(value: float, digits: int, lang: Lang) -> str:
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",") if lang == "fr" else text


def figure_text(reading: Reading, measure: Measure, lang: Lang) -> str:
    if isinstance(reading, str):
        return ("missing: " if lang == "en" else "absent : ") + reading
    s = reading.spread
    unit = f" {measure.unit}" if measure.unit and measure.unit != "×" else measure.unit
    middle = number(s.median, measure.digits, lang) + unit
    if s.n == 1:
        return middle
    low, high = number(s.low, measure.digits, lang), number(s.high, measure.digits, lang)
    return f"{middle} [{low}–{high}]"


def difference_text(d: Difference, other: str, lang: Lang) -> str:
    detail = []
    if d.ratio is not None:
        detail.append(f"×{number(d.ratio, 2, lang)}")
    if d.p is not None:
        detail.append(f"p = {number(d.p, 3, lang)}")
    words = f"{DIRECTIONS[lang][d.direction]} {NAMES[lang][other]}"
    return words + (f" ({', '.join(detail)})" if detail else "")


def n_text(judged: Judged) -> str:
    """The repeats behind the figures and their interval, or `counted` for exact figures."""
    figures = judged.found
    if not figures:
        return "–"
    ns = "/".join(str(n) for n in sorted({f.spread.n for f in figures}))
    methods = sorted({f.spread.method for f in figures if f.spread.n > 1})
    return f"{ns} ({', '.join(methods)})" if methods else f"{ns} (counted)"


def cores_text(judged: Judged) -> str:
    """The busiest server and load-generator cores among the steps the figures cite."""

    def busiest(values: list[float | None]) -> str:
        found = [v for v in values if v is not None]
        return f"{max(found):.0%}".replace("%", "\u202f%") if found else "–"

    figures = judged.found
    server = busiest([f.server_core for f in figures])
    driver = busiest([f.driver_core for f in figures])
    return f"{server} / {driver}"


def row(judged: Judged, lang: Lang) -> list[str]:
    item = judged.item
    several = len(item.measures) > 1
    figures, why = [], []
    for measure in item.measures:
        name = measure.en if lang == "en" else measure.fr
        readings = judged.figures[measure.key]
        where = next((r.where for r in readings.values() if isinstance(r, Figure)), "")
        values = "; ".join(
            f"{NAMES[lang][t]} {figure_text(r, measure, lang)}" for t, r in readings.items()
        )
        figures.append(f"{name}: {values}" + (f" ({where})" if where else ""))
        for other, d in judged.differences.get(measure.key, {}).items():
            why.append((f"{name}: " if several else "") + difference_text(d, other, lang))
    return [
        KINDS[lang][item.kind],
        NAMES[lang][item.transport],
        f"{item.fr} ({item.en})" if lang == "en" else item.fr,
        " — ".join(figures),
        n_text(judged),
        cores_text(judged),
        f"**{VERDICTS[lang][judged.verdict]}**",
        "; ".join(why or judged.missing),
    ]


HEADERS: dict[Lang, list[str]] = {
    "en": ["kind", "transport", "the course says", "figure judged (median [interval])", "n",
           "busiest server / load-generator core", "verdict", "how it compares"],
    "fr": ["type", "transport", "le cours dit", "mesure jugée (médiane [intervalle])", "n",
           "cœur serveur / générateur le plus chargé", "verdict", "comparaison"],
}  # fmt: skip


def answer(judged: Sequence[Judged], lang: Lang) -> str:
    """The one-paragraph answer: per transport, what the run confirmed and what it did not."""
    sentences = []
    for t in TRANSPORTS:
        mine = [j for j in judged if j.item.transport == t]
        groups: dict[str, list[str]] = {}
        for j in mine:
            words = j.item.en if lang == "en" else j.item.fr
            groups.setdefault(j.verdict, []).append(words)
        parts = [
            f"{VERDICTS[lang][v]}: {', '.join(groups[v])}"
            for v in ("confirmed", "inconclusive", "refuted", "not measured")
            if v in groups
        ]
        sentences.append(f"**{NAMES[lang][t]}** — " + "; ".join(parts) + ".")
    counts = {v: sum(1 for j in judged if j.verdict == v) for v in VERDICTS["en"]}
    if lang == "fr":
        head = (f"Sur les {len(judged)} points du cours, cette exécution en confirme "
                f"{counts['confirmed']}, en laisse {counts['inconclusive']} non concluants et "
                f"en réfute {counts['refuted']}.")  # fmt: skip
    else:
        head = (f"Of the course's {len(judged)} items, this run confirms {counts['confirmed']}, "
                f"leaves {counts['inconclusive']} inconclusive and refutes "
                f"{counts['refuted']}.")  # fmt: skip
    if counts["not measured"]:
        head += (f" {counts['not measured']} not measured."
                 if lang == "en" else f" {counts['not measured']} non mesurés.")  # fmt: skip
    return " ".join([head, *sentences])


# -- machine-readable --------------------------------------------------------------------------


def figure_json(reading: Reading) -> dict[str, Any]:
    if isinstance(reading, str):
        return {"missing": reading}
    s = reading.spread
    return {
        "median": s.median, "low": s.low, "high": s.high, "n": s.n, "interval": s.method,
        "values": list(reading.values), "where": reading.where, "steps": list(reading.steps),
        "server_core_max": reading.server_core, "driver_core_max": reading.driver_core,
        "driver_cpu_us_per_message": reading.driver_cpu_us_per_message,
    }  # fmt: skip


def as_json(judged: Sequence[Judged]) -> list[dict[str, Any]]:
    out = []
    for j in judged:
        item = j.item
        out.append({
            "claim": item.claim, "kind": item.kind, "transport": item.transport,
            "course": {"fr": item.fr, "en": item.en}, "verdict": j.verdict,
            "expect": item.expect, "against": list(item.against), "because": item.because,
            "steps": sorted({step for f in j.found for step in f.steps}),
            "n": sorted({f.spread.n for f in j.found}),
            "figures": {
                m.key: {"name": m.en, "unit": m.unit, "counted": m.counted,
                        "transports": {t: figure_json(r) for t, r in j.figures[m.key].items()}}
                for m in item.measures
            },
            "comparisons": {
                key: {o: {"direction": d.direction, "p": d.p, "ratio": d.ratio}
                      for o, d in by.items()}
                for key, by in j.differences.items()
            },
        })  # fmt: skip
    return out


VERDICTS_SCHEMA = "rtbench.verdicts"
VERDICTS_VERSION = 1


def document(run: RecordedRun) -> dict[str, Any]:
    """`verdicts.json`: one object per claim, in the course's order."""
    return {
        "schema": VERDICTS_SCHEMA,
        "version": VERDICTS_VERSION,
        "run_id": run.data["run_id"],
        "rule": RULE,
        "claims": as_json(judge(run)),
    }


RULE = (
    f"per pair of transports, {stats.RULE}; confirmed when every pair goes the expected way, "
    "refuted when every pair goes the other way, inconclusive otherwise"
)
