"""streamer: a self-hosted, filterable, batched, replayable LeadConduit event pipeline."""

from __future__ import annotations

from functools import cache


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
