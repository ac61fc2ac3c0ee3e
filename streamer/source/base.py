"""The Source protocol: an async stream of pages from where the checkpoint left off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from streamer.pipeline.dedupe import DedupeWindow
from streamer.records import Page


class Source(Protocol):
    """Yields pages in id order; late re-check pages carry ``late=True``.

    ``known`` is the dedupe set (ids already delivered or in flight); the source adds
    every id it yields to it, so a re-scan never delivers an id twice.
    """

    def pages(
        self, cursor: str, known: DedupeWindow, settled: str | None = None
    ) -> AsyncIterator[Page]:
        """Pages after ``cursor``, forever; late ones looked for above ``settled``."""
        ...
