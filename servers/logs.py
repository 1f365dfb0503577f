"""Structured logging: one JSON object per line (or plain text), fields passed as `extra`."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}

_TOKEN = re.compile(r"([?&]token=)[^&\s\"'\\]*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def scrub(text: str) -> str:
    """A log line without the tokens a query string carried (`?token=…`, which is how a
    browser's EventSource and WebSocket authenticate), whoever logged it: uvicorn's own
    `"WebSocket /path?query" [accepted]` included."""
    return _TOKEN.sub(r"\1***", text)


def one_line(text: str) -> str:
    """Control characters escaped: a `%0A` a client put in its path cannot forge a line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        text = one_line(f"{stamp} {record.levelname:<7} {record.getMessage()} {fields}".rstrip())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return scrub(text)


def configure(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Readiness and shutdown are always logged: supervisors and the bench wait for them.
    logging.getLogger("rtbench.lifecycle").setLevel(logging.INFO)
    # uvicorn's per-request access log would double the server's work under load.
    logging.getLogger("uvicorn.access").disabled = True
