"""JSON in and out: fast where it is safe, faithful everywhere.

- `dumps` encodes through orjson (several times faster) and falls back to the standard library
  for what orjson refuses (integers beyond 64 bits, non-string keys, lone surrogates), so any
  value a publisher sent is delivered unchanged.
- `loads` is the standard library, strict: NaN and Infinity are not JSON. It keeps big integers
  exact, which orjson does not (it turns them into floats), so it parses what publishers send.
- `loads_fast` is orjson, for the measuring clients that parse the harness's own payloads.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency
    orjson = None  # type: ignore[assignment]


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (no ASCII escaping, no spaces)."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:
            pass
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate: only an escape can carry it
        return json.dumps(value, separators=(",", ":")).encode()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"the non-standard constant {name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
"""One decoder for every call: `json.loads` with an argument builds a new one each time."""


def loads(raw: bytes | bytearray | str) -> Any:
    """`json.loads(raw, parse_constant=...)`, byte for byte: bytes in UTF-8, -16 or -32, a
    BOM refused in a str."""
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        return _DECODER.decode(raw)
    return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


loads_fast = orjson.loads if orjson is not None else loads
