"""Reconnection delays: capped exponential backoff with full jitter.

Full jitter (a uniform draw below the exponential cap) spreads a crowd of clients that lost the
same server, so they do not all return in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.1
    maximum: float = 10.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum or self.multiplier < 1:
            raise ConfigError(
                "expected 0 < initial <= maximum and multiplier >= 1, "
                f"got initial={self.initial}, maximum={self.maximum}, multiplier={self.multiplier}"
            )

    def cap(self, attempt: int) -> float:
        """Upper bound of the delay before retry number `attempt` (0-based)."""
        return min(self.maximum, self.initial * self.multiplier ** min(attempt, 64))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return (rng or random).uniform(0, self.cap(attempt))
