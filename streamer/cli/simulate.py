"""``streamer simulate``: the built-in LeadConduit ``/events`` simulator over HTTP."""

from __future__ import annotations

import argparse

import anyio

from streamer.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's own flags (events, rates, faults, host, port)."""
    from streamer.simulator import add_arguments as simulator_arguments

    simulator_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Serve until stopped; a bad option is a one-line usage error."""
    from streamer.simulator import options_from_args, serve

    try:
        options = options_from_args(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    anyio.run(lambda: serve(options, args.host, args.port))
    return 0
