"""streamer: a self-hosted, filterable, batched, replayable LeadConduit event pipeline."""

from __future__ import annotations

import sys
from functools import cache


def _import_structlog_without_rich() -> None:
    """Import structlog before anything else does, with rich hidden from it.

    structlog imports rich (if installed) only to render console tracebacks prettily:
    ~50 ms of every process's start-up (issue 17 asks for <= 0.5 s CPU). Our logs format
    exceptions with ``format_exc_info`` (plain text, JSON-safe), so nothing is lost;
    rich stays importable for the progress bar (``observability/progress.py``), which
    imports it when it draws.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` -> ImportError
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]


_import_structlog_without_rich()


@cache
def version() -> str:
    """The installed distribution's version: pyproject.toml is its only source.

    Read lazily (importlib.metadata scans site-packages) so that importing ``streamer``
    stays cheap; a source tree that was never installed reports ``0+unknown``.
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("streamer")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> str:
    """``streamer.__version__``, computed on first use (PEP 562)."""
    if name == "__version__":
        return version()
    raise AttributeError(f"module 'streamer' has no attribute {name!r}")
