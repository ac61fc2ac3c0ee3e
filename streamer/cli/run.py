"""``streamer run -c FILE [--until-caught-up]``: the daemon (SIGHUP reloads the file)."""

from __future__ import annotations

import argparse
import sys

import anyio

from streamer.cli.common import configure_logging, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer run``."""
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--until-caught-up", action="store_true", help="exit 0 once drained")


def main(args: argparse.Namespace) -> int:
    """Run until stopped; 1 when a second signal or the grace cut the drain short."""
    from streamer.daemon.app import run
    from streamer.observability import gctune
    from streamer.sinks.registry import preload

    loaded = load(args)
    # the enabled services' SDKs load with the collector still paused (see gctune)
    preload([s.name for s in loaded.services], loaded.settings.checkpoint.store)
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
