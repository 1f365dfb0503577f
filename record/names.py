"""The servers a run measures, by the names a results file gives them: rtbench's three
transports and the reference peers. The load side starts them by these names; the report
orders its tables and charts by them."""

from __future__ import annotations

TRANSPORTS = ("longpoll", "sse", "ws")
"""The subscribe transports, in the order every table and chart shows them."""
PEERS = ("bare-ws", "picows", "socketio-ws", "socketio-polling")
"""Reference peers (`python -m peers NAME`): servers that are not ours, measured alike."""
WS_PEERS = ("bare-ws", "picows")
"""Peers speaking our WebSocket contract (`/rooms/{room}/ws`, our event frames)."""
