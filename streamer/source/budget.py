"""A client-side request budget: requests per second plus a concurrency cap.

LeadConduit documents no rate limit, so politeness is on us. The rate adapts: a 429 or
5xx halves it (down to a floor) and each success creeps it back towards the configured
ceiling, the same AIMD idea TCP uses.
"""

from __future__ import annotations

import time

import anyio


class RequestBudget:
    """Token bucket (``rate`` per second, burst 1) and a semaphore of ``concurrency``."""

    def __init__(self, rate: float | None, concurrency: int) -> None:
        self.ceiling = rate
        self.rate = rate
        self._next = 0.0
        self._lock = anyio.Lock()
        self._slots = anyio.Semaphore(concurrency)

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        if self.rate is None:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + 1.0 / self.rate
        if wait > 0:
            await anyio.sleep(wait)

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()

    def backed_off(self) -> None:
        """The server pushed back: halve the rate (when a rate is configured)."""
        if self.rate is not None:
            self.rate = max(self.rate / 2, 0.1)

    def succeeded(self) -> None:
        """Additive increase back towards the configured ceiling."""
        if self.rate is not None and self.ceiling is not None and self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + 0.1 * self.ceiling)
