"""One retry policy for every transient failure: jittered exponential backoff, forever.

Used by the API client, the sinks' writes, checkpoint saves and sink start-up, so they all
back off the same way and honour ``Retry-After`` where a server sends it. Retries are
counted by stamina's instrumentation: logged once as ``<component>.retry_scheduled`` by
:func:`streamer.logs.log_retry` and counted into the metrics by the hook
:mod:`streamer.metrics` installs.
"""

from __future__ import annotations

from typing import Any

import stamina

from streamer.errors import RetriableError


def retry_hook(exc: Exception) -> bool | float:
    """Retry RetriableError (after its Retry-After when given) and timeouts; nothing else."""
    if isinstance(exc, RetriableError):
        return exc.retry_after if exc.retry_after is not None else True
    return isinstance(exc, TimeoutError)


def backoff(
    *, max_backoff: float = 60.0, attempts: int | None = None, initial: float = 0.2
) -> Any:
    """``async for attempt in backoff(...): with attempt: ...``."""
    return stamina.retry_context(
        on=retry_hook,
        attempts=attempts,
        timeout=None,
        wait_initial=initial,
        wait_max=max_backoff,
        wait_jitter=min(0.5, max_backoff),
    )
