"""``streamer run -c FILE [--until-caught-up]``: the daemon (SIGHUP reloads the file)."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

import anyio

from streamer.cli.common import configure_logging, load

if TYPE_CHECKING:
    from streamer.settings.loader import LoadedConfig

#: the module ``anyio.run`` imports for its asyncio backend
ASYNCIO_BACKEND = "anyio._backends._asyncio"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer run``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--until-caught-up", action="store_true", help="exit 0 once drained")


def main(args: argparse.Namespace) -> int:
    """Run until stopped; 1 when a second signal or the grace cut the drain short."""
    from streamer.daemon.app import run
    from streamer.observability import gctune

    loaded = load(args)
    preload_modules(loaded)
    gctune.resume()
    progress = args.until_caught_up and sys.stderr.isatty()
    summary = anyio.run(
        lambda: run(
            loaded,
            until_caught_up=args.until_caught_up,
            progress=progress,
            on_reload=lambda new: configure_logging(args, new),
        )
    )
    return 1 if summary.forced else 0


def preload_modules(loaded: LoadedConfig) -> None:
    """Import what the run needs while the collector is still paused (see gctune).

    The enabled services' SDKs, and anyio's asyncio backend (which ``anyio.run`` would
    import with the collector running: ~5-10 ms more of start-up).
    """
    from streamer.sinks.registry import preload

    preload([s.name for s in loaded.services], loaded.settings.checkpoint.store)
    importlib.import_module(ASYNCIO_BACKEND)
