"""``streamer report``: LeadConduit report columns and lead outcome transitions, from the archive.

``streamer report -c FILE --start T1 --end T2 [--group-by F ...] [--rules R] [--columns C]``
``streamer report transitions -c FILE --start T1 --end T2 [--type T] [--recipient-id X]
[--scope R]``

Exit codes: 0 report printed (an empty range prints an empty report and says so on
stderr: "nothing happened" is an answer, not a failure), 1 the archive could not be read,
2 bad usage (T1 >= T2, unknown column or group-by field, bad rules file).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import anyio
import orjson

from streamer.report import render
from streamer.report.columns import parse_columns
from streamer.report.html import page as html_page
from streamer.report.options import (
    PREFERENCE,
    UsageError,
    chart_columns,
    columns_flags,
    emit,
    load_rule_file,
    parse_time,
    pick_service,
    read_options,
    saved_report,
    transitions_flags,
)
from streamer.report.reader import TimeRange
from streamer.report.run import columns_report, leadconduit_report, read
from streamer.report.scan import Spec, consumer_for
from streamer.report.transitions import TransitionTracker
from streamer.settings.loader import LoadedConfig, load_config
from streamer.settings.services import ResolvedService
from streamer.settings.units import parse_duration
from streamer.times import iso

#: rows, total, columns, group-by fields: what every form of the columns report shows
Table = tuple[list[dict[str, Any]], dict[str, Any], list[str], list[str]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer report`` (and of its ``transitions`` form)."""
    parser.add_argument(
        "what",
        nargs="?",
        choices=["columns", "transitions"],
        default="columns",
        help="columns (default): LeadConduit report columns; transitions: lead outcome transitions",
    )
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument(
        "--start",
        required=True,
        help="ISO 8601 time or date (UTC if no zone), or epoch seconds or ms; inclusive",
    )
    parser.add_argument("--end", required=True, help="same forms as --start; exclusive")
    parser.add_argument(
        "--from",
        dest="service",
        choices=list(PREFERENCE),
        help="which enabled service to read (default: local, then aws, azure)",
    )
    parser.add_argument(
        "--format",
        choices=["table", "csv", "json", "leadconduit", "html"],
        default="table",
        help="leadconduit: the Report array of LeadConduit's GET /reports/{id}/run; "
        "html: one self-contained page (chart over time + table)",
    )
    parser.add_argument("--output", "-o", help="write the report to this file (default: stdout)")
    parser.add_argument("--json", action="store_const", const="json", dest="format")
    parser.add_argument("--concurrency", type=int, default=16, help="objects fetched at once")
    parser.add_argument(
        "--max-mb",
        type=float,
        default=32.0,
        help="compressed MB of objects in flight (default 32; one larger object runs alone)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes decoding large objects (default: one per CPU, at most 4; 0: none)",
    )
    columns_flags(parser.add_argument_group("columns report"))
    transitions_flags(parser.add_argument_group("transitions report"))


