"""A backfill's plan: ``[start, end)`` cut into id slices, saved so a re-run continues it.

Ids begin with their creation second, so a range of seconds is a range of ids: a slice
starts after the last possible id of the second before it and ends at the first id of
its end second.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import orjson
import structlog

from streamer.errors import ConfigError
from streamer.fsutil import write_private
from streamer.ids import id_before, synthetic_id

log = structlog.get_logger("streamer.backfill")
PLAN_FILE = "plan.json"


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice: ids of seconds ``[lo, hi)``; its name is also its checkpoint file."""

    lo: int
    hi: int

    @property
    def name(self) -> str:
        """Stable name from the bounds."""
        return f"slice-{self.lo}-{self.hi}"

    @property
    def after(self) -> str:
        """The ``after_id`` that includes the first second's events."""
        return id_before(synthetic_id(self.lo))

    @property
    def end(self) -> str:
        """First id past the slice (exclusive)."""
        return synthetic_id(self.hi)

    @property
    def last(self) -> str:
        """The cursor of a finished slice."""
        return id_before(self.end)


def split(lo: int, hi: int, parts: int) -> list[Slice]:
    """``[lo, hi)`` seconds in ``parts`` slices of (nearly) equal span, none empty."""
    parts = max(1, min(parts, hi - lo))
    bounds = [lo + (hi - lo) * i // parts for i in range(parts + 1)]
    return [Slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def plan(state_dir: Path, lo: int, hi: int, parallel: int) -> list[Slice]:
    """The slices of this range: the saved plan on a re-run, else a new one (saved)."""
    path = state_dir / PLAN_FILE
    if path.exists():
        plan = orjson.loads(path.read_bytes())
        if (plan["start"], plan["end"]) != (lo, hi):
            raise ConfigError(
                f"{state_dir} holds a backfill of another range ({plan['start']}..{plan['end']}); "
                "finish it, or pass another --state-dir"
            )
        slices = [Slice(int(a), int(b)) for a, b in plan["slices"]]
        if len(slices) != parallel:
            log.warning("backfill.plan_reused", slices=len(slices), requested=parallel)
        return slices
    slices = split(lo, hi, parallel)
    doc = {"start": lo, "end": hi, "slices": [[s.lo, s.hi] for s in slices]}
    write_private(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return slices
