"""Flag values of ``streamer report``: times, the service to read, rule files.

Kept apart from the command so the parsing rules (UTC when no zone, which service is
preferred) are testable without running a report.
"""

from __future__ import annotations

import datetime as dt

from streamer.config_loader import LoadedConfig
from streamer.rules import CompiledRuleSet
from streamer.services import ResolvedService

PREFERENCE = ("local", "aws", "azure")


class UsageError(Exception):
    """Bad flags or flag values: one line on stderr, exit 2."""


def parse_time(text: str, flag: str) -> int:
    """Epoch seconds from ISO 8601 (date or date-time; no zone means UTC) or epoch digits."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag}: {text!r} is not a time; use ISO 8601 like 2026-11-23T14:00:00Z, "
            "a date like 2026-11-23, or epoch seconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


def iso(seconds: int) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pick_service(loaded: LoadedConfig, name: str | None) -> ResolvedService:
    """The service named by ``--from``, or the preferred enabled one."""
    by_name = {s.name: s for s in loaded.services}
    if name is not None:
        if name not in by_name:
            enabled = ", ".join(by_name) or "none"
            raise UsageError(
                f"--from {name}: that service is not enabled in the config (enabled: {enabled})"
            )
        return by_name[name]
    for candidate in PREFERENCE:
        if candidate in by_name:
            return by_name[candidate]
    raise UsageError("the config enables no service to read from")


def load_rule_file(path: str, flag: str) -> CompiledRuleSet:
    """Compile a rules file the way ``streamer match`` does; errors name the file and path."""
    from streamer.match import load_rules

    try:
        return load_rules(path)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # RuleError is a ValueError and carries its rule path
        raise UsageError(f"{flag} {path}: {exc}") from None
