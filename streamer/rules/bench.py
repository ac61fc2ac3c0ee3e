"""Micro-benchmark of rule evaluation: ``python -m streamer.rules.bench``.

Not a test: timing depends on the machine. It exists so a change to the engine can be
checked against the budget (the pipeline must sustain >= 25,000 events/s end to end, so a
typical filter must evaluate in a few microseconds).
"""

from __future__ import annotations

import time
from typing import Any

from streamer.rules.compiler import compile_rule_set

RULE_SET: dict[str, Any] = {
    "op": "and",
    "rules": [
        {"lhv": "type", "op": "is equal to", "rhv": "recipient"},
        {"lhv": "outcome", "op": "is not equal to", "rhv": "error"},
        {"lhv": "lead.state", "op": "is included in", "rhv": "TX,CA,NY,FL"},
        {"lhv": "vars.lead.email", "op": "does not include", "rhv": "@example.com"},
        {"lhv": "lead.loan_amount", "op": "is between", "rhv": "10000-500000"},
    ],
}

EVENT: dict[str, Any] = {
    "id": "5fd4371e940df5a34a3888b2",
    "type": "recipient",
    "outcome": "success",
    "reason": None,
    "vars": {
        "lead": {
            "state": {"normal": "TX", "raw": "tx", "name": "Texas", "valid": True},
            "email": {"normal": "bob@gmail.com", "raw": "Bob@Gmail.com", "valid": True},
            "loan_amount": {"normal": 250000, "raw": "$250,000", "valid": True},
            "first_name": "Bob",
        },
        "flow": {"id": "5fd4371e940df5a34a3888b3", "name": "Mortgage"},
    },
}


def bench(n: int = 100_000) -> float:
    """Evaluate ``RULE_SET`` against ``EVENT`` ``n`` times; return evaluations per second."""
    matches = compile_rule_set(RULE_SET).matches
    assert matches(EVENT), "the benchmark event must pass every rule"
    start = time.perf_counter()
    for _ in range(n):
        matches(EVENT)
    return n / (time.perf_counter() - start)


if __name__ == "__main__":  # pragma: no cover
    print(f"{bench():,.0f} evaluations/s")
