"""The transform stage: project, redact and reshape events without mutating the input.

Steps run in a fixed order, so the paths in every list name fields as the event arrived:
include -> exclude -> mask -> hash -> rename -> set. (Chain two transform stages for a
different order.) Each step copies only the containers on the paths it changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from streamer.rules.values import MISSING
from streamer.source.decode import PartialEvent
from streamer.stages import _paths
from streamer.stages._rawedit import RawEdits, supported
from streamer.stages._redact import hasher, mask
from streamer.stages.config import TransformSpec

_ID = ("id",)
Edit = Callable[[Any, str], Any]


def _delete(_value: Any, _key: str) -> Any:
    return _paths.DELETE


class TransformStage:
    """Applies one ``transform:`` block; never drops an event."""

    def __init__(self, spec: TransformSpec, *, name: str, salt: str | None = None) -> None:
        self.name = name
        self._include = [_paths.split(p) for p in spec.include]
        if self._include and _ID not in self._include:
            self._include.append(_ID)
        edits: list[tuple[_paths.Parts, Edit]] = []
        edits += [(_paths.split(p), _delete) for p in spec.exclude]
        edits += [(_paths.split(p), mask) for p in spec.mask]
        if spec.hash:
            if salt is None:
                raise ValueError(f"{name}: hash needs a salt: set hash_salt (or hash_salt_file)")
            digest = hasher(salt)
            edits += [(_paths.split(p), digest) for p in spec.hash]
        self._edits = edits
        self._renames = [(_paths.split(a), _paths.split(b)) for a, b in spec.rename.items()]
        self._sets = [(_paths.split(p), v) for p, v in spec.set.items()]
        raw_ok = not (self._include or self._renames or self._sets)
        raw_ok = raw_ok and all(supported(parts) for parts, _fn in edits)
        #: the same edits on raw JSON (see ``_rawedit``), when this transform allows it
        self.raw_edits = RawEdits(edits) if raw_ok else None

    def process_raw(self, event: PartialEvent) -> PartialEvent | None:
        """``process`` on a partial event's raw JSON; None: use ``process`` on it whole."""
        return None if self.raw_edits is None else self.raw_edits.apply(event)

    def process(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """Return the transformed event (a new dict; ``event`` is left untouched)."""
        out = _paths.project(event, self._include) if self._include else event
        for parts, fn in self._edits:
            out = _paths.edit(out, _paths.rooted(out, parts), fn)
        for src, dst in self._renames:
            src = _paths.rooted(out, src)
            value = _paths.get(out, src)
            if value is MISSING:
                continue
            out = _paths.edit(out, src, _delete)
            out = _paths.assign(out, _paths.rooted(out, dst), value)
        for parts, value in self._sets:
            if isinstance(value, dict | list):
                value = copy.deepcopy(value)
            out = _paths.assign(out, _paths.rooted(out, parts), value)
        return dict(out) if out is event else out
