"""Deterministic, realistic LeadConduit events.

Each simulated lead runs through one flow: every step produces a recipient or filter event,
then the source event is recorded (it was minted at submission, so it has the lead's lowest
id but is written last). Some leads later get feedback (return/conversion) and retries.
Ids come from a few simulated handler hosts at one-second resolution, so ids minted within
the same second do not sort in creation order, exactly as on LeadConduit.

Speed matters (benchmarks generate a million events), so events are built from literals and
share read-only sub-objects (the lead's typed fields, the flow's firehose config, appended
namespaces) rather than deep-copying them. Treat generated events as read-only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from streamer.simulator import _templates as tpl
from streamer.simulator.catalog import ACCOUNT, FLOWS, Flow, Step
from streamer.simulator.ids import make_id
from streamer.simulator.lead import make_lead
from streamer.simulator.outcomes import recipient_outcome, source_outcome

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

__all__ = ["EventFactory", "generate_events", "iter_events"]

DEFAULT_RATE = 10.0
"""Backlog events per second of simulated history when no span is given."""

HOST_COUNT = 4
_T = TypeVar("_T")
_FLOW_WEIGHTS = (5, 3, 2)
_RETURN_REASONS = ("Bad phone", "Duplicate", "Not interested")


class _FastRandom(random.Random):
    """`random.Random` with float-based `randrange`/`choice`.

    The stdlib versions are exact but run several Python-level calls each; generation draws
    dozens per event. A bias of about 2**-53 is irrelevant for test data.
    """

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def choice(self, seq: SupportsLenAndGetItem[_T]) -> _T:
        return seq[int(self.random() * len(seq))]


@dataclass(slots=True)
class _Walk:
    """One lead on its way through a flow: what is fixed, and what the steps add up."""

    start: float
    host: int
    lead_id: str
    mapped_json: str
    base_vars: dict[str, Any]
    appended: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[tuple[Step, dict[str, Any]]] = field(default_factory=list)
    errored: list[tuple[Step, dict[str, Any], float]] = field(default_factory=list)
    stop_reason: str | None = None
    steps: int = 0


class EventFactory:
    """Mints the events of one lead at a time from a seeded random stream.

    The factory is stateful (random stream, per-host counters), so one instance produces
    the backlog and then the live events, and the same seed always yields the same events
    for the same sequence of lead start times.
    """

    def __init__(self, seed: int) -> None:
        self._rng = _FastRandom(seed)
        rng = self._rng
        self._hosts = [
            (f"handler-{rng.getrandbits(16):04x}.leadconduit.internal", rng.randbytes(5))
            for _ in range(HOST_COUNT)
        ]
        self._counters = [rng.getrandbits(24) for _ in range(HOST_COUNT)]

    def _mint(self, ts: float, host: int) -> str:
        self._counters[host] += 1
        return make_id(int(ts), self._hosts[host][1], self._counters[host])

    def lead(self, start: float, *, until: float | None = None) -> list[dict[str, Any]]:
        """Return the events of one lead submitted at `start`, in creation order.

        Events that would be created after `until` are left out: they have not happened
        yet (a recent lead's feedback, say). The source event is always kept. The random
        draws happen in a fixed order (the same seed must yield the same events), which
        the helpers below keep.
        """
        rng = self._rng
        flow = rng.choices(FLOWS, _FLOW_WEIGHTS)[0]
        source = rng.choice(flow.sources)
        host = rng.randrange(HOST_COUNT)
        lead_id = self._mint(start, host)
        source_id = self._mint(start, host)
        lead, form = make_lead(rng, lead_id)
        form_json = orjson.dumps(form).decode()
        mapped = {"first_name": form["first_name"], "email": form["email"],
                  "phone": form["phone_1"]}  # fmt: skip
        ip = ".".join(str(rng.randrange(1, 223)) for _ in range(4))
        base_vars: dict[str, Any] = {
            "lead": lead,
            "submission": {"timestamp": tpl.iso_ms(start), "ip": ip},
            "account": ACCOUNT,
            "flow": {"id": flow.id, "name": flow.name},
            "source": {"id": source.id, "name": source.name},
        }
        walk = _Walk(start, host, lead_id, orjson.dumps(mapped).decode(), base_vars)
        t = self._walk_steps(walk, flow, start + rng.uniform(0.005, 0.05), until)
        final_vars = {**base_vars, **walk.appended}
        ev = tpl.source_event(
            source_id, start, t, self._hosts[host][0], flow, source, final_vars, walk.appended,
            form_json, lead_id, source_outcome(rng, walk.stop_reason, walk.delivered),
            walk.steps, rng,
        )  # fmt: skip
        events = walk.events
        events.append(ev)
        extra = self._follow_ups(walk, t, flow, final_vars)
        events.extend(e for e in extra if until is None or e["start_timestamp"] <= until * 1000)
        return events

    def _walk_steps(self, walk: _Walk, flow: Flow, t: float, until: float | None) -> float:
        """Run the lead through the flow's steps from time `t`; return when the flow ended.

        A filter stops the flow when the step it looks at did not succeed. (One loop, not a
        helper per step: generation speed matters to the benchmarks.)
        """
        rng = self._rng
        host_name = self._hosts[walk.host][0]
        appended, events = walk.appended, walk.events
        state = walk.base_vars["lead"]["state"]["normal"]
        for step in flow.steps:
            walk.steps += 1
            ms = rng.randrange(40, 1800) if step.kind != "filter" else rng.randrange(1, 4)
            eid = self._mint(t, walk.host)
            vars_ = {**walk.base_vars, **appended, "recipient": {"id": step.id, "name": step.name}}
            common = tpl.common(eid, t, ms, walk.start, host_name, flow, vars_, rng)
            if step.kind == "filter":
                prior = appended.get(step.rule_set["rules"][0]["lhv"].split(".")[0], {})
                stop = prior.get("outcome") != "success"
                outcome = prior.get("outcome")
                reason = f"{step.name}: upstream outcome was {outcome}" if stop else None
                ev = tpl.filter_event(common, step, "stop" if stop else "continue", reason)
                if stop:
                    walk.stop_reason = reason
            else:
                vars_["event_id"] = eid
                outcome, reason = recipient_outcome(rng, step, state)
                ev = tpl.recipient_event(
                    common, step, outcome, reason, walk.lead_id, walk.mapped_json, rng
                )
                if step.kind == "deliver":
                    vars_["price"] = step.price
                    if outcome == "success":
                        walk.delivered.append((step, ev))
                    elif outcome == "error":
                        walk.errored.append((step, ev, t + ms / 1000))
                if outcome != "skip":
                    appended[step.key] = tpl.appended_namespace(step, outcome, reason, rng)
            if until is None or t <= until:
                events.append(ev)
            t += ms / 1000 + rng.uniform(0.002, 0.02)
            if walk.stop_reason is not None:
                break
        return t

    def _follow_ups(
        self, walk: _Walk, t: float, flow: Flow, final_vars: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Retries of errored deliveries, then perhaps feedback on one delivered step."""
        rng = self._rng
        extra: list[dict[str, Any]] = []
        for step, rev, err_t in walk.errored:
            if rng.random() < 0.6:
                extra.extend(self._retry(step, rev, err_t, walk.start, walk.host, flow, final_vars))
        if walk.delivered and rng.random() < 0.12:
            step, rev = rng.choice(walk.delivered)
            extra.extend(self._feedback(step, rev, t, walk.start, flow, final_vars))
        return extra

    def _retry(
        self, step: Step, rev: dict[str, Any], err_t: float, start: float, host: int,
        flow: Flow, vars_: dict[str, Any],
    ) -> list[dict[str, Any]]:  # fmt: skip
        rng = self._rng
        t = err_t + rng.uniform(2.0, 30.0)
        out = []
        for status in ("started", "completed"):
            eid = self._mint(t, host)
            ms = rng.randrange(40, 900)
            common = tpl.common(eid, t, ms, start, self._hosts[host][0], flow,
                                {**vars_, "event_id": eid}, rng)  # fmt: skip
            outcome = "success" if status == "completed" and rng.random() < 0.7 else "error"
            out.append(tpl.retry_event(common, rev, status, outcome))
            t += ms / 1000
        return out

    def _feedback(
        self, step: Step, rev: dict[str, Any], t: float, start: float, flow: Flow,
        vars_: dict[str, Any],
    ) -> list[dict[str, Any]]:  # fmt: skip
        rng = self._rng
        host = rng.randrange(HOST_COUNT)
        kind = "return" if rng.random() < 0.6 else "conversion"
        t += rng.uniform(5.0, 60.0)
        feedback = {
            "type": kind,
            "timestamp": tpl.iso_ms(t),
            "reason": rng.choice(_RETURN_REASONS) if kind == "return" else None,
        }  # fmt: skip
        out = []
        for type_ in ("feedback-received", "feedback-sent"):
            eid = self._mint(t, host)
            ms = rng.randrange(20, 400)
            fvars = {**vars_, "recipient": rev["vars"]["recipient"], "feedback": feedback}
            common = tpl.common(eid, t, ms, start, self._hosts[host][0], flow, fvars, rng)
            out.append(tpl.feedback_event(common, type_, step, rev["id"], kind))
            t += ms / 1000 + 0.01
        return out

    def backlog(
        self, count: int, *, end_ts: float | None = None, span_seconds: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield exactly `count` events of leads submitted within `span_seconds` before `end_ts`.

        Leads start evenly in proportion to the events produced so far, so the event rate
        is steady over the span; nothing is created after `end_ts`.
        """
        if count <= 0:
            return
        end = time.time() - 1 if end_ts is None else end_ts
        span = count / DEFAULT_RATE if span_seconds is None else span_seconds
        t0 = end - span
        produced = 0
        while produced < count:
            start = min(t0 + produced * span / count, end)
            for ev in self.lead(start, until=end):
                yield ev
                produced += 1
                if produced == count:
                    return


def iter_events(
    count: int, *, seed: int, end_ts: float | None = None, span_seconds: float | None = None
) -> Iterator[dict[str, Any]]:
    """Lazily yield `count` events (lead by lead, not sorted by id); see `generate_events`."""
    return EventFactory(seed).backlog(count, end_ts=end_ts, span_seconds=span_seconds)


def generate_events(
    count: int, *, seed: int, end_ts: float | None = None, span_seconds: float | None = None
) -> list[dict[str, Any]]:
    """Return `count` events deterministic for `(seed, end_ts, span_seconds)`.

    Events come lead by lead in creation order, not sorted by id (sort by `"id"` to get
    the API's order). `end_ts` defaults to one second ago and `span_seconds` to
    `count / 10` (ten events per second of history).
    """
    return list(iter_events(count, seed=seed, end_ts=end_ts, span_seconds=span_seconds))


def serialize(event: dict[str, Any]) -> bytes:
    """Serialize an event the way the server stores and sends it."""
    return orjson.dumps(event)
