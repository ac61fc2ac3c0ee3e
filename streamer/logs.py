"""structlog set-up: JSON lines (console on a TTY), and a redactor for secrets.

The redactor is the last line of defence: messages are built from names and ids, never
from credential values, but any string that contains a configured secret (API key,
AWS secret, Azure connection string or its AccountKey, hash salt) is masked before a line
is rendered, including formatted tracebacks under ``--debug``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}
MASK = "***"
_secrets: list[str] = []


def register_secrets(values: Iterable[str]) -> None:
    """Add values (and their notable parts) that must never be printed."""
    for value in values:
        if not value or len(value) < 4:
            continue
        parts = [value]
        parts += re.findall(r"(?:AccountKey|SharedAccessSignature|sig)=([^;&]+)", value)
        for part in parts:
            if part not in _secrets:
                _secrets.append(part)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every registered secret masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value


def _redactor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    if not _secrets:
        return event_dict
    return {k: _redact_value(v) for k, v in event_dict.items()}


def setup_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog once for the process."""
    out = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            _redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
