"""Clocks a test moves instead of sleeping, and a switch that skips retry backoff waits.

Product code that reads time takes a ``clock`` (a ``Callable[[], float]``): the simulator
(``start_simulator(clock=)``), the daemon's lag-window re-check (``run(clock=)``), the
batcher, the poller, progress. A test passes one of these and moves time itself:

- :class:`ManualClock` stands still until the test sets or advances it (unit tests);
- :class:`JumpClock` follows the wall clock, optionally faster, plus an offset the test
  moves forward (a downtime "lasts" minutes without the test waiting for it), for tests
  where a real daemon and the simulator must agree on the time.

Retry backoff sleeps come from stamina; :func:`no_backoff` switches them off through
stamina's own testing mode (waits are zero; attempts keep their limit, or stay unbounded), for
tests that inject transient faults and assert what is retried, never how long it waited.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import stamina

__all__ = ["JumpClock", "ManualClock", "no_backoff"]

UNBOUNDED = 1_000_000
"""Attempts under stamina's testing mode: the product's retries are unbounded too."""


class ManualClock:
    """A clock that reads ``now`` and moves only when the test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    @classmethod
    def at_wall_time(cls) -> ManualClock:
        """A manual clock starting at the current wall-clock time (ids and dates look real)."""
        return cls(time.time())

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.now += seconds

    def __call__(self) -> float:
        return self.now


class JumpClock:
    """Wall time, running ``factor`` times faster, plus an ``offset`` the test moves forward."""

    def __init__(self, factor: float = 1.0) -> None:
        self.offset = 0.0
        self.factor = factor
        self.t0 = time.time()

    def advance(self, seconds: float) -> None:
        """Jump forward by ``seconds`` at once (a downtime or an outage without waiting)."""
        self.offset += seconds

    def __call__(self) -> float:
        return self.t0 + (time.time() - self.t0) * self.factor + self.offset


@contextlib.contextmanager
def no_backoff() -> Iterator[None]:
    """Within the block, every stamina retry waits zero seconds (Retry-After included)."""
    with stamina.set_testing(True, attempts=UNBOUNDED, cap=True):
        yield
