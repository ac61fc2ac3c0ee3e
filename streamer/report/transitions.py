"""Lead outcome transitions, in the shape of Close's lead status change report (seeds 001/003).

A lead's *status* at a moment is the ``outcome`` of its latest in-scope event created
before that moment (ids order events; their second is the event time). ``started`` is the
status just before T1, ``ended`` the status just before T2 (the range is ``[T1, T2)``).
A *transition* is a change of status between consecutive in-scope events; a lead whose
first in-scope event is inside the range comes from ``null`` (Close's "created" leads).

Events arrive in no particular order (objects are read concurrently), so per lead we keep
the latest status before T1 and the ``(id, status)`` pairs inside the range, and order
them only when the report is built. Memory is proportional to in-scope events in the
range, not to the archive.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamer.ids import id_seconds
from streamer.pipeline.layout import NO_LEAD, lead_id
from streamer.rules import CompiledRuleSet

Event = dict[str, Any]
Status = str | None
STATUS_ORDER = ("success", "failure", "error", "skip", "continue", "stop")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which events set a lead's status: event types, one recipient, and/or a rule set."""

    types: frozenset[str] = frozenset()
    recipient_id: str | None = None
    rules: CompiledRuleSet | None = None

    def has(self, event: Event) -> bool:
        """Whether ``event`` is in scope."""
        if self.types and event.get("type") not in self.types:
            return False
        if self.recipient_id is not None:
            vars_ = event.get("vars")
            rec = vars_.get("recipient") if isinstance(vars_, dict) else None
            if not isinstance(rec, dict) or rec.get("id") != self.recipient_id:
                return False
        return self.rules is None or self.rules.matches(event)


@dataclass
class _Lead:
    before_id: str = ""
    before: Status = None
    during: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class TransitionTracker:
    """Collects in-scope events for ``[start, end)`` and builds the report."""

    start: float
    end: float
    scope: Scope = field(default_factory=Scope)
    leads: dict[str, _Lead] = field(default_factory=dict)
    events_in_scope: int = 0

    def add(self, events: list[Event]) -> None:
        """Account for a batch of events created before ``end`` (older ones set ``started``)."""
        for event in events:
            if not self.scope.has(event):
                continue
            lead = lead_id(event)
            outcome = event.get("outcome")
            if lead == NO_LEAD or not isinstance(outcome, str):
                continue
            eid: str = event["id"]
            sec = id_seconds(eid)
            if sec >= self.end:
                continue
            self.events_in_scope += 1
            state = self.leads.get(lead)
            if state is None:
                state = self.leads[lead] = _Lead()
            if sec < self.start:
                if eid > state.before_id:
                    state.before_id, state.before = eid, outcome
            else:
                state.during.append((eid, outcome))

    def state(self) -> tuple[dict[str, _Lead], int]:
        """What :meth:`merge` takes: picklable, so worker processes can return it."""
        return self.leads, self.events_in_scope

    def merge(self, state: tuple[dict[str, _Lead], int]) -> None:
        """Fold another tracker's leads (same range and scope) into this one."""
        leads, in_scope = state
        for lead, other in leads.items():
            mine = self.leads.get(lead)
            if mine is None:
                self.leads[lead] = other
                continue
            if other.before_id > mine.before_id:
                mine.before_id, mine.before = other.before_id, other.before
            mine.during.extend(other.during)
        self.events_in_scope += in_scope

    def report(self) -> dict[str, Any]:
        """``status_overview``, ``status_transitions`` and ``status_transitions_summary``."""
        started: Counter[str] = Counter()
        ended: Counter[str] = Counter()
        gained: Counter[str] = Counter()
        lost: Counter[str] = Counter()
        entered: Counter[str] = Counter()
        left: Counter[str] = Counter()
        pairs: Counter[tuple[Status, str]] = Counter()
        summary: Counter[tuple[Status, str]] = Counter()
        for state in self.leads.values():
            first: Status = state.before
            current = first
            seen: set[tuple[Status, str]] = set()
            for _eid, status in sorted(state.during):
                if status != current:
                    seen.add((current, status))
                    current = status
            if first is not None:
                started[first] += 1
            if current is not None:
                ended[current] += 1
            if current != first:
                if current is not None:
                    gained[current] += 1
                    summary[(first, current)] += 1
                if first is not None:
                    lost[first] += 1
            pairs.update(seen)
            entered.update({to for _frm, to in seen})
            left.update({frm for frm, _to in seen if frm is not None})
        statuses = _ordered(set(started) | set(ended) | set(entered) | set(left))
        overview = []
        for status in statuses:
            change = ended[status] - started[status]
            base = started[status]
            overview.append({
                **_status("status", status),
                "started": started[status],
                "ended": ended[status],
                "change": change,
                "change_percent": round(change * 100 / base, 2) if base else None,
                "gained": gained[status],
                "lost": lost[status],
                "entered": entered[status],
                "left": left[status],
            })  # fmt: skip
        return {
            "leads": len(self.leads),
            "status_overview": overview,
            "status_transitions": _transitions(pairs),
            "status_transitions_summary": _transitions(summary),
        }


def _ordered(statuses: set[str]) -> list[str]:
    known = [s for s in STATUS_ORDER if s in statuses]
    return known + sorted(statuses - set(STATUS_ORDER))


def _rank(status: Status) -> tuple[int, str]:
    if status is None:
        return (-1, "")
    return (STATUS_ORDER.index(status), "") if status in STATUS_ORDER else (99, status)


def _status(prefix: str, status: Status) -> dict[str, Any]:
    """Close's status triple; outcomes are never deleted, and id and label coincide."""
    return {
        f"{prefix}_id": status,
        f"{prefix}_label": status,
        f"{prefix}_is_deleted": None if status is None else False,
    }


def _transitions(counts: Counter[tuple[Status, str]]) -> list[dict[str, Any]]:
    rows = []
    for (frm, to), count in sorted(
        counts.items(), key=lambda kv: (_rank(kv[0][0]), _rank(kv[0][1]))
    ):
        rows.append({**_status("from_status", frm), **_status("to_status", to), "count": count})
    return rows
