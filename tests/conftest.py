"""Shared fixtures: the anyio backend, the real S3/Azure servers, simulator helpers."""

from __future__ import annotations

import pytest
from servers import *  # noqa: F403 - session fixtures: s3_server, azurite_server and helpers


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only (trio is not installed)."""
    return "asyncio"
