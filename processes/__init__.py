"""The processes the harness starts and stops: any child (`ChildProcess`: its environment,
CPU pinning, and a stop that always happens), a server of ours or a peer's on an ephemeral
loopback port (`ServerProcess`), and real redis-server and nginx (`services`). Tests, the bench
and the tools use them alike; the servers themselves never do."""
