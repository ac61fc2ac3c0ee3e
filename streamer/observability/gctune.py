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

The C allocator has the same problem one level down: every page body is a few MB (the
socket reads, h11's buffer, the joined body), and glibc's default thresholds hand such
blocks back to the kernel as soon as they are freed, so every page faults ~6 MB of fresh
memory in again (~1,600 page faults and ~3 ms of CPU per 1000-event page in a fetch
loop, more than the fetch itself). :func:`keep_freed_memory` lets the heap keep up to
:data:`TRIM_THRESHOLD` of freed memory for the next page (glibc only; elsewhere nothing).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

#: objects allocated (net) before a young collection; the default is 700
YOUNG_THRESHOLD = 50_000
#: blocks from this size on get their own mapping (glibc's default adapts between
#: 128 KiB and 32 MiB, and a fixed value keeps it from adapting, hence the trim below)
MMAP_THRESHOLD = 16 * 1024 * 1024
#: freed memory at the top of the heap kept for reuse instead of returned to the kernel
TRIM_THRESHOLD = 32 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_malloc_tuned = False


def keep_freed_memory() -> None:
    """Let glibc keep freed page-sized blocks for reuse (see the module docstring).

    Process-wide and once: the peak memory does not grow (the blocks are reused, not
    added), only up to :data:`TRIM_THRESHOLD` of it stays mapped while idle.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    with contextlib.suppress(OSError, AttributeError, ValueError):
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
        import ctypes  # only here: not worth its import time for other commands

        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


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
    keep_freed_memory()
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
