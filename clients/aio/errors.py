"""Errors the asyncio clients raise for refused requests."""

from __future__ import annotations


class RequestRefused(Exception):
    """The server answered a request with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body
