"""What every command shares: the logging flags, loading the config, one-line errors.

Each command module has ``add_arguments(parser)`` and ``main(args) -> int``; it may raise
:class:`~streamer.errors.StreamerError`, which :func:`fail` prints as one line (secrets
masked) and turns into the exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from streamer.errors import ConfigError, StreamerError
from streamer.observability.logs import redact, setup_logging

if TYPE_CHECKING:
    from streamer.settings.loader import LoadedConfig


def add_common(parser: argparse.ArgumentParser) -> None:
    """The flags every sub-command takes."""
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    parser.add_argument("--debug", action="store_true", help="show tracebacks (secrets masked)")


def load(args: argparse.Namespace) -> LoadedConfig:
    """``args.config`` loaded, its secrets registered for masking, its logging applied."""
    from streamer.observability.logs import register_secrets
    from streamer.settings.loader import load_config

    loaded = load_config(args.config)
    register_secrets(loaded.secrets())
    configure_logging(args, loaded)
    return loaded


def configure_logging(args: argparse.Namespace, loaded: LoadedConfig) -> None:
    """The config's logging settings; the command line's flags win."""
    logging_settings = loaded.settings.logging
    setup_logging(
        args.log_level or logging_settings.level, args.log_format or logging_settings.format
    )


class RedactingStderr:
    """stderr for tracebacks (``--debug``): every line masked before it is written."""

    def write(self, text: str) -> int:
        """Write ``text`` with secrets masked."""
        return sys.stderr.write(redact(text))

    def flush(self) -> None:
        """Flush stderr."""
        sys.stderr.flush()


def fail(exc: StreamerError) -> None:
    """Print ``exc`` on stderr: one line, or one per problem of a config with several."""
    if isinstance(exc, ConfigError) and len(exc.problems) == 1:
        print(redact(f"streamer: {exc.problems[0]}"), file=sys.stderr)
    elif isinstance(exc, ConfigError):
        print(redact(f"streamer: config has {len(exc.problems)} problems:"), file=sys.stderr)
        for problem in exc.problems:
            print(redact(f"  {problem}"), file=sys.stderr)
    else:
        print(redact(f"streamer: {exc}"), file=sys.stderr)
