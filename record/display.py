"""How a recorded figure is written for people: one vocabulary for the report, the compare, the
verdicts and the run's terminal summary. A missing figure is a dash, never a zero."""

from __future__ import annotations

from typing import Literal

MISSING = "–"


def num(value: float | None, unit: str = "", digits: int = 0) -> str:
    """`12,345.6 µs`: thousands grouped, `digits` after the point."""
    return MISSING if value is None else f"{value:,.{digits}f}{unit}"


def ms(us: float | None) -> str:
    """Microseconds as milliseconds, two digits."""
    return MISSING if us is None else f"{us / 1000:.2f} ms"


def us(value: float | None) -> str:
    return num(value, " µs", 1)


def pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%}"


def number(value: float, digits: int, lang: Literal["en", "fr"] = "en") -> str:
    """A number in the reader's language: `1,234.5` or `1 234,5` (a narrow no-break space)."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",") if lang == "fr" else text
