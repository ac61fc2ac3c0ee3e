"""``streamer match``: run a rule set over JSONL events offline.

Useful to try a filter before deploying it: feed it a sample pulled from the API (or the
simulator) and see which events match and, with ``--explain``, why the others did not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson
import yaml

from streamer.rules import CompiledRuleSet, RuleError, compile_rule_set


def run_match(
    rules_path: str,
    events_path: str | None,
    *,
    explain: bool,
    out: TextIO,
    err: TextIO,
    stdin: BinaryIO | None = None,
) -> int:
    """Print the events of ``events_path`` (or stdin) that match the rule set as JSONL.

    With ``explain``, each event that does not match gets one line ``<id>: <reason>`` on
    ``err`` (matching events are already visible on ``out``). Returns 0 on success, 2 when
    the rules file is unreadable or invalid, 1 on an unreadable events file or a line that
    is not a JSON object.
    """
    try:
        compiled = load_rules(rules_path)
    except (OSError, ValueError) as exc:
        err.write(f"error: {rules_path}: {exc}\n")
        return 2
    name = events_path or "<stdin>"
    try:
        if events_path is None:
            source = stdin if stdin is not None else sys.stdin.buffer
            return _run(compiled, _lines(source), name, explain, out, err)
        with Path(events_path).open("rb") as fh:
            return _run(compiled, _lines(fh), name, explain, out, err)
    except OSError as exc:
        err.write(f"error: {name}: cannot read events: {exc.strerror or exc}\n")
        return 1


def load_rules(path: str) -> CompiledRuleSet:
    """Read and compile a rule set from YAML or JSON.

    Accepted documents: a rule set, a list of rules, ``{rule_set: ...}`` or a pipeline
    stage ``{filter: {rule_set: ...}}`` (its ``action`` is ignored: this shows matches).
    Raises OSError for an unreadable file, RuleError/ValueError for bad content.
    """
    doc, where = load_rule_doc(path)
    return compile_rule_set(doc, path=where)


def load_rule_doc(path: str) -> tuple[Any, str]:
    """The rule set document of a file and its rule path (``load_rules`` without compiling)."""
    data = Path(path).read_bytes()
    try:
        doc: Any = orjson.loads(data) if path.endswith(".json") else yaml.safe_load(data)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"not valid YAML/JSON: {' '.join(str(exc).split())}") from None
    where = "rule_set"
    if isinstance(doc, Mapping) and "filter" in doc and isinstance(doc["filter"], Mapping):
        doc, where = doc["filter"].get("rule_set"), "filter.rule_set"
    elif isinstance(doc, Mapping) and set(doc) == {"rule_set"}:
        doc = doc["rule_set"]
    if not isinstance(doc, Mapping | Sequence) or isinstance(doc, str | bytes):
        raise RuleError(where, "expected a rule set, a list of rules, or {rule_set: ...}")
    return doc, where


def _lines(fh: BinaryIO) -> Iterator[bytes]:
    yield from fh


def _run(
    compiled: CompiledRuleSet,
    lines: Iterator[bytes],
    name: str,
    explain: bool,
    out: TextIO,
    err: TextIO,
) -> int:
    matches = compiled.matches
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            err.write(f"error: {name}:{lineno}: malformed JSON: {exc}\n")
            return 1
        if not isinstance(event, dict):
            err.write(
                f"error: {name}:{lineno}: expected a JSON object, got {type(event).__name__}\n"
            )
            return 1
        if matches(event):
            out.write(orjson.dumps(event).decode())
            out.write("\n")
        elif explain:
            ident = event.get("id") or f"line {lineno}"
            err.write(f"{ident}: {compiled.explain(event)}\n")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``streamer match``."""
    parser.add_argument("rules")
    parser.add_argument("events", nargs="?")
    parser.add_argument("--explain", action="store_true", help="say which rule failed per event")


def main(args: argparse.Namespace) -> int:
    """Print the matching events; see :func:`run_match` for the exit codes."""
    return run_match(args.rules, args.events, explain=args.explain, out=sys.stdout, err=sys.stderr)
