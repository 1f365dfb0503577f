"""Publishing over HTTP: `POST /rooms/{room}/events {"data": ...}` → the event's id."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Self

import httpx

from clients.aio.errors import RequestRefused
from core import JSON
from core.decoding import BINARY_MEDIA_TYPE
from core.events import dump_json
from core.urls import events_path, room_path


class Publisher:
    def __init__(
        self,
        base_url: str,
        *,
        connections: int = 10,
        token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            timeout=10.0,
            limits=httpx.Limits(max_connections=connections),
            headers=headers,
            verify=ssl.create_default_context(cafile=ca_file) if ca_file else True,
        )

    async def publish(self, room: str, data: JSON | bytes) -> int:
        """Publish JSON data, or bytes as a binary event (`application/octet-stream`)."""
        if isinstance(data, bytes):
            response = await self.post(room, data, BINARY_MEDIA_TYPE)
        else:
            response = await self.post(room, dump_json({"data": data}))
        if response.status_code != 201:
            raise RequestRefused(response.status_code, response.text)
        event_id = response.json()["id"]
        assert isinstance(event_id, int)
        return event_id

    async def post(
        self, room: str, body: bytes, content_type: str = "application/json"
    ) -> httpx.Response:
        """Send any body as is (tests of malformed input)."""
        return await self._client.post(
            self.base_url + events_path(room),
            content=body,
            headers={"content-type": content_type},
        )

    async def last_id(self, room: str) -> int:
        response = await self._client.get(self.base_url + room_path(room))
        if response.status_code != 200:
            raise RequestRefused(response.status_code, response.text)
        last_id = response.json()["last_id"]
        assert isinstance(last_id, int)
        return last_id

    async def status(self) -> dict[str, JSON]:
        response = await self._client.get(f"{self.base_url}/status")
        response.raise_for_status()
        status: dict[str, JSON] = response.json()
        return status

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
