"""The browser demo page, served as static files by every server (no CDN: it works offline).

The page is the same wire contract as every other client; the headers below make the browser
refuse inline script and foreign origins, a second line of defence behind rendering event text
with `textContent`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from servers.asgi import Message, Receive, Scope, Send

PAGE_DIR = Path(__file__).parent / "static" / "demo"

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class DemoPage:
    """Static files with the security headers added to every response."""

    def __init__(self, directory: Path = PAGE_DIR) -> None:
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.files(scope, receive, send_with_headers)


async def to_demo(request: Request) -> Response:
    return RedirectResponse("/demo/", status_code=307)


def routes() -> list[BaseRoute]:
    return [Route("/", to_demo, methods=["GET"]), Mount("/demo", app=DemoPage())]
