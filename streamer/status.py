"""Placeholder for ``streamer status`` (being written)."""

from __future__ import annotations

from typing import Any


async def print_status(loaded: Any, *, as_json: bool) -> int:
    """Not implemented yet."""
    print("not implemented yet")
    return 1
