"""The archive as a table: SQL for DuckDB and Trino/Athena that computes the report columns.

``streamer report --sql duckdb|trino`` prints a query equivalent to the report (same
column definitions as ``columns.py``, same range on the id's second), so a question can
move to Athena, Trino or DuckDB when an archive outgrows one machine. The table has the
event fields the columns read (``id``, ``type``, ``outcome`` as text; ``cost``,
``revenue``, ``ping``, ``request``, ``vars`` as JSON text) plus the ``dt``/``hour``
partitions; docs/reports.md has the DDL.

Rules translate when SQL can say exactly what the rule engine does: ``is equal to`` /
``is not equal to`` / ``is included in`` / ``is not included in`` with text that is not
numeric or boolean-like (compared case-insensitively), ``is blank`` / ``is not blank``,
nested ``and``/``or``. Anything else raises :class:`NotExpressible` naming the rule.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from streamer.report.columns import KINDS, MONEY, OUTCOMES

if TYPE_CHECKING:
    from streamer.settings.loader import LoadedConfig
    from streamer.settings.services import ResolvedService

Dialect = Literal["duckdb", "trino"]
TEXT_COLUMNS = ("id", "type", "outcome")
JSON_COLUMNS = ("cost", "revenue", "ping", "request", "vars")
# Other top-level keys of LeadConduit events: a rule path starting with one reads it, not
# vars, so without a table column for it SQL cannot follow the rule engine.
OTHER_TOP_LEVEL = frozenset({"feedback", "firehose", "host", "module_id", "reason", "response",
                             "step_id", "start_timestamp", "end_timestamp", "expires_at", "ms",
                             "wait_ms", "overhead_ms", "lag_ms", "total_ms", "handler_version",
                             "version", "recipient_event_id", "package_version", "step_count",
                             "acceptance_criteria", "appended"})  # fmt: skip
_NUMERICISH = re.compile(r"\s*[-+]?\$?\s*(?:\d[\d,]*\.?\d*|\.\d+)\s*")
_BOOLEANISH = frozenset({"y", "yes", "true", "t", "1", "n", "no", "false", "f", "0"})
_MONEY_RE = r"^\s*[-+]?\$?\s*(\d[\d,]*\.?\d*|\.\d+)\s*$"
_PING_RE = r"^[^?]*/ping/*(\?.*)?$"


class NotExpressible(ValueError):
    """A rule SQL cannot evaluate exactly like the rule engine; names the rule."""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Sql:
    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def extract(self, column: str, path: Sequence[str]) -> str:
        """Text of a JSON column at ``path`` (a typed value's ``normal``)."""
        fn = "json_extract_string" if self.d == "duckdb" else "json_extract_scalar"
        json_path = "$" + "".join(f"[{p}]" if p.isdigit() else f'."{p}"' for p in path)
        normal = json_path + '."normal"'
        return f"COALESCE({fn}({column}, {_lit(normal)}), {fn}({column}, {_lit(json_path)}))"

    def value(self, dotted: str) -> str:
        """An event path as SQL text; rule-style paths fall back to ``vars``."""
        parts = dotted.split(".")
        if parts[0] in TEXT_COLUMNS and len(parts) == 1:
            return parts[0]
        if parts[0] in JSON_COLUMNS and parts[1:]:
            return self.extract(parts[0], parts[1:])
        if parts[0] in JSON_COLUMNS:
            return f"CAST({parts[0]} AS VARCHAR)"
        return self.extract("vars", parts)

    def seconds(self) -> str:
        if self.d == "duckdb":
            return "CAST('0x' || substr(id, 1, 8) AS UBIGINT)"
        return "from_base(substr(id, 1, 8), 16)"

    def matches(self, text: str, pattern: str) -> str:
        fn = "regexp_matches" if self.d == "duckdb" else "regexp_like"
        return f"COALESCE({fn}({text}, {_lit(pattern)}), false)"

    def money(self, column: str) -> str:
        text = self.extract(column, [])
        cleaned = f"replace(replace(replace(replace({text}, '$', ''), ',', ''), ' ', ''), '+', '')"
        return (f"CASE WHEN {self.matches(text, _MONEY_RE)} THEN CAST({cleaned} AS DOUBLE) "
                "ELSE 0 END")  # fmt: skip

    def time_group(self, unit: str) -> str:
        if self.d == "duckdb":
            fmt = "%Y-%m-%d" if unit == "day" else "%Y-%m-%dT%H:00Z"
            return f"strftime(to_timestamp({self.seconds()}), {_lit(fmt)})"
        fmt = "yyyy-MM-dd" if unit == "day" else "yyyy-MM-dd'T'HH':00Z'"
        return f"format_datetime(from_unixtime({self.seconds()}), {_lit(fmt)})"

    def kind(self) -> str:
        fb = self.value("vars.feedback.type")
        ping_flag = "CAST(ping AS VARCHAR) = 'true'"
        uri = self.extract("request", ["uri"])
        return (
            "CASE "
            f"WHEN type = 'source' AND ({ping_flag} OR {self.matches(uri, _PING_RE)}) THEN 'ping' "
            "WHEN type = 'source' THEN 'source' "
            "WHEN type = 'recipient' THEN 'recipient' "
            f"WHEN type = 'feedback-received' AND {fb} IN ('return', 'conversion') "
            f"THEN {fb} || '-received' "
            f"WHEN type = 'feedback-sent' AND {fb} IN ('return', 'conversion') "
            f"THEN {fb} || '-sent' "
            "END"
        )


def _rule(sql: _Sql, obj: Any, where: str) -> str:
    """One rule, rule set or list of rules as a SQL predicate."""
    if isinstance(obj, list):
        return _combine(" AND ", [_rule(sql, r, f"{where}[{i}]") for i, r in enumerate(obj)])
    if "lhv" not in obj:
        mode = str(obj.get("op") or {"any": "or"}.get(str(obj.get("mode")), "and")).lower()
        rules = obj.get("rules") or []
        parts = [_rule(sql, r, f"{where}.rules[{i}]") for i, r in enumerate(rules)]
        return _combine(" OR " if mode == "or" else " AND ", parts)
    op, lhv, rhv = str(obj.get("op", "")).lower().strip(), str(obj["lhv"]), obj.get("rhv")
    label = f"{where} ({lhv} {op})"
    if "{{" in lhv or "rule_set" in obj or (isinstance(rhv, str) and "{{" in rhv):
        raise NotExpressible(f"rule {label}: templates and nested rule_set have no SQL form")
    if lhv.split(".")[0] in OTHER_TOP_LEVEL:
        raise NotExpressible(f"rule {label}: the top-level field {lhv.split('.')[0]!r} is not "
                             "a table column (write vars.… to test the vars copy)")  # fmt: skip
    value = sql.value(lhv)
    if op in ("is blank", "is not blank"):
        blank = f"({value} IS NULL OR trim({value}) = '' OR {value} IN ('[]', '{{}}'))"
        return blank if op == "is blank" else f"NOT {blank}"
    if op in ("is equal to", "is not equal to", "is included in", "is not included in"):
        items = _texts(rhv, op, label)
        inside = f"lower({value}) IN ({', '.join(_lit(t.lower()) for t in items)})"
        if op in ("is equal to", "is included in"):
            return f"COALESCE({inside}, false)"
        return f"NOT COALESCE({inside}, false)"
    raise NotExpressible(f"rule {label}: operator {op!r} has no exact SQL form here")


def _texts(rhv: Any, op: str, label: str) -> list[str]:
    from streamer.rules.values import split_csv

    if isinstance(rhv, str):
        items = split_csv(rhv) if "included" in op else [rhv]
    elif isinstance(rhv, list) and all(isinstance(i, str) for i in rhv) and "included" in op:
        items = list(rhv)
    else:
        raise NotExpressible(f"rule {label}: only text right-hand values translate to SQL")
    for item in items:
        if _NUMERICISH.fullmatch(item) or re.sub(r"[^a-z0-9]", "", item.lower()) in _BOOLEANISH:
            raise NotExpressible(
                f"rule {label}: {item!r} compares as a number or boolean in the rule engine"
            )
    return items


def _combine(joiner: str, parts: list[str]) -> str:
    if not parts:
        return "true"
    return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"


def _column_exprs(columns: list[str]) -> list[str]:
    """Derived columns over the aggregated counters ``c``."""

    def ratio(num: str, den: str) -> str:
        return f"CASE WHEN {den} = 0 THEN NULL ELSE CAST({num} AS DOUBLE) / {den} END"

    defs: dict[str, str] = {}
    for kind in (*KINDS, "ping"):
        outcomes = [_quote(f"{kind}-{o}") for o in OUTCOMES]
        defs[f"{kind}-submitted"] = " + ".join(outcomes)
        for o in OUTCOMES:
            defs[f"{kind}-{o}"] = _quote(f"{kind}-{o}")
    defs["ping-success-rate"] = ratio('"ping-success"', f"({defs['ping-submitted']})")
    defs["ping-win-rate"] = ratio('"source-success"', '"ping-success"')
    defs["cost"], defs["revenue"], defs["profit"] = "cost", "revenue", "revenue - cost"
    defs["cost-per-conversion-received-success"] = ratio("cost", '"conversion-received-success"')
    defs["avg-cost-per-lead"] = ratio("cost", '"source-success"')
    defs["avg-revenue-per-lead"] = ratio("revenue", '"source-success"')
    out = []
    for name in columns:
        expr = defs[name]
        if name in MONEY or name.endswith("-rate"):
            expr = f"round({expr}, 6)"
        out.append(f"{expr} AS {_quote(name)}")
    return out


def _partition_filter(start: float, end: float, extra_hours: int) -> str:
    low = dt.datetime.fromtimestamp(start - extra_hours * 3600, tz=dt.UTC).strftime("%Y-%m-%d")
    high = dt.datetime.fromtimestamp(end, tz=dt.UTC).strftime("%Y-%m-%d")
    return f"dt BETWEEN {_lit(low)} AND {_lit(high)}"


def columns_sql(
    dialect: Dialect,
    table: str,
    start: float,
    end: float,
    group_by: list[str],
    columns: list[str],
    rules: Any = None,
    *,
    extra_hours: int = 1,
) -> str:
    """A query for the columns report over ``table``; NotExpressible names a rule."""
    sql = _Sql(dialect)
    where = [
        _partition_filter(start, end, extra_hours),
        f"{sql.seconds()} >= {start!r}",
        f"{sql.seconds()} < {end!r}",
    ]
    if rules:
        where.append(_rule(sql, rules, "rules"))
    groups = [sql.time_group(g) if g in ("day", "hour") else sql.value(g) for g in group_by]
    inner = [f"{expr} AS g{i}" for i, expr in enumerate(groups)]
    inner += [f"{sql.kind()} AS kind", "outcome", f"{sql.money('cost')} AS cost_n",
              f"{sql.money('revenue')} AS revenue_n"]  # fmt: skip
    counters = [
        f"SUM(CASE WHEN kind = {_lit(k)} AND outcome = {_lit(o)} THEN 1 ELSE 0 END) "
        f"AS {_quote(f'{k}-{o}')}"
        for k in (*KINDS, "ping")
        for o in OUTCOMES
    ]
    counters += [
        "SUM(CASE WHEN kind IN ('source', 'ping', 'recipient') THEN cost_n ELSE 0 END) AS cost",
        "SUM(CASE WHEN kind = 'recipient' THEN revenue_n ELSE 0 END) AS revenue",
    ]
    keys = [f"g{i}" for i in range(len(group_by))]
    group_clause = f"\n  GROUP BY {', '.join(keys)}" if keys else ""
    outer = [f"g{i} AS {_quote(name)}" for i, name in enumerate(group_by)]
    outer += _column_exprs(columns)
    order = f"\nORDER BY {', '.join(keys)} NULLS LAST" if keys else ""
    # Every value in the text is a _lit()-quoted literal or a fixed identifier.
    return (
        "WITH e AS (\n  SELECT " + ",\n    ".join(inner) + f"\n  FROM {table}\n  WHERE "  # noqa: S608
        + "\n    AND ".join(where) + "\n), c AS (\n  SELECT " + ",\n    ".join([*keys, *counters])
        + "\n  FROM e" + group_clause + "\n)\nSELECT " + ",\n  ".join(outer) + "\nFROM c"
        + order + ";\n"
    )  # fmt: skip


def duckdb_view(path_glob: str, name: str = "leadconduit_events") -> str:
    """A DuckDB view over a local or ``s3://`` archive: declared columns, Hive partitions."""
    cols = ", ".join(
        [f"{c}: 'VARCHAR'" for c in TEXT_COLUMNS] + [f"{c}: 'JSON'" for c in JSON_COLUMNS]
    )
    return (
        f"CREATE OR REPLACE VIEW {name} AS\nSELECT * FROM read_json({_lit(path_glob)},\n"
        "  format = 'newline_delimited', hive_partitioning = true, union_by_name = true,\n"
        f"  columns = {{{cols}}});\n"
    )


def report_sql(
    dialect: str,
    loaded: LoadedConfig,
    service: ResolvedService,
    span: tuple[float, float],
    group_by: list[str],
    columns: list[str],
    rules: str | None,
) -> str:
    """``--sql``: the DuckDB view and query for ``service``, or the Trino/Athena query."""
    import orjson

    from streamer.report.reader import extra_hours_for

    if loaded.settings.layout != "batched":
        raise NotExpressible("the per_event layout has no dt=/hour= table; use layout: batched")
    extra = extra_hours_for(loaded.settings.source.lag_window)
    doc = orjson.loads(rules) if rules else None
    query = columns_sql("trino" if dialect == "trino" else "duckdb", "leadconduit_events",
                        span[0], span[1], group_by, columns, doc, extra_hours=extra)  # fmt: skip
    if dialect == "trino":
        return "-- table: leadconduit_events (DDL in docs/reports.md)\n" + query
    from streamer.sinks.registry import entry

    scheme = entry(service.name).scheme
    base = "/".join(p for p in (service.bucket.rstrip("/"), service.prefix.strip("/")) if p)
    return duckdb_view(f"{scheme}{base}/dt=*/hour=*/*.jsonl*") + "\n" + query
