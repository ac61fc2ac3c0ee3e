"""One retry policy for every transient failure: jittered exponential backoff, forever.

Used by the API client, the sinks' writes, checkpoint saves and sink start-up, so they all
back off the same way and honour ``Retry-After`` where a server sends it. Retries are
counted by stamina's instrumentation: logged once as ``<component>.retry_scheduled`` by
:func:`streamer.observability.logs.log_retry` and counted into the metrics by the hook
:mod:`streamer.observability.metrics` installs.

A stop request must not wait out a long backoff: on SIGTERM the daemon has
``shutdown.grace`` to make its batch durable, and a store that came back during a 25 s
sleep would otherwise be noticed only after the grace. :func:`retrying` therefore cuts its
wait short when the run's :class:`Hurry` is set, and then retries at most
``HURRIED_BACKOFF`` apart until it succeeds or the grace cancels it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio
import stamina

from streamer.errors import RetriableError

T = TypeVar("T")
#: ceiling of the backoff once a stop was requested
HURRIED_BACKOFF = 1.0


def retry_hook(exc: Exception) -> bool | float:
    """Retry RetriableError (after its Retry-After when given) and timeouts; nothing else."""
    if isinstance(exc, RetriableError):
        return exc.retry_after if exc.retry_after is not None else True
    return isinstance(exc, TimeoutError)


def _capped(ceiling: float) -> Callable[[Exception], bool | float]:
    """``retry_hook``, with a server's Retry-After shortened to ``ceiling`` (when stopping)."""

    def hook(exc: Exception) -> bool | float:
        verdict = retry_hook(exc)
        return verdict if isinstance(verdict, bool) else min(verdict, ceiling)

    return hook


def backoff(
    *,
    max_backoff: float = 60.0,
    attempts: int | None = None,
    initial: float = 0.2,
    cap_retry_after: bool = False,
) -> Any:
    """``async for attempt in backoff(...): with attempt: ...``."""
    return stamina.retry_context(
        on=_capped(max_backoff) if cap_retry_after else retry_hook,
        attempts=attempts,
        timeout=None,
        wait_initial=initial,
        wait_max=max_backoff,
        wait_jitter=min(0.5, max_backoff),
    )


class Hurry:
    """Set once a stop is requested: every backoff wait of the run is cut short."""

    def __init__(self) -> None:
        self.is_set = False
        self._waiting: set[anyio.CancelScope] = set()

    def set(self) -> None:
        """Wake every retry that is waiting out its backoff; later waits stay short."""
        self.is_set = True
        for scope in list(self._waiting):
            scope.cancel()


_hurry: ContextVar[Hurry | None] = ContextVar("streamer_hurry", default=None)


@contextlib.asynccontextmanager
async def hurry_scope() -> AsyncIterator[Hurry]:
    """A Hurry for this run; tasks started inside (and their retries) see it."""
    hurry = Hurry()
    token = _hurry.set(hurry)
    try:
        yield hurry
    finally:
        _hurry.reset(token)


async def retrying(
    fn: Callable[[], Awaitable[T]],
    *,
    max_backoff: float,
    initial: float = 0.2,
    on_retry: Callable[[int], None] | None = None,
) -> T:
    """``await fn()`` until it succeeds, backing off on transient errors; a stop hurries it.

    Only the wait between attempts is cut short, never an attempt in flight.
    """
    hurry = _hurry.get()
    tried = 0
    while True:
        hurried = hurry is not None and hurry.is_set
        ceiling = min(max_backoff, HURRIED_BACKOFF) if hurried else max_backoff
        with anyio.CancelScope() as scope:
            try:
                waits = backoff(
                    max_backoff=ceiling, initial=min(initial, ceiling), cap_retry_after=hurried
                )
                async for attempt in waits:
                    if hurry is not None:
                        hurry._waiting.discard(scope)
                    tried += 1
                    if tried > 1 and on_retry is not None:
                        on_retry(tried)
                    with attempt:
                        return await fn()
                    if hurry is not None and not hurried:
                        if hurry.is_set:
                            break  # a stop came in during the attempt: retry now, hurried
                        hurry._waiting.add(scope)
            finally:
                if hurry is not None:
                    hurry._waiting.discard(scope)
