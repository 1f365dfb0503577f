"""Question 1 of the course, as data: eighteen items, each judged from the run by one rule
(`report.claims`). No verdict text is written by hand and no tie leans either way. A figure
may cite only steps that ran clean and unsaturated (server core ≤ 80 %, driver core ≤ 70 %),
and a p99 only repeats of at least 1,000 events (`report.readings`); where no such step exists
the item says what is missing.
"""

from __future__ import annotations

from typing import Any

from record import TRANSPORTS, RecordedRun
from report.claims import RULE, Item, Judged, Measure, judge_item
from report.readings import (
    acknowledgement_p99,
    at_load,
    binary_overhead,
    browser_code,
    burst_at_distance,
    client_upstream,
    conversation_p99,
    foreign_reads,
    headline,
    kept_by_default_proxy,
    notifications,
    p99_ms,
    paths_delivering_all,
    through_default_proxy,
    widest,
)
from report.selection import cpu, requests_per_message, wire
from report.verdicts import as_json

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


def judge(run: RecordedRun) -> list[Judged]:
    """Every item of Question 1, in the course's order."""
    return [judge_item(run, item) for item in ITEMS]


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
