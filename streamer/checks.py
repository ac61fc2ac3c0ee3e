"""Placeholder for ``check --connect`` (being written)."""

from __future__ import annotations

from typing import Any


async def connect_all(loaded: Any) -> list[tuple[str, bool, str]]:
    """Not implemented yet."""
    return [("all", False, "not implemented yet")]
