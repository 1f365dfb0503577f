"""The server's log lines: one line per record whatever a client put in its request, and no
token a query string carried."""

from __future__ import annotations

import json
import logging

from servers.logs import JSONFormatter, TextFormatter


def record(message: str, **fields: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "rtbench.server", "levelname": "WARNING",
                                  "msg": message, "args": ()})  # fmt: skip
    made.__dict__.update(fields)
    return made


def test_a_newline_in_a_path_cannot_forge_a_text_log_line() -> None:
    line = TextFormatter().format(record("refused", path="/rooms/a\nINFO    forged line"))
    assert "\n" not in line and "\\x0aINFO    forged line" in line


def test_query_string_tokens_are_masked_in_both_formats() -> None:
    message = '"WebSocket /rooms/a/ws?after=0&token=eyJ.secret.sig" [accepted]'
    for formatter in (TextFormatter(), JSONFormatter()):
        line = formatter.format(record(message, url="/rooms/a/sse?token=eyJ.secret.sig"))
        assert "eyJ.secret.sig" not in line and line.count("token=***") == 2
    assert json.loads(JSONFormatter().format(record(message)))["event"].endswith("[accepted]")
