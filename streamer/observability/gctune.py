"""Garbage-collector settings for the steady state of a run.

Everything built at start-up (modules, the cloud SDKs' service models, settings) lives
until exit, and the objects of a page die young and hold no cycles (they are freed by
reference counting). With the default settings the collector keeps re-scanning both:
every full collection walks all start-up objects, and a page's dicts are scanned in
generation 0 while they are still in use. So, while the pipeline runs, start-up objects
are frozen (``gc.freeze``: never scanned) and the young generation is collected less
often. Cyclic garbage is still collected, just in larger steps; memory stays bounded.

Start-up is the same story in short: ``streamer run`` imports ~1,000 modules (pydantic,
the cloud SDKs) whose objects all live until exit, and every collection while they load
re-scans a growing heap for nothing (~0.13 s of CPU with both clouds, issue 17). So the
command pauses the collector until the modules it needs are imported, then freezes them
and collects again (:func:`pause`, :func:`resume`).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: objects allocated (net) before a young collection; the default is 700
YOUNG_THRESHOLD = 50_000


def pause() -> None:
    """Start-up of a process: no cyclic collection until :func:`resume`."""
    gc.disable()


def resume() -> None:
    """End of start-up: freeze what is loaded (never scanned again), collect again.

    Does nothing unless :func:`pause` ran (tests and embedders keep their collector).
    """
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()


@contextlib.contextmanager
def steady_state() -> Iterator[None]:
    """Freeze what exists now and collect less often; restore both on exit."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
