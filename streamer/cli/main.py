"""``streamer`` command line: the parser and the dispatch to one module per command.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config. Errors are one line on
stderr (what, where, what to do); ``--debug`` adds the traceback, with secrets masked.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from streamer.cli.common import RedactingStderr, add_common, fail
from streamer.errors import StreamerError
from streamer.observability import gctune
from streamer.observability.logs import redact, setup_logging

# Every sub-command is a module with add_arguments(parser) and main(args) -> int (it may
# raise StreamerError for a one-line error). Only the chosen command's module is imported,
# so ``streamer run`` does not pay for the report engine or the simulator at start-up.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "streamer.cli.run", "the daemon: tail /events into the sinks (SIGHUP reloads -c)"),
    ("check", "streamer.cli.check", "validate the config (and --connect to test sinks)"),
    ("match", "streamer.cli.match", "offline: print events that match a rule set"),
    ("simulate", "streamer.cli.simulate", "the built-in LeadConduit /events simulator"),
    ("status", "streamer.cli.status", "checkpoint, lag and last batch per sink"),
    ("verify", "streamer.cli.verify", "count events per service; report duplicates and gaps"),
    ("backfill", "streamer.cli.backfill", "fetch a historical time range in parallel slices"),
    ("report", "streamer.cli.report", "LeadConduit report columns from the archive"),
    ("serve", "streamer.cli.serve", "read-only LeadConduit/Close report API over the archive"),
    ("replay", "streamer.cli.replay", "archived events through another config's pipeline"),
    ("config", "streamer.cli.config", "config tools: `config schema` prints its JSON Schema"),
    ("demo", "streamer.cli.demo", "simulator + daemon into ./demo-out, until caught up"),
)
#: commands whose default log level is ``warning``: their output is the point, not the log
QUIET = frozenset({"demo", "check", "status", "match", "verify", "report"})
#: commands that start with the garbage collector paused and resume it themselves once
#: their modules are imported (:func:`streamer.observability.gctune.pause`)
PAUSE_GC = frozenset({"run"})


def _module(name: str) -> Any:
    import importlib

    return importlib.import_module({c: m for c, m, _h in COMMANDS}[name])


class _VersionAction(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        from streamer import version

        print(f"streamer {version()}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All sub-commands; only the named ``command``'s module is imported, for its options.

    Without one (``streamer --help``, ``--version``, a typo) no command module is imported:
    the sub-command list and its help lines come from :data:`COMMANDS` alone.
    """
    parser = argparse.ArgumentParser(prog="streamer", description=__doc__)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, _module_name, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text)
        if command == name:
            _module(name).add_arguments(p)
        add_common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (also used by ``python -m streamer``).

    Without ``argv`` (the ``streamer`` command itself) the process ends here, see
    :func:`_exit_now`; with ``argv`` (tests, embedding) the code is returned.
    """
    if argv is None:
        if _command(sys.argv[1:]) in PAUSE_GC:
            gctune.pause()
        _exit_now(_main(sys.argv[1:]))
    return _main(argv)


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    quiet = args.command in QUIET
    setup_logging(args.log_level or ("warning" if quiet else "info"), args.log_format or "auto")
    try:
        return int(_module(args.command).main(args))
    except StreamerError as exc:
        if args.debug:
            traceback.print_exc(file=RedactingStderr())
        fail(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a bare traceback
        if args.debug:
            traceback.print_exc(file=RedactingStderr())
        print(
            redact(f"streamer: unexpected {type(exc).__name__}: {exc} (run with --debug)"),
            file=sys.stderr,
        )
        return 1


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _exit_now(code: int) -> NoReturn:
    """End the process without tearing the heap down.

    Freeing every module and object at interpreter exit (the cloud SDKs' service models,
    pydantic's schemas...) costs ~0.3 s of CPU after the work is done. Everything that
    matters is finished when a command returns (the checkpoint is saved durably, worker
    threads and processes are joined), so only logging and stdio are flushed first.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
