"""Helpers for the report tests: write archives with the real batcher and sink, and
recompute the report columns by hand (plain loops, no report code) to compare against."""

from __future__ import annotations

import collections
import io
import json
from collections.abc import Callable, Iterable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import anyio
import yaml

from streamer.cli.main import main as cli_main
from streamer.pipeline.batcher import Batcher, static_router
from streamer.sinks.local import LocalSink

PREFIX = "lc/events"


def write_archive(
    root: Path,
    events: Iterable[dict[str, Any]],
    *,
    compression: str = "gzip",
    layout: str = "batched",
    max_events: int = 400,
) -> None:
    """Batch ``events`` in id order exactly as the daemon does and put them under ``root``."""

    async def build() -> None:
        sink = LocalSink(root, fsync=False)
        await sink.open()
        batcher = Batcher(
            router=static_router([("local", PREFIX)]),
            layout=layout,
            compression=compression,
            max_events=max_events,
        )

        async def flush() -> None:
            batch = batcher.seal()
            for obj in batch.objects if batch else ():
                for _sink, key in obj.targets:
                    await sink.put(key, obj.data, obj.meta)

        for event in sorted(events, key=lambda e: e["id"]):
            if batcher.crosses_hour(event["id"]) or batcher.full():
                await flush()
            batcher.add(event["id"], event)
        await flush()

    anyio.run(build)


def write_config(tmp: Path, root: Path, *, layout: str = "batched") -> Path:
    """A config whose only service is the local directory ``root``."""
    cfg = {
        "source": {"base_url": "http://127.0.0.1:9", "api_key": "k", "lag_window": "30s"},
        "firehose": {"prefix": PREFIX, "services": {"local": {"enabled": True, "path": str(root)}}},
        "layout": layout,
        "checkpoint": {"path": str(tmp / "state" / "ck.json")},
    }
    path = tmp / "streamer.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``streamer <argv>`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def report_json(*argv: str) -> dict[str, Any]:
    """``streamer report ... --format json`` parsed; fails the test on a non-zero exit."""
    code, out, err = run_cli("report", *argv, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def id_time(event: dict[str, Any]) -> int:
    """The event's creation second, straight from the first 8 hex digits of its id."""
    return int(event["id"][:8], 16)


def expected_columns(
    events: Iterable[dict[str, Any]],
    start: int,
    end: int,
    key: Callable[[dict[str, Any]], Any] = lambda e: "all",
) -> dict[Any, dict[str, Any]]:
    """The documented column definitions (docs/reports.md), computed with plain loops."""
    raw: dict[Any, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    money: dict[Any, dict[str, float]] = collections.defaultdict(
        lambda: {"cost": 0.0, "revenue": 0.0}
    )
    for ev in events:
        if not start <= id_time(ev) < end:
            continue
        group = key(ev)
        counts = raw[group]
        _ = money[group]  # the group exists even when it earns nothing
        family = None
        if ev["type"] == "source":
            uri = (ev.get("request") or {}).get("uri", "")
            family = "ping" if uri.endswith("/ping") else "source"
        elif ev["type"] == "recipient":
            family = "recipient"
        elif ev["type"] in ("feedback-received", "feedback-sent"):
            family = ev["vars"]["feedback"]["type"] + ev["type"][len("feedback") :]
        if family and ev["outcome"] in ("success", "failure", "error"):
            counts[f"{family}-{ev['outcome']}"] += 1
            counts[f"{family}-submitted"] += 1
        if ev["type"] in ("source", "recipient"):
            money[group]["cost"] += ev.get("cost") or 0
        if ev["type"] == "recipient":
            money[group]["revenue"] += ev.get("revenue") or 0
    out = {}
    for group, counts in raw.items():
        row: dict[str, Any] = {}
        for fam in ("source", "recipient", "return-received", "return-sent",
                    "conversion-received", "conversion-sent"):  # fmt: skip
            for what in ("submitted", "success", "failure", "error"):
                row[f"{fam}-{what}"] = counts[f"{fam}-{what}"]
        row["ping-submitted"] = counts["ping-submitted"]
        row["ping-success"] = counts["ping-success"]
        row["ping-success-rate"] = (
            counts["ping-success"] / counts["ping-submitted"] if counts["ping-submitted"] else None
        )
        row["ping-win-rate"] = (
            counts["source-success"] / counts["ping-success"] if counts["ping-success"] else None
        )
        cost, revenue = money[group]["cost"], money[group]["revenue"]
        row["cost"], row["revenue"], row["profit"] = cost, revenue, revenue - cost
        conv = counts["conversion-received-success"]
        row["cost-per-conversion-received-success"] = cost / conv if conv else None
        leads = counts["source-success"]
        row["avg-cost-per-lead"] = cost / leads if leads else None
        row["avg-revenue-per-lead"] = revenue / leads if leads else None
        out[group] = row
    return out


def assert_row(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every column equal (money and ratios to 1e-6, as the report rounds to 6 places)."""
    for name, want in expected.items():
        got = actual[name]
        if want is None or isinstance(want, int):
            assert got == want, f"{name}: {got!r} != {want!r}"
        else:
            assert got is not None, f"{name}: None != {want!r}"
            assert abs(got - want) < 1e-4, f"{name}: {got!r} != {want!r}"
