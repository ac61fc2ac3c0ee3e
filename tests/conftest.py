"""Shared fixtures: the anyio backend, the real S3/Azure servers, simulator helpers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from clock import no_backoff as _no_backoff
from servers import *  # noqa: F403 - session fixtures: s3_server, azurite_server and helpers


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only (trio is not installed)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _restore_stdlib_logging() -> Iterator[None]:
    """setup_logging() points the root logger at its stream: undo that after each test."""
    level = logging.getLogger().level
    yield
    from streamer.observability.logs import reset_stdlib_logging

    reset_stdlib_logging(level)


@pytest.fixture
def no_backoff() -> Iterator[None]:
    """Retry backoff waits are zero for this test (see ``clock.no_backoff``)."""
    with _no_backoff():
        yield
