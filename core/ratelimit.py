"""Token buckets: a steady rate with room for bursts, per connection or per client address.

Sans-I/O: the caller passes the clock, so tests drive time and the servers pass
`time.monotonic()`. A table of buckets keyed by client address is bounded: when full, the
least recently used address is forgotten (it starts again with a full bucket, which errs on the
side of serving a client rather than punishing a stranger).
"""

from __future__ import annotations

from collections import OrderedDict

from core.errors import RateLimited


class TokenBucket:
    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Spend `cost` tokens: 0.0 when allowed, else the seconds until they would be there."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def check(self, now: float, what: str) -> None:
        """Spend one token or raise RateLimited saying what was limited and for how long."""
        wait = self.take(now)
        if wait:
            raise RateLimited(
                f"expected at most {self.rate:g} {what} per second (burst {self.burst:g}), "
                f"got more: retry in {wait:.2f} s",
                retry_after=wait,
            )


class BucketTable:
    """One bucket per key (a client address), at most `capacity` keys."""

    def __init__(self, rate: float, burst: float, capacity: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str, now: float, what: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.check(now, what)
