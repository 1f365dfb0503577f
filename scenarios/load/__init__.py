"""The load programs: each runs as its own process (`python -m scenarios.load.NAME`), pinned to
the driver core, and speaks JSON lines to the orchestrator (`scenarios.ipc`).

- `driver`: N subscribers of one transport, raw latency samples, wire bytes (with
  `recording`, what it keeps of each delivery, and `members`, the chat's sending side);
- `publisher`: events on an open-loop schedule;
- `null_server`: each transport's floor, for the baseline (pinned to the server core);
- `delayproxy`: a TCP proxy that holds every chunk for a fixed time;
- `browser`: headless Chromium with the web platform's own clients;
- `locustfiles/`: Locust users, run by Locust itself.

A kind starts one by passing the imported module (`Fixtures.worker(driver, ...)`), so the
import shows who runs what. This package imports none of them: each process loads only its own.
"""
