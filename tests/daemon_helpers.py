"""Helpers for tests that run the real daemon against the real simulator over HTTP."""

from __future__ import annotations

import collections
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from streamer.pipeline.layout import is_data_key, iter_events
from streamer.settings.loader import LoadedConfig, parse_settings

API_KEY = "test-api-key-0123456789"


def settings_dict(url: str, tmp: Path, **sections: Any) -> dict[str, Any]:
    """A config dict: the simulator at ``url`` into a local directory under ``tmp``."""
    cfg: dict[str, Any] = {
        "source": {
            "base_url": url,
            "api_key": API_KEY,
            "page_size": 500,
            "poll_interval": "0.2s",
            "lag_window": "30s",
            "start": {"after_id": "0" * 24},
        },
        "firehose": {
            "prefix": "lc/events",
            "services": {"local": {"enabled": True, "path": str(tmp / "out"), "fsync": False}},
        },
        "batch": {"max_events": 700, "max_age": "30s", "compression": "gzip"},
        "checkpoint": {"path": str(tmp / "state" / "checkpoint.json")},
        "shutdown": {"grace": "10s"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def loaded_config(url: str, tmp: Path, **sections: Any) -> LoadedConfig:
    """Validated config for the daemon (same path as a YAML file)."""
    return parse_settings(settings_dict(url, tmp, **sections), base=Path())


def archive_ids(root: Path) -> list[str]:
    """Every event id in every data object under ``root``, in file order."""
    ids: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        if is_data_key(key) or key.endswith(".json"):
            ids.extend(e["id"] for e in iter_events(path.read_bytes(), key))
    return ids


def duplicates(ids: list[str]) -> list[str]:
    """Ids that occur more than once."""
    return [i for i, n in collections.Counter(ids).items() if n > 1]


# keeps only the recipient steps (the filter most tests use)
KEEP_RECIPIENTS = {
    "filter": {
        "name": "recipients-only",
        "rule_set": {"op": "and", "rules": [{"lhv": "type", "op": "is equal to",
                                             "rhv": "recipient"}]},
    }
}


def free_port() -> int:
    """A free loopback TCP port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None."""
    import re

    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


@contextlib.asynccontextmanager
async def reaped(proc: anyio.abc.Process) -> AsyncIterator[anyio.abc.Process]:
    """Like ``async with proc``, but a block that failed kills the process instead of
    waiting for it forever (a daemon that never exits must not hang the suite)."""
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        with anyio.CancelScope(shield=True):
            await proc.aclose()