def main(args: argparse.Namespace) -> int:
    """Run the report; one-line errors on stderr."""
    import logging

    # asyncio's child watcher may warn "Unknown child process pid ..." when the decode
    # workers exit at shutdown (they were already reaped); harmless, and not for users.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    try:
        return _main(args)
    except UsageError as exc:
        print(f"streamer report: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    start = parse_time(args.start, "--start")
    end = parse_time(args.end, "--end")
    if start >= end:
        raise UsageError(f"--start {iso(start)} must be before --end {iso(end)}")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if args.what == "transitions":
        if args.format in ("leadconduit", "html") or args.sql or args.chart_columns:
            raise UsageError(
                "--format leadconduit|html, --sql and --chart-columns are for the columns "
                "report; transitions print table, csv or json (Close's shape)"
            )
        if args.group_by or args.rules or args.columns or args.name:
            raise UsageError(
                "--group-by, --rules, --columns and --name are for the columns report; "
                "transitions take --scope, --type, --recipient-id"
            )
        return _transitions(args, start, end)
    if args.scope or args.types or args.recipient_id or args.lookback != "all":
        raise UsageError(
            "--scope, --type, --recipient-id and --lookback are for 'streamer report transitions'"
        )
    return _columns(args, start, end)


def _columns(args: argparse.Namespace, start: float, end: float) -> int:
    loaded = load_config(args.config)
    saved = saved_report(args, loaded)
    try:
        columns = parse_columns(args.columns if saved is None else saved.columns)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if saved is not None:
        rules, group_by = saved.rules_json(), list(saved.group_by)
    else:
        rules = load_rule_file(args.rules, "--rules") if args.rules else None
        group_by = list(args.group_by)
    service = pick_service(loaded, args.service)
    if args.sql:
        return _sql(args.sql, loaded, service, (start, end), (group_by, columns, rules))
    rng = TimeRange(start, end)
    unit = args.chart_by or ("hour" if end - start <= 3 * 86400 else "day")
    run_by = [unit, *group_by] if args.format == "html" else group_by
    chart = chart_columns(args) if args.format == "html" else []
    began = time.monotonic()
    agg, stats = anyio.run(
        lambda: columns_report(loaded, service, rng, run_by, rules, read_options(args))
    )
    seconds = time.monotonic() - began
    if args.format == "html":
        over_time, agg = agg.project([0]), agg.project(list(range(1, len(run_by))))
    if agg.unseen and stats.events_in_range:
        name = sorted(agg.unseen)[0]
        raise UsageError(
            f"--group-by {name}: no event in the range has this field "
            "(use a dotted event path like vars.flow.id, or day / hour)"
        )
    render.note_empty(stats, service, rng)
    table: Table = (agg.rows(columns), agg.total(columns), columns, group_by)
    if args.format == "html":
        series = [(r["group"][unit], r) for r in over_time.rows(chart)]
        title = saved.name if saved else "streamer report"
        meta = (f"{iso(start)} to {iso(end)} (end exclusive) · {service.label} · "
                f"{stats.events_in_range:,} events · by {unit}")  # fmt: skip
        emit(args, html_page(title, meta, series, chart, table))
    elif args.format == "leadconduit":
        rule_doc = orjson.loads(rules) if rules else None
        doc = leadconduit_report(saved, *table, rule_doc)
        sys.stdout.write(orjson.dumps([doc], option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _plain(args.format, table, render.head(service, rng, stats), agg.events_counted)
        if args.format == "table":
            render.speed(stats, seconds)
    return 0


def _plain(fmt: str, table: Table, head: dict[str, Any], counted: int) -> None:
    """The json, csv and table forms of the columns report, on stdout."""
    rows, total, columns, group_by = table
    if fmt == "json":
        doc = head | {
            "report": "columns",
            "group_by": group_by,
            "columns": columns,
            "rows": rows,
            "total": total,
            "events_counted": counted,
        }
        sys.stdout.write(render.to_json(doc))
    elif fmt == "csv":
        sys.stdout.write(render.columns_csv(rows, columns, group_by))
    else:
        sys.stdout.write(render.columns_table(rows, total, columns, group_by))


def _sql(
    dialect: str,
    loaded: LoadedConfig,
    service: ResolvedService,
    span: tuple[float, float],
    query: tuple[list[str], list[str], str | None],
) -> int:
    """``--sql``: the report as SQL over the archive table, not run."""
    from streamer.report.sql import NotExpressible, report_sql

    try:
        text = report_sql(dialect, loaded, service, span, *query)  # group-by, columns, rules
    except NotExpressible as exc:
        raise UsageError(f"--sql: {exc}; run the report without --sql") from None
    sys.stdout.write(text)
    return 0


def _transitions(args: argparse.Namespace, start: float, end: float) -> int:
    rules = load_rule_file(args.scope, "--scope") if args.scope else None
    if args.lookback == "all":
        read_from: float = 0
    else:
        try:
            read_from = max(0, start - int(parse_duration(args.lookback)))
        except ValueError as exc:
            raise UsageError(f"--lookback: {exc}") from None
    loaded = load_config(args.config)
    service = pick_service(loaded, args.service)
    spec = Spec("transitions", read_from, end, (), rules, start, tuple(args.types),
                args.recipient_id)  # fmt: skip
    tracker = consumer_for(spec)
    assert isinstance(tracker, TransitionTracker)
    began = time.monotonic()
    rng = TimeRange(start, end)
    options = read_options(args)
    stats = anyio.run(
        lambda: read(loaded, service, TimeRange(read_from, end), rng, spec, tracker, options)
    )
    seconds = time.monotonic() - began
    render.note_empty(stats, service, rng)
    doc = tracker.report()
    if args.format == "json":
        scope_doc = {
            "types": sorted(args.types),
            "recipient_id": args.recipient_id,
            "rules": args.scope,
            "lookback": args.lookback,
        }
        extra = {"report": "transitions", "scope": scope_doc}
        sys.stdout.write(render.to_json(render.head(service, rng, stats) | doc | extra))
    elif args.format == "csv":
        sys.stdout.write(render.transitions_csv(doc))
    else:
        sys.stdout.write(render.transitions_table(doc))
        render.speed(stats, seconds)
    return 0
