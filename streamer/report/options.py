"""Flag values of ``streamer report``: times, the service to read, rule files.

Kept apart from the command so the parsing rules (UTC when no zone, which service is
preferred) are testable without running a report.
"""

from __future__ import annotations

import argparse
import sys

from streamer import times
from streamer.report.columns import parse_columns
from streamer.report.run import ReadOptions
from streamer.report.settings import SavedReport, find
from streamer.settings.loader import LoadedConfig
from streamer.settings.services import ResolvedService
from streamer.sinks import registry

PREFERENCE = registry.preference()


class UsageError(Exception):
    """Bad flags or flag values: one line on stderr, exit 2."""


def parse_time(text: str, flag: str) -> float:
    """:func:`streamer.times.parse_time`, a bad value being a usage error (exit 2)."""
    try:
        return times.parse_time(text, flag)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def pick_service(loaded: LoadedConfig, name: str | None) -> ResolvedService:
    """The service named by ``--from``, or the preferred enabled one."""
    by_name = {s.name: s for s in loaded.services}
    if name is not None:
        if name not in by_name:
            enabled = ", ".join(by_name) or "none"
            raise UsageError(
                f"--from {name}: that service is not enabled in the config (enabled: {enabled})"
            )
        return by_name[name]
    for candidate in PREFERENCE:
        if candidate in by_name:
            return by_name[candidate]
    raise UsageError("the config enables no service to read from")


def load_rule_file(path: str, flag: str) -> str:
    """A rules file as canonical JSON text, compiled once to validate it like ``match``.

    Text rather than a compiled rule set because the report's worker processes compile
    their own copy. Errors name the file and the rule path.
    """
    import orjson

    from streamer.cli.match import load_rule_doc
    from streamer.rules import compile_rule_set

    try:
        doc, where = load_rule_doc(path)
        compile_rule_set(doc, path=where)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # RuleError is a ValueError and carries its rule path
        raise UsageError(f"{flag} {path}: {exc}") from None
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def chart_columns(args: argparse.Namespace) -> list[str]:
    """``--chart-columns`` parsed (default: submitted, source and recipient success)."""
    specs = args.chart_columns or ["source-submitted,source-success,recipient-success"]
    try:
        return parse_columns(specs)
    except ValueError as exc:
        raise UsageError(str(exc).replace("--columns", "--chart-columns")) from None


def emit(args: argparse.Namespace, text: str) -> None:
    """To ``--output`` (written whole, 0600, then renamed into place) or stdout."""
    if not args.output:
        sys.stdout.write(text)
        return
    from pathlib import Path

    from streamer.fsutil import write_private

    path = Path(args.output)
    # grouped values can be lead data (an email, a phone): 0600 like the archive
    write_private(path, text.encode("utf-8"), fsync=False)
    print(f"streamer report: wrote {path}", file=sys.stderr)


def saved_report(args: argparse.Namespace, loaded: LoadedConfig) -> SavedReport | None:
    """The saved report named by ``--name`` (by name, id or token), or None."""
    if args.name is None:
        return None
    if args.group_by or args.rules or args.columns:
        raise UsageError("--name runs a saved report: drop --group-by, --rules and --columns")
    report = find(list(loaded.settings.reports), args.name)
    if report is None:
        known = ", ".join(r.name for r in loaded.settings.reports) or "none"
        raise UsageError(f"--name {args.name}: no such report in the config (reports: {known})")
    return report


def read_options(args: argparse.Namespace) -> ReadOptions:
    """How many objects and bytes are read at once, and by how many worker processes."""
    return ReadOptions(args.concurrency, int(args.max_mb * 1e6), args.workers)


def transitions_flags(trans: argparse._ArgumentGroup) -> None:
    """Flags of ``streamer report transitions``."""
    trans.add_argument("--scope", help="rule set selecting the events that set a lead's status")
    trans.add_argument(
        "--type",
        action="append",
        default=[],
        dest="types",
        help="event types that set a lead's status (repeatable)",
    )
    trans.add_argument("--recipient-id", help="only events of this vars.recipient.id")
    trans.add_argument(
        "--lookback",
        default="all",
        help="how far before --start to look for "
        "each lead's starting status: a duration (30d) or 'all' (default)",
    )


def columns_flags(group: argparse._ArgumentGroup) -> None:
    """Flags of the columns report (and its html and sql forms)."""
    group.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="FIELD",
        help="dotted event field, or day / hour of the event id (repeatable)",
    )
    group.add_argument("--rules", help="count only events matching this rule set (YAML/JSON)")
    group.add_argument("--name", help="run the saved report of this name, id or token")
    group.add_argument(
        "--chart-by",
        choices=["day", "hour"],
        help="html: chart buckets (default: hour up to 3 days, else day)",
    )
    group.add_argument(
        "--chart-columns",
        action="append",
        metavar="A,B",
        help="html: columns to chart (default: source-submitted,source-success,"
        "recipient-success)",
    )
    group.add_argument(
        "--sql",
        choices=["duckdb", "trino"],
        help="print the report as SQL over the archive table instead of running it",
    )
    group.add_argument(
        "--columns",
        action="append",
        metavar="A,B",
        help="columns to show, comma-separated (default: all)",
    )
