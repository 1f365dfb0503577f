"""Reference peers: servers that are not ours, measured by the same driver in the same run.

`bare-ws` is the `websockets` library's own asyncio server with `websockets.broadcast`, `picows`
the Cython server picows with its synchronous send (no ASGI, no Starlette either): the lower
bounds of WebSocket fan-out in Python. `socketio-ws` and
`socketio-polling` are one python-socketio server under uvicorn, reached over Engine.IO's
WebSocket or its long polling. Each accepts the same publish API as rtbench's servers.
"""

from record import PEERS

__all__ = ["PEERS"]
