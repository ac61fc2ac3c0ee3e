"""A client-side request budget: requests per second plus a concurrency cap.

LeadConduit documents no rate limit, so politeness is on us. The rate adapts: a 429, a
5xx or a sudden growth in latency halves it (down to a floor) and each success creeps it
back towards the configured ceiling, the same AIMD idea TCP uses.
"""

from __future__ import annotations

import anyio

LATENCY_GROWTH = 3.0  # a response this many times slower than usual counts as push-back
LATENCY_SAMPLES = 5  # responses seen before latency growth is judged at all


class RequestBudget:
    """Token bucket (``rate`` per second, burst 1) and a semaphore of ``concurrency``.

    Time is anyio's clock (the event loop's), so tests and the loop agree on it.
    """

    def __init__(self, rate: float | None, concurrency: int) -> None:
        self.ceiling = rate
        self.rate = rate
        self.concurrency = concurrency
        self.in_flight = 0
        self.latency: float | None = None  # moving average of response seconds
        self._samples = 0
        self._next = 0.0
        self._lock = anyio.Lock()
        self._slots = anyio.Semaphore(concurrency)

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        try:
            if self.rate is not None:
                async with self._lock:
                    now = anyio.current_time()
                    wait = self._next - now
                    self._next = max(now, self._next) + 1.0 / self.rate
                if wait > 0:
                    await anyio.sleep(wait)
        except BaseException:
            self._slots.release()
            raise
        self.in_flight += 1

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        self._slots.release()

    def backed_off(self) -> None:
        """The server pushed back: halve the rate (when a rate is configured)."""
        if self.rate is not None:
            self.rate = max(self.rate / 2, 0.1)

    def succeeded(self, seconds: float | None = None) -> None:
        """Additive increase back towards the ceiling, unless the response was much slower."""
        if seconds is not None:
            average = self.latency
            self._samples += 1
            self.latency = seconds if average is None else 0.8 * average + 0.2 * seconds
            if (
                average is not None
                and self._samples > LATENCY_SAMPLES
                and seconds > LATENCY_GROWTH * average
            ):
                self.backed_off()
                return
        if self.rate is not None and self.ceiling is not None and self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + 0.1 * self.ceiling)
