"""The servers a run measures, by the names a results file gives them: rtbench's three
transports and the reference peers. The load side starts them by these names; the report
orders its tables and charts by them."""

from __future__ import annotations

TRANSPORTS = ("longpoll", "sse", "ws")
"""The subscribe transports, in the order every table and chart shows them."""
NCHAN_PEERS = ("nchan-longpoll", "nchan-sse", "nchan-ws")
"""Nchan (nginx's pub/sub module, in C) on each of its subscriber protocols."""
PEERS = ("bare-ws", "picows", "socketio-ws", "socketio-polling", *NCHAN_PEERS)
"""Reference peers (`python -m peers NAME`): servers that are not ours, measured alike."""
PEER_TRANSPORTS = {
    "bare-ws": "ws",
    "picows": "ws",
    "socketio-ws": "ws",
    "socketio-polling": "longpoll",
    "nchan-longpoll": "longpoll",
    "nchan-sse": "sse",
    "nchan-ws": "ws",
}
"""Each peer's transport: which of ours it is compared with."""
WS_PEERS = ("bare-ws", "picows")
"""Peers speaking our WebSocket contract (`/rooms/{room}/ws`, our event frames)."""
