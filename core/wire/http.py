"""A small sans-I/O HTTP/1.1 response reader and request builder for the measuring clients.

The lean driver speaks HTTP over raw sockets so that what it costs per message stays small and
what it counts on the wire is exact. Feed it the bytes a socket received; it returns the
response head, body pieces (Content-Length or chunked framing removed) and the end of each
response, in order, for any number of responses on a keep-alive connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from core.errors import ProtocolError

MAX_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""


@dataclass(slots=True)  # not frozen: a frozen init costs twice as much, once per message read
class Body:
    data: bytes


@dataclass(frozen=True, slots=True)
class End:
    pass


ResponseEvent: TypeAlias = Head | Body | End
END = End()


def encode_head(status_line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A response's status line and header fields, up to the blank line that ends them."""
    return status_line + b"".join(b"%s: %s\r\n" % pair for pair in headers) + b"\r\n"


def encode_chunk(data: bytes) -> bytes:
    """One piece of a chunked body (RFC 9112 §7.1): its size in hex, CRLF, the bytes, CRLF."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def build_request(
    method: str, target: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ResponseReader:
    def __init__(self) -> None:
        self._buf = b""
        self._state = (
            "head"  # head | length | chunk-size | chunk-data | chunk-end | trailer | close
        )
        self._remaining = 0

    def feed(self, data: bytes) -> list[ResponseEvent]:
        whole = self.whole_chunk(data)
        if whole is not None:
            return [Body(whole)]
        buf = self._buf + data if self._buf else data
        out: list[ResponseEvent] = []
        pos = 0
        size = len(buf)
        while pos < size or (self._state == "length" and self._remaining == 0):
            state = self._state
            if state == "head":
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    if size - pos > MAX_HEAD:
                        raise ProtocolError(f"expected a response head under {MAX_HEAD} bytes")
                    break
                head, framing, length = parse_head(buf[pos:end])
                out.append(head)
                pos = end + 4
                if framing == "chunked":
                    self._state = "chunk-size"
                elif framing == "length":
                    self._state, self._remaining = "length", length
                else:
                    self._state = "close"
            elif state == "length":
                take = min(self._remaining, size - pos)
                if take:
                    out.append(Body(buf[pos : pos + take]))
                    pos += take
                    self._remaining -= take
                if self._remaining == 0:
                    out.append(END)
                    self._state = "head"
            elif state == "chunk-size":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                text = buf[pos:end].split(b";", 1)[0].strip()
                try:
                    self._remaining = int(text, 16)
                except ValueError:
                    raise ProtocolError(f"expected a hex chunk size, got {text[:20]!r}") from None
                pos = end + 2
                chunk_end = pos + self._remaining
                if self._remaining and buf[chunk_end : chunk_end + 2] == b"\r\n":
                    # The whole chunk is here (the usual case for a stream of small events).
                    out.append(Body(buf[pos:chunk_end]))
                    pos = chunk_end + 2
                    continue
                self._state = "chunk-data" if self._remaining else "trailer"
            elif state == "chunk-data":
                take = min(self._remaining, size - pos)
                out.append(Body(buf[pos : pos + take]))
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "chunk-end"
            elif state == "chunk-end":
                if size - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ProtocolError(f"expected CRLF after a chunk, got {buf[pos : pos + 2]!r}")
                pos += 2
                self._state = "chunk-size"
            elif state == "trailer":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                if end == pos:  # the blank line that ends the trailer section
                    out.append(END)
                    self._state = "head"
                pos = end + 2
            else:  # body delimited by the connection closing
                out.append(Body(buf[pos:]))
                pos = size
        self._buf = buf[pos:]
        return out

    def between_chunks(self) -> bool:
        """Whether the next byte fed starts a chunk's size line, with nothing held back."""
        return self._state == "chunk-size" and not self._buf

    def whole_chunk(self, data: bytes) -> bytes | None:
        """The data of `data` when the reader is between two chunks of a body and `data` is
        exactly one whole non-empty chunk (a stream of small events arrives so, a read each),
        read without the state machine; else None, and nothing is read."""
        if not self.between_chunks():
            return None
        bounds = one_chunk(data)
        return None if bounds is None else data[bounds[0] : bounds[1]]


def one_chunk(data: bytes) -> tuple[int, int] | None:
    """Where the data of `data` starts and ends when `data` is exactly one whole non-empty
    chunk of a chunked body (RFC 9112 §7.1: size in hex, CRLF, the bytes, CRLF); else None."""
    head = data.find(b"\r\n", 0, 18)
    if head <= 0 or not data.endswith(b"\r\n"):
        return None
    try:
        length = int(data[:head], 16)
    except ValueError:  # an extension or a bad size: the state machine says which
        return None
    if length and len(data) == head + length + 4:
        return head + 2, head + 2 + length
    return None


def parse_head(raw: bytes) -> tuple[Head, str, int]:
    """A response head without its blank line: the head, how its body is framed (`chunked`,
    `length` or `close`) and the length for `length`."""
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"expected an HTTP/1.x status line, got {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"expected a header line 'name: value', got {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    status = int(parts[1])
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Head(status, headers), "chunked", 0
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ProtocolError(f"expected a numeric content-length, got {length[:20]!r}")
        return Head(status, headers), "length", int(length)
    if status in (101, 204, 304) or 100 <= status < 200:
        return Head(status, headers), "length", 0
    return Head(status, headers), "close", 0
