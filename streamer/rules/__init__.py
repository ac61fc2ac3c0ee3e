"""LeadConduit rule semantics for filtering events: ``streamer.rules``.

Compile once, evaluate many times::

    from streamer.rules import compile_rule_set

    rules = compile_rule_set({"op": "and", "rules": [
        {"lhv": "type", "op": "is equal to", "rhv": "recipient"},
        {"lhv": "lead.state", "op": "is included in", "rhv": "TX,CA"},
    ]})
    rules.matches(event)   # -> bool
    rules.explain(event)   # -> None, or "lead.state is included in 'TX,CA' failed: ..."

Every decision where LeadConduit's documentation is silent is listed in docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from streamer.rules.compiler import CompiledRuleSet, compile_rule_set
from streamer.rules.errors import RuleError
from streamer.rules.operators import OPERATORS

__all__ = ["OPERATORS", "CompiledRuleSet", "RuleError", "compile_rule_set", "matches"]

_CACHE: dict[bytes, CompiledRuleSet] = {}
_CACHE_MAX = 256


def matches(rule_set: Mapping[str, Any] | Sequence[Any], event: Mapping[str, Any]) -> bool:
    """Compile ``rule_set`` (cached by content) and evaluate it against ``event``.

    Convenient for scripts and tests; the pipeline compiles once and calls
    ``CompiledRuleSet.matches`` directly. Raises RuleError for a bad rule set.
    """
    try:
        key = orjson.dumps(rule_set, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return compile_rule_set(rule_set).matches(event)
    compiled = _CACHE.get(key)
    if compiled is None:
        compiled = compile_rule_set(rule_set)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = compiled
    return compiled.matches(event)
