"""Counters every server keeps; `/status` reads them (Prometheus export builds on the same)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateWindow:
    """Events counted per second over the last `seconds`; clock passed in, so it stays pure."""

    seconds: int = 60
    _slots: list[int] = field(default_factory=list)
    _slot_second: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._slots = [0] * self.seconds
        self._slot_second = [-1] * self.seconds

    def add(self, now_s: float, count: int = 1) -> None:
        second = int(now_s)
        index = second % self.seconds
        if self._slot_second[index] != second:
            self._slot_second[index] = second
            self._slots[index] = 0
        self._slots[index] += count

    def total(self, now_s: float) -> int:
        """Events in the last `seconds` whole seconds, the current one included."""
        oldest = int(now_s) - self.seconds + 1
        return sum(n for n, s in zip(self._slots, self._slot_second, strict=True) if s >= oldest)


@dataclass(slots=True)
class Stats:
    published: int = 0
    delivered: int = 0
    dropped_subscribers: int = 0
    connections_opened: int = 0
    connections_closed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)
    published_window: RateWindow = field(default_factory=RateWindow)

    @property
    def connections(self) -> int:
        return self.connections_opened - self.connections_closed
