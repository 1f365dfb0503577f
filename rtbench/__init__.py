"""rtbench: long polling, Server-Sent Events or WebSockets, measured. `rtbench --help`."""
