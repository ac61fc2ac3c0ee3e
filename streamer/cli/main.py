"""``streamer`` command line: run, check, match, simulate, status, demo.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import anyio

from streamer.errors import ConfigError, StreamerError
from streamer.observability.logs import redact, setup_logging


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "json", "console"], default=None)
    parser.add_argument("--debug", action="store_true", help="show tracebacks (secrets masked)")


# Sub-commands that live in their own module: each has add_arguments(parser) and
# main(args) -> int (and may raise StreamerError for one-line errors).
PLUGGED: tuple[tuple[str, str, str], ...] = (
    ("verify", "streamer.cli.verify", "count events per service; report duplicates and gaps"),
    ("backfill", "streamer.pipeline.backfill", "fetch a historical time range in parallel slices"),
    ("report", "streamer.report.cli", "LeadConduit report columns from the archive"),
    ("serve", "streamer.report.api", "read-only LeadConduit/Close report API over the archive"),
    ("replay", "streamer.pipeline.replay", "run archived events through another config's pipeline"),
    ("config", "streamer.cli.config", "config tools: `config schema` prints its JSON Schema"),
)


def _plugged(module: str) -> Any:
    import importlib

    return importlib.import_module(module)


class _VersionAction(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        from streamer import version

        print(f"streamer {version()}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All sub-commands; with ``command``, only its module is imported for its options.

    Each sub-command module imports what it needs (verify and backfill pull in the cloud
    SDKs), so ``streamer run`` does not pay for the others at start-up.
    """
    parser = argparse.ArgumentParser(prog="streamer", description=__doc__)
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run", help="the daemon: tail /events into the configured sinks (SIGHUP reloads -c)"
    )
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--until-caught-up", action="store_true", help="exit 0 once drained")
    _common(p)

    p = sub.add_parser("check", help="validate the config (and --connect to test sinks)")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--connect", action="store_true", help="verify API key and write-test sinks")
    _common(p)

    p = sub.add_parser("match", help="offline: print events that match a rule set")
    p.add_argument("rules")
    p.add_argument("events", nargs="?")
    p.add_argument("--explain", action="store_true", help="say which rule failed per event")
    _common(p)

    p = sub.add_parser("simulate", help="the built-in LeadConduit /events simulator")
    if command in (None, "simulate"):
        from streamer.simulator import add_arguments

        add_arguments(p)
    _common(p)

    p = sub.add_parser("status", help="checkpoint, lag and last batch per sink")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--json", action="store_true")
    _common(p)

    for name, module, help_text in PLUGGED:
        p = sub.add_parser(name, help=help_text)
        if command in (None, name):
            _plugged(module).add_arguments(p)
        _common(p)

    p = sub.add_parser("demo", help="simulator + daemon into ./demo-out, until caught up")
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--out", default="./demo-out")
    p.add_argument("-c", "--config", default=None, help="default: the packaged demo config")
    p.add_argument(
        "--keep", action="store_true",
        help="continue from the previous run in --out (default: start clean)",
    )
    _common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (also used by ``python -m streamer``).

    Without ``argv`` (the ``streamer`` command itself) the process ends here, see
    :func:`_exit_now`; with ``argv`` (tests, embedding) the code is returned.
    """
    if argv is None:
        _exit_now(_main(sys.argv[1:]))
    return _main(argv)


def _main(argv: Sequence[str]) -> int:
    argv = list(argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": cmd_run,
        "check": cmd_check,
        "match": cmd_match,
        "simulate": cmd_simulate,
        "status": cmd_status,
        "demo": cmd_demo,
    }
    for name, module, _help in PLUGGED:
        if name == args.command:
            handlers[name] = _plugged(module).main
    quiet = args.command in ("demo", "check", "status", "match", "verify", "report")
    setup_logging(args.log_level or ("warning" if quiet else "info"), args.log_format or "auto")
    try:
        return handlers[args.command](args)
    except StreamerError as exc:
        if args.debug:
            traceback.print_exc(file=_RedactingStderr())
        _fail(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a bare traceback
        if args.debug:
            traceback.print_exc(file=_RedactingStderr())
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


class _RedactingStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(redact(text))

    def flush(self) -> None:
        sys.stderr.flush()


def _fail(exc: StreamerError) -> None:
    if isinstance(exc, ConfigError) and len(exc.problems) == 1:
        print(redact(f"streamer: {exc.problems[0]}"), file=sys.stderr)
    elif isinstance(exc, ConfigError):
        print(redact(f"streamer: config has {len(exc.problems)} problems:"), file=sys.stderr)
        for problem in exc.problems:
            print(redact(f"  {problem}"), file=sys.stderr)
    else:
        print(redact(f"streamer: {exc}"), file=sys.stderr)


def _load(args: argparse.Namespace) -> Any:
    from streamer.observability.logs import register_secrets
    from streamer.settings.loader import load_config

    loaded = load_config(args.config)
    register_secrets(loaded.secrets())
    _configure_logging(args, loaded)
    return loaded


def _configure_logging(args: argparse.Namespace, loaded: Any) -> None:
    """The config's logging settings; the command line's flags win."""
    logging_settings = loaded.settings.logging
    setup_logging(
        args.log_level or logging_settings.level, args.log_format or logging_settings.format
    )


def cmd_run(args: argparse.Namespace) -> int:
    """``streamer run``."""
    from streamer.daemon.app import run

    loaded = _load(args)
    progress = args.until_caught_up and sys.stderr.isatty()
    summary = anyio.run(
        lambda: run(
            loaded,
            until_caught_up=args.until_caught_up,
            progress=progress,
            on_reload=lambda new: _configure_logging(args, new),
        )
    )
    return 1 if summary.forced else 0


def cmd_check(args: argparse.Namespace) -> int:
    """``streamer check``: config problems exit 2; ``--connect`` failures exit 1."""
    loaded = _load(args)
    print(f"config ok: {args.config}")
    for service in loaded.services:
        print(f"  service {service.label} prefix={service.prefix or '(none)'}")
    if loaded.warnings:
        print(f"warnings ({len(loaded.warnings)}):")
        for warning in loaded.warnings:
            print(redact(f"  {warning}"))
    if not args.connect:
        return 0
    from streamer.cli.check import connect_all

    results = anyio.run(connect_all, loaded)
    ok = True
    for name, good, message in results:
        ok &= good
        print(redact(f"  {'ok  ' if good else 'FAIL'} {name}: {message}"))
    return 0 if ok else 1


def cmd_match(args: argparse.Namespace) -> int:
    """``streamer match``."""
    from streamer.cli.match import run_match

    return run_match(args.rules, args.events, explain=args.explain, out=sys.stdout, err=sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> int:
    """``streamer simulate``."""
    from streamer.simulator import options_from_args, serve

    try:
        options = options_from_args(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    anyio.run(lambda: serve(options, args.host, args.port))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``streamer status``."""
    from streamer.cli.status import print_status

    loaded = _load(args)
    return anyio.run(lambda: print_status(loaded, as_json=args.json))


def cmd_demo(args: argparse.Namespace) -> int:
    """``streamer demo``: the README's first command, end to end on the embedded default."""
    from streamer.cli.demo import run_demo

    config = Path(args.config) if args.config else Path(__file__).parent / "demo.yaml"
    os.environ.setdefault("STREAMER_DEMO_OUT", args.out)
    return anyio.run(
        lambda: run_demo(
            config, events=args.events, out=Path(args.out), keep=args.keep,
            own_config=args.config is not None,
        )
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
