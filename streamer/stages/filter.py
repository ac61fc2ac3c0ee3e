"""The filter stage: LeadConduit rule sets deciding which events continue."""

from __future__ import annotations

import operator
from itertools import repeat
from typing import Any

from streamer.stages.config import FilterSpec


class FilterStage:
    """``action: keep`` passes matching events on; ``action: drop`` removes them.

    Kept events are returned as the same object (no copy): a filter never changes data.
    """

    def __init__(self, spec: FilterSpec, *, name: str) -> None:
        self.name = name
        self.action = spec.action
        self._matches = spec.compiled.matches
        self._matches_page = spec.compiled.matches_page
        self._keep_on_match = spec.action == "keep"

    def process(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Return ``event`` if it survives, None to drop it."""
        return event if self._matches(event) is self._keep_on_match else None

    def verdicts(self, events: list[dict[str, Any]]) -> list[bool]:
        """Whether each event survives: ``process`` for a page, its rule set answered
        page-wide (``CompiledRuleSet.matches_page``)."""
        return list(map(operator.is_, self._matches_page(events), repeat(self._keep_on_match)))
