"""How a simulated lead's steps end: LeadConduit's outcomes with realistic odds and reasons."""

from __future__ import annotations

import random
from typing import Any

from streamer.simulator import _templates as tpl
from streamer.simulator.catalog import Step


def recipient_outcome(rng: random.Random, step: Step, state: str) -> tuple[str, str | None]:
    """Pick a step outcome: deliveries skip when the lead's state is outside the buyer's list."""
    if step.kind == "deliver" and state not in step.rule_set["rules"][0]["rhv"]:
        return "skip", "Recipient criteria not met: lead.state is not included in list"
    roll = rng.random()
    if roll < 0.78:
        return "success", None
    if roll < 0.93:
        return "failure", rng.choice(tpl.FAILURE_REASONS)
    return "error", rng.choice(tpl.ERROR_REASONS)


def source_outcome(
    rng: random.Random, stop_reason: str | None, delivered: list[tuple[Step, dict[str, Any]]]
) -> tuple[str, str | None]:
    """The source event's outcome: rare errors, else success when a buyer took the lead."""
    if rng.random() < 0.01:
        return "error", "Internal error while processing the lead"
    if stop_reason is not None:
        return "failure", stop_reason
    if delivered:
        return "success", None
    return "failure", "No buyer accepted the lead"
