"""Decode one archive object into *partial* events and feed them to a report, in a worker.

A report reads a handful of fields of events that are ~3 KB each, so building whole
dicts (the old reader: ~30 µs and ~10 KB of Python objects per event) was the cost. Here
an object is decompressed as a stream (isal ``igzip`` / ``zstandard``) one ~1 MB chunk at
a time, each chunk's complete lines are decoded in *one* msgspec call into dicts that
hold only the paths the report needs (columns, group-by fields, rule paths), and the
chunk is dropped before the next. Memory per object is a chunk, whatever its size.

The work is CPU-bound and msgspec holds the GIL, so large objects run in worker
processes (``anyio.to_process``): everything here is picklable, each worker compiles
the spec's rules once, and returns only the report's *state* (counters per group, or
per-lead statuses) for the parent to merge.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import io
import os
import resource
import time
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

import msgspec
import orjson

from streamer.errors import FatalError
from streamer.ids import ID_RE

CHUNK = 1 << 20
_ANY_JSON = (str, int, float, bool, type(None), list[Any])
_full = msgspec.json.Decoder()
COLUMN_PATHS = ("id", "type", "outcome", "cost", "revenue", "ping", "request.uri",
                "vars.feedback.type")  # fmt: skip
TRANSITION_PATHS = ("id", "type", "outcome", "vars.lead.id", "vars.recipient.id")


class ArchiveError(FatalError):
    """An object that cannot be decoded: names the object and line; exit 1."""


@dataclass(frozen=True, slots=True)
class Spec:
    """What a worker computes for an object: picklable and hashable (rules as JSON text)."""

    kind: Literal["columns", "transitions"]
    start: float
    end: float
    group_by: tuple[str, ...] = ()
    rules: str | None = None
    report_start: float = 0.0
    types: tuple[str, ...] = ()
    recipient_id: str | None = None


class Consumer(Protocol):
    """A report's accumulator: events in, mergeable state out."""

    def add(self, events: list[dict[str, Any]]) -> None: ...
    def state(self) -> Any: ...
    def merge(self, state: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Result:
    """One object's share of a report."""

    events_read: int
    events_in_range: int
    state: Any
    peak_rss_kb: int = 0
    cpu_seconds: float = 0.0
    pid: int = 0


def _tree(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for parts in sorted(paths, key=len):
        node: dict[str, Any] | None = tree
        for i, seg in enumerate(parts):
            if node is None:
                break
            if i == len(parts) - 1 or parts[i + 1].isdigit():
                node[seg] = None  # the whole value from here down
                break
            node = node.setdefault(seg, {})
    return tree


def _typed(tree: dict[str, Any], name: str) -> Any:
    fields: dict[str, Any] = {}
    for i, (key, sub) in enumerate(tree.items()):
        fields[key] = Any if sub is None else typing.Union[_typed(sub, f"{name}_{i}"), *_ANY_JSON]
    return TypedDict(name, fields, total=False)  # type: ignore[operator]


def spec_paths(spec: Spec) -> set[tuple[str, ...]]:
    """Every event path the spec reads."""
    from streamer.rules.paths import rule_paths, split_path

    base = COLUMN_PATHS if spec.kind == "columns" else TRANSITION_PATHS
    paths = {tuple(p.split(".")) for p in base}
    for name in spec.group_by:
        if name not in ("day", "hour"):
            parts = split_path(name)
            paths.add(parts if parts else tuple(name.split(".")))
    if spec.rules is not None:
        paths |= rule_paths(orjson.loads(spec.rules))
    return paths


@functools.lru_cache(maxsize=8)
def _decoders(spec: Spec) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    root = _typed(_tree(spec_paths(spec)), "ReportEvent")
    return msgspec.json.Decoder(list[root]), msgspec.json.Decoder(root)  # type: ignore[valid-type]



def consumer_for(spec: Spec) -> Consumer:
    """A fresh accumulator for ``spec`` (rules compiled once per process)."""
    rules = _compiled(spec.rules) if spec.rules is not None else None
    if spec.kind == "columns":
        from streamer.report.aggregate import Aggregator

        return Aggregator(list(spec.group_by), rules)
    from streamer.report.transitions import Scope, TransitionTracker

    scope = Scope(frozenset(spec.types), spec.recipient_id, rules)
    return TransitionTracker(spec.report_start, spec.end, scope)


@functools.lru_cache(maxsize=8)
def _compiled(rules: str) -> Any:
    from streamer.rules import compile_rule_set

    return compile_rule_set(orjson.loads(rules))


def _chunks(source: bytes | str, key: str) -> Iterator[bytes]:
    """Decompressed bytes of an object (bytes, or a local file path), ~1 MB at a time."""
    raw: typing.BinaryIO = open(source, "rb") if isinstance(source, str) else io.BytesIO(source)  # noqa: SIM115
    with raw:
        stream: typing.BinaryIO
        if key.endswith(".gz"):
            from isal import igzip

            stream = igzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[no-untyped-call,assignment]
        elif key.endswith(".zst"):
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw)
        else:
            stream = raw
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk


def _lines(source: bytes | str, key: str) -> Iterator[bytes | memoryview]:
    """Runs of complete JSONL lines (no trailing newline), mostly zero-copy views.

    Each chunk is cut at its first and last newline: the line straddling two chunks is
    joined (one short copy) and the middle is handed on as a view of the chunk.
    """
    pending = b""
    for chunk in _chunks(source, key):
        first = chunk.find(b"\n")
        if first < 0:
            pending += chunk
            continue
        head = pending + chunk[:first]
        if head.strip():
            yield head
        last = chunk.rfind(b"\n")
        if last > first:
            yield memoryview(chunk)[first + 1 : last]
        pending = chunk[last + 1 :]
    if pending.strip():
        yield pending


def lines_of(source: bytes | str, key: str) -> Iterator[bytes]:
    """Runs of complete lines of a batched object (see ``_lines``), for replay."""
    return (bytes(run) for run in _lines(source, key))


def _decode_run(run: bytes | memoryview, key: str, spec: Spec) -> tuple[int, list[dict[str, Any]]]:
    """``(lines, event dicts)`` of a run of lines; one msgspec call when all is well."""
    _many, one = _decoders(spec)
    try:
        events: list[dict[str, Any]] = one.decode_lines(run)
        return len(events), events
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass  # a bad or non-object line: find it line by line
    count, out = 0, []
    for number, line in enumerate(bytes(run).split(b"\n"), 1):
        if not line.strip():
            continue
        count += 1
        try:
            out.append(one.decode(line))
        except msgspec.ValidationError:
            continue  # valid JSON but not an event object: no id, never counted
        except msgspec.DecodeError:
            raise ArchiveError(
                f"object {key}: a line near line {number} of a chunk is not valid JSON; "
                "the object is corrupt (restore it or delete it and replay that hour)"
            ) from None
    return count, out


def _in_range(events: list[dict[str, Any]], start: float, end: float) -> list[dict[str, Any]]:
    """Events whose id is a valid id (24 hex digits) of a second in ``[start, end)``."""
    kept = []
    for event in events:
        eid = event.get("id")
        if type(eid) is str and len(eid) == 24:
            try:
                sec = int(eid[:8], 16)
            except ValueError:
                continue
            if start <= sec < end and ID_RE.match(eid):
                kept.append(event)
    return kept


def scan(source: bytes | str, key: str, spec: Spec) -> Result:
    """Read one object (its bytes, or a local file's path) into a report state.

    Decoded events are acyclic trees freed by reference counting; with the cyclic GC on,
    every chunk's thousands of new dicts trigger collections that walk them all again,
    which costs more than the decoding. Restored on the way out.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    began = time.process_time()
    try:
        result = _scan(source, key, spec)
        return dataclasses.replace(result, cpu_seconds=time.process_time() - began)
    finally:
        if was_enabled:
            gc.enable()


def _scan(source: bytes | str, key: str, spec: Spec) -> Result:
    consumer = consumer_for(spec)
    read = in_range = 0
    if key.endswith(".json"):
        data = Path(source).read_bytes() if isinstance(source, str) else source
        try:
            runs = [(1, [_decoders(spec)[1].decode(data)])]
        except msgspec.ValidationError:
            runs = [(1, [])]
        except msgspec.DecodeError:
            raise ArchiveError(f"object {key}: not valid JSON; the object is corrupt") from None
    else:
        runs = (_decode_run(run, key, spec) for run in _lines(source, key))  # type: ignore[assignment]
    for lines, events in runs:
        read += lines
        kept = _in_range(events, spec.start, spec.end)
        in_range += len(kept)
        if kept:
            consumer.add(kept)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return Result(read, in_range, consumer.state(), peak, pid=os.getpid())
