"""LeadConduit's report columns, computed from archived events.

LeadConduit's API names the columns but does not define them, so each is defined here from
event fields (docs/reports.md has the same table, and the tests recompute it by hand):

* an event's *kind*: ``source`` (type source, not a ping), ``ping`` (type source whose
  ``request.uri`` path ends in ``/ping``, or with ``ping: true``), ``recipient``,
  ``return-received`` / ``conversion-received`` (type feedback-received by
  ``vars.feedback.type``), ``return-sent`` / ``conversion-sent`` (type feedback-sent);
  filter and retry events have no kind (a retry repeats a recipient event's fields, so
  counting it would count that delivery twice);
* ``<kind>-success|failure|error``: events of that kind with that outcome;
  ``<kind>-submitted``: their sum, so ``skip`` (the step never called the recipient) is
  in no column;
* ``cost``: the sum of ``cost`` over source and recipient events (what the source was
  paid plus per-step fees); ``revenue``: the sum of ``revenue`` over recipient events;
* ratios are ``null`` when their denominator is 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from streamer.rules.values import strict_number

Event = dict[str, Any]
Counts = dict[str, float]

KINDS = (
    "source",
    "recipient",
    "return-received",
    "return-sent",
    "conversion-received",
    "conversion-sent",
)
OUTCOMES = ("success", "failure", "error")
_COUNTED = frozenset(OUTCOMES)
_FEEDBACK = {"feedback-received": "received", "feedback-sent": "sent"}
_FEEDBACK_TYPES = frozenset({"return", "conversion"})


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _c(name: str) -> Callable[[Counts], float | None]:
    return lambda counts: counts.get(name, 0)


def _submitted(kind: str) -> Callable[[Counts], float | None]:
    return lambda counts: sum(counts.get(f"{kind}-{o}", 0) for o in OUTCOMES)


def _build() -> dict[str, Callable[[Counts], float | None]]:
    cols: dict[str, Callable[[Counts], float | None]] = {}
    for kind in KINDS:
        cols[f"{kind}-submitted"] = _submitted(kind)
        for outcome in OUTCOMES:
            cols[f"{kind}-{outcome}"] = _c(f"{kind}-{outcome}")
    ping_sub = _submitted("ping")
    cols["ping-submitted"] = ping_sub
    cols["ping-success"] = _c("ping-success")
    cols["ping-success-rate"] = lambda c: _ratio(c.get("ping-success", 0), ping_sub(c) or 0)
    cols["ping-win-rate"] = lambda c: _ratio(c.get("source-success", 0), c.get("ping-success", 0))
    cols["cost"] = _c("cost")
    cols["revenue"] = _c("revenue")
    cols["profit"] = lambda c: c.get("revenue", 0) - c.get("cost", 0)
    cols["cost-per-conversion-received-success"] = lambda c: _ratio(
        c.get("cost", 0), c.get("conversion-received-success", 0)
    )
    cols["avg-cost-per-lead"] = lambda c: _ratio(c.get("cost", 0), c.get("source-success", 0))
    cols["avg-revenue-per-lead"] = lambda c: _ratio(c.get("revenue", 0), c.get("source-success", 0))
    return cols


COLUMNS = _build()
"""Column name -> function of a group's counters, in LeadConduit's order (seed 000)."""
MONEY = frozenset({"cost", "revenue", "profit", "cost-per-conversion-received-success",
                   "avg-cost-per-lead", "avg-revenue-per-lead"})  # fmt: skip


def _is_ping(event: Event) -> bool:
    if event.get("ping") is True:
        return True
    request = event.get("request")
    uri = request.get("uri") if isinstance(request, dict) else None
    return isinstance(uri, str) and uri.split("?", 1)[0].rstrip("/").endswith("/ping")


def kind_of(event: Event) -> str | None:
    """The column family an event counts in, or None (filter, retry, unknown types)."""
    type_ = event.get("type")
    if type_ == "source":
        return "ping" if _is_ping(event) else "source"
    if type_ == "recipient":
        return "recipient"
    side = _FEEDBACK.get(type_) if isinstance(type_, str) else None
    if side is None:
        return None
    vars_ = event.get("vars")
    feedback = vars_.get("feedback") if isinstance(vars_, dict) else None
    fb_type = feedback.get("type") if isinstance(feedback, dict) else None
    if isinstance(fb_type, dict):
        fb_type = fb_type.get("normal")
    return f"{fb_type}-{side}" if fb_type in _FEEDBACK_TYPES else None


def money(value: Any) -> float:
    """A price field as a number, parsed as the rules parse money; anything else is 0.

    Numbers, typed ``{normal}`` values, and strings that look like money (``"12.5"``,
    ``"$1,100"``, ``" -3 "``: :func:`streamer.rules.values.strict_number`). ``"NaN"``,
    ``"Infinity"``, ``"1e3"`` and ``"1_000"`` are not money (Python's ``float()`` would
    accept them); non-finite numbers count as 0 too.
    """
    t = type(value)
    if t is float or t is int:
        return float(value) if math.isfinite(value) else 0.0
    if t is dict:
        value = value.get("normal")
    number = strict_number(value) if type(value) is not bool else None
    return number if number is not None and math.isfinite(number) else 0.0


def count_event(counts: Counts, event: Event) -> None:
    """Add one event to a group's counters (the report's hot loop)."""
    kind = kind_of(event)
    if kind is None:
        return
    outcome = event.get("outcome")
    if outcome in _COUNTED:
        key = f"{kind}-{outcome}"
        counts[key] = counts.get(key, 0) + 1
    if kind in ("source", "ping", "recipient"):
        cost = money(event.get("cost"))
        if cost:
            counts["cost"] = counts.get("cost", 0) + cost
        if kind == "recipient":
            revenue = money(event.get("revenue"))
            if revenue:
                counts["revenue"] = counts.get("revenue", 0) + revenue


def compute(counts: Counts, columns: list[str]) -> dict[str, float | None]:
    """The requested columns of one group, rounded so float noise never shows."""
    out: dict[str, float | None] = {}
    for name in columns:
        value = COLUMNS[name](counts)
        if value is not None and (name in MONEY or name.endswith("-rate")):
            value = round(float(value), 6)
        elif value is not None:
            value = int(value)
        out[name] = value
    return out


def parse_columns(specs: list[str] | None) -> list[str]:
    """``--columns a,b --columns c`` -> names, in the given order; ValueError names a typo."""
    if not specs:
        return list(COLUMNS)
    names = [n.strip() for spec in specs for n in spec.split(",") if n.strip()]
    for name in names:
        if name not in COLUMNS:
            import difflib

            near = difflib.get_close_matches(name, COLUMNS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else "; see docs/reports.md"
            raise ValueError(f"--columns: unknown column {name!r}{hint}")
    return list(dict.fromkeys(names))
