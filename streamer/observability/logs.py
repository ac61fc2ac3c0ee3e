"""structlog set-up: JSON lines (console on a TTY), and a redactor for secrets.

The redactor is the last line of defence: messages are built from names and ids, never
from credential values, but any string that contains a configured secret (API key,
AWS secret, Azure connection string or its AccountKey, hash salt) is masked before a line
is rendered, including formatted tracebacks under ``--debug``.

Third-party libraries log through stdlib ``logging`` (botocore, azure-core, httpx,
aiohttp): a ProcessorFormatter on the root logger renders those records with the same
processors (on stderr), so every line is one schema and passes the redactor. The SDKs are held at
WARNING (at ``debug`` they would log request headers). Retries are logged once, by
:func:`log_retry`, which replaces stamina's default hooks.
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


#: loggers of the SDKs, kept at WARNING or above whatever ``logging.level`` says
SDK_LOGGERS = ("botocore", "aiobotocore", "boto3", "urllib3", "azure", "httpx", "httpcore",
               "aiohttp", "asyncio")


class _StdlibHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler this module installs (found again and replaced on re-configuration)."""


def setup_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog, route stdlib logging through it, and install the retry hook."""
    out = stream or sys.stdout
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    numeric = _LEVELS.get(level, logging.INFO)
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            stamp,
            structlog.processors.format_exc_info,
            _redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Library records go to stderr: stdout may carry a command's data (report --format
    # json, config schema, status --json) and a library's warning must not corrupt it.
    _route_stdlib(stream or sys.stderr, numeric, stamp, renderer)
    _install_retry_hook()


def _route_stdlib(out: TextIO, numeric: int, stamp: Any, renderer: Any) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redactor,
            renderer,
        ],
    )
    handler = _StdlibHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def reset_stdlib_logging(level: int = logging.WARNING) -> None:
    """Undo :func:`_route_stdlib` (tests: the stream it wrote to is gone)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.setLevel(level)
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def log_retry(details: Any) -> None:
    """stamina's on-retry hook: ONE warning per retry, named after the failing component.

    ``component`` and ``kind`` are the error's typed attributes (streamer.errors), e.g.
    ``sink.retry_scheduled`` with ``kind="http_503"``.
    """
    exc = details.caused_by
    component = getattr(exc, "component", "other")
    kind = getattr(exc, "kind", "") or type(exc).__name__
    structlog.get_logger("streamer.retry").warning(
        f"{component}.retry_scheduled",
        kind=kind,
        attempt=details.retry_num,
        wait_seconds=round(details.wait_for, 3),
        waited_seconds=round(details.waited_so_far, 3),
        error=str(exc),
    )


def _install_retry_hook() -> None:
    """Replace stamina's default hooks (a second log line per retry) by :func:`log_retry`.

    Other hooks installed by streamer (the metrics counter) are kept.
    """
    import stamina.instrumentation as si

    ours = [h for h in si.get_on_retry_hooks() if getattr(h, "__module__", "").startswith(
        "streamer.")]
    si.set_on_retry_hooks([log_retry, *(h for h in ours if h is not log_retry)])
