"""Render reports as a terminal table, CSV or JSON.

JSON is for scripts: keys sorted, groups in a fixed order, numbers never locale-formatted,
``null`` for undefined ratios. CSV has one row per group and a header; empty cells are
undefined ratios or missing group values. The table is for people: a few groups are shown
as columns (the 34 report columns read down the page), many groups as rows.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from streamer.report.columns import MONEY
from streamer.report.reader import ReadStats, TimeRange
from streamer.settings.services import ResolvedService
from streamer.times import iso

TRANSPOSE_MAX_GROUPS = 8
# These differ run to run: stderr only, so JSON output diffs cleanly.
RUN_ONLY = ("peak_rss_mb", "worker_kb", "scan_cpu_seconds")
_NONE = "(none)"


def to_json(doc: dict[str, Any]) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode() + "\n"


def cell(name: str, value: Any) -> str:
    """One value as the table shows it: "-" for none, rates as percentages."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if name.endswith("-rate"):
            return f"{value * 100:.1f}%"
        if name in MONEY:
            return f"{value:,.2f}"
        return f"{value:g}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _group_label(group: dict[str, Any]) -> str:
    parts = [_NONE if v is None else str(v) for v in group.values()]
    return " / ".join(parts) if parts else "all"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if i >= right_from else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)]) + "\n"


def columns_table(
    rows: list[dict[str, Any]], total: dict[str, Any], columns: list[str], group_by: list[str]
) -> str:
    """The column report for a terminal."""
    if not group_by:
        body = [[name, cell(name, total[name])] for name in columns]
        return _grid(["column", "value"], body, 1)
    if len(rows) <= TRANSPOSE_MAX_GROUPS:
        header = ["column", *(_group_label(r["group"]) for r in rows), "total"]
        body = [
            [name, *(cell(name, r[name]) for r in rows), cell(name, total[name])]
            for name in columns
        ]
        return f"group by: {', '.join(group_by)}\n" + _grid(header, body, 1)
    header = [*group_by, *columns]
    body = [
        [*(_NONE if v is None else str(v) for v in r["group"].values()),
         *(cell(c, r[c]) for c in columns)]
        for r in rows
    ]  # fmt: skip
    body.append(["total", *([""] * (len(group_by) - 1)), *(cell(c, total[c]) for c in columns)])
    return _grid(header, body, len(group_by))


def columns_csv(rows: list[dict[str, Any]], columns: list[str], group_by: list[str]) -> str:
    """One CSV row per group (group fields first); no total row, so sums stay honest."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*group_by, *columns])
    for row in rows:
        values = [*row["group"].values(), *(row[c] for c in columns)]
        writer.writerow(["" if v is None else _csv_value(v) for v in values])
    return buf.getvalue()


def _csv_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_OVERVIEW = ("status_id", "started", "ended", "change", "change_percent",
             "gained", "lost", "entered", "left")  # fmt: skip
_TRANSITION = ("from_status_id", "to_status_id", "count")


def _section_rows(items: list[dict[str, Any]], fields: Sequence[str]) -> list[list[str]]:
    return [["null" if item[f] is None else str(item[f]) for f in fields] for item in items]


def transitions_table(doc: dict[str, Any]) -> str:
    """The transitions report for a terminal: overview, transitions, summary."""
    parts = [f"leads: {doc['leads']}\n", "status overview\n"]
    parts.append(_grid(_OVERVIEW, _section_rows(doc["status_overview"], _OVERVIEW), 1))
    for title, key in (("status transitions", "status_transitions"),
                       ("status transitions summary", "status_transitions_summary")):  # fmt: skip
        parts.append(f"\n{title}\n")
        parts.append(_grid(_TRANSITION, _section_rows(doc[key], _TRANSITION), 2))
    return "".join(parts)


def transitions_csv(doc: dict[str, Any]) -> str:
    """One CSV table: a ``section`` column, then the union of the sections' fields."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["section", *_OVERVIEW, "from_status_id", "to_status_id", "count"])
    blank_t = ["", "", ""]
    for item in doc["status_overview"]:
        cells = ["" if item[f] is None else item[f] for f in _OVERVIEW]
        writer.writerow(["status_overview", *cells, *blank_t])
    for key in ("status_transitions", "status_transitions_summary"):
        for item in doc[key]:
            cells = ["" if item[f] is None else item[f] for f in _TRANSITION]
            writer.writerow([key, *([""] * len(_OVERVIEW)), *cells])
    return buf.getvalue()


def head(service: ResolvedService, rng: TimeRange, stats: ReadStats) -> dict[str, Any]:
    return {
        "service": service.name,
        "prefix": service.prefix,
        "start": iso(rng.start),
        "end": iso(rng.end),
        "stats": {k: v for k, v in sorted(vars(stats).items()) if k not in RUN_ONLY},
    }


def note_empty(stats: ReadStats, service: ResolvedService, rng: TimeRange) -> None:
    if stats.events_in_range:
        return
    what = "no data objects" if not stats.objects_read else "no events"
    print(
        f"streamer report: {what} between {iso(rng.start)} and {iso(rng.end)} in "
        f"{service.label} prefix={service.prefix or '(none)'}; the report is empty",
        file=sys.stderr,
    )


def speed(stats: ReadStats, seconds: float) -> None:
    rate = stats.events_read / seconds if seconds > 0 else 0.0
    cpu = stats.scan_cpu_seconds
    per_cpu = stats.events_read / cpu if cpu > 0 else 0.0
    print(
        f"read {stats.objects_read} objects, {stats.bytes_read / 1e6:.1f} MB, "
        f"{stats.events_read} events in {seconds:.2f}s ({rate:,.0f} events/s), "
        f"{per_cpu:,.0f} per CPU-second of decoding, peak RSS {stats.peak_rss_mb:.0f} MB",
        file=sys.stderr,
    )
