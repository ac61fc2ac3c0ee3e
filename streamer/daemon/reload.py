"""SIGHUP: re-read and re-validate the config; accept it only if the running daemon can apply it.

A reload drains the pipeline and restarts it in-process on the same checkpoint, keeping the
lease and the health server. So what identifies the checkpoint (``checkpoint.*``) and where
the health server listens (``metrics.host``, ``metrics.port``) cannot change without a
restart: such a file is refused like an invalid one, and the daemon keeps the old config.
What changed is reported as dotted key names, never values (secrets stay out of the logs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from streamer.errors import ConfigError, StreamerError
from streamer.settings.loader import LoadedConfig

log = structlog.get_logger("streamer.reload")
RESTART_ONLY = ("checkpoint", "metrics.host", "metrics.port")


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", out)
        out[f"{path}[]"] = len(value)
    else:
        out[path] = value  # SecretStr compares by its value but prints as stars


def changed_keys(old: LoadedConfig, new: LoadedConfig) -> list[str]:
    """Dotted keys whose value differs (``pipeline[0].filter.rule_set.rules[0].rhv``)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(old.settings.model_dump(), "", before)
    _flatten(new.settings.model_dump(), "", after)
    keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    lists = {k[:-2] for k in keys if k.endswith("[]")}
    # a list that changed length is reported once, by its own name
    names = {k[:-2] if k.endswith("[]") else k for k in keys}
    return sorted(k for k in names if not any(k.startswith(f"{name}[") for name in lists))


def _needs_restart(key: str) -> bool:
    return any(key == p or key.startswith((f"{p}.", f"{p}[")) for p in RESTART_ONLY)


def load_new(
    current: LoadedConfig, load: Callable[[], LoadedConfig]
) -> tuple[LoadedConfig, list[str]] | None:
    """The new config and what changed, or None (logged) when it is invalid, unchanged, or
    changes something only a restart can apply."""
    try:
        new = load()
    except ConfigError as exc:
        problems = exc.problems
    except StreamerError as exc:
        problems = [str(exc)]
    else:
        changed = changed_keys(current, new)
        if not changed:
            log.info("config.reload_unchanged", path=str(new.path) if new.path else None)
            return None
        problems = [
            f"{key}: cannot change on reload (the checkpoint, its lease and the health "
            "server stay); restart the daemon to apply it"
            for key in changed
            if _needs_restart(key)
        ]
        if not problems:
            return new, changed
    log.error(
        "config.reload_failed",
        problems=problems,
        hint="still running on the previous config; fix the file and send SIGHUP again",
    )
    return None
